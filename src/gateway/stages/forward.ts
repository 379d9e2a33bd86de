/**
 * Stage 4, forward: the request goes to the upstream on its canonical target, with who
 * is calling set in the identity headers and the forwarding headers (forwarded-headers.ts;
 * every client copy of those, and of the headers frameworks read as the real path or
 * method, stripped), the client's Host kept unless `server.preserveHost` is off, and
 * upstream URLs in the answer moved to the public origin; an `Upgrade` becomes a tunnel. When the upstream has answered, the account's slot is given back, and
 * 401/403 and malformed-request answers are reported to the safeguards.
 *
 * @example
 * const forward = createForward(deps);
 * forward(ex, () => releaseSlot(accountId));
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Subject } from '../../core/records.ts';
import type { ObservationKind } from '../../core/safeguard/index.ts';
import { forwardingHeaders } from '../forwarded-headers.ts';
import type { GatewayLogger } from '../logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { UpstreamProxy } from '../upstream-proxy.ts';
import type { Exchange } from './exchange.ts';

/** What a WebSocket tunnel needs to connect an admitted upgrade to the upstream. */
export interface TunnelRequest {
  readonly req: IncomingMessage;
  readonly target: string;
  readonly socket: Duplex;
  readonly head: Buffer;
  /** Headers sluice sets (identity, forwarding). */
  readonly set: Record<string, string>;
  /** Request headers never forwarded. */
  readonly strip: ReadonlySet<string>;
  /** How long connecting to the upstream may take (ms). */
  readonly connectTimeoutMs: number;
  /** Called once when the tunnel ends. */
  closed(): void;
}

export interface ForwardDeps {
  proxy: UpstreamProxy;
  logger: GatewayLogger;
  metrics: GatewayMetrics;
  /** Reports behaviour to the safeguards. */
  observe(kind: ObservationKind, subject: Subject, arrivedAt?: number): void;
  /** Connects an admitted upgrade (WebSocket) to the upstream. */
  tunnel(request: TunnelRequest): void;
}

/** Forwards; `release` gives back the account's slot once the request is done. */
export type ForwardStage = (ex: Exchange, release: (() => void) | undefined) => void;

/** Upstream answers that mean the request itself was malformed (a storm of them is a safeguard rule). */
const MALFORMED = new Set([400, 404, 405, 406, 411, 413, 414, 415, 422, 431]);

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/** `2xx` for 204: a label with five values, not one per status. */
function statusClass(status: number): string {
  return STATUS_CLASSES[Math.floor(status / 100) - 1] ?? 'other';
}

export function createForward(deps: ForwardDeps): ForwardStage {
  // One child per status class, made once: prom-client hashes a label set on every
  // `inc({ class })`, a child's `inc()` does not.
  const responses = new Map<string, { inc(): void }>();
  const responsesOf = (cls: string) => {
    let child = responses.get(cls);
    if (child === undefined) {
      child = deps.metrics.upstreamResponses.labels({ class: cls });
      responses.set(cls, child);
    }
    return child;
  };
  // The histogram's bound observer, made once (prom-client makes one per `observe`).
  const upstreamSeconds = deps.metrics.upstreamSeconds.labels();
  return function forward(ex, release) {
    const { req, res, caller, runtime } = ex;
    const ids = runtime.identityNames;
    const server = runtime.policy.server;
    const fwd = forwardingHeaders(req.socket.remoteAddress, req.headers, runtime.trusted);
    // A fresh object per request: sluice's other headers are added to it, not to a copy.
    const set = fwd.headers;
    if (caller.account !== undefined) set[ids.account] = caller.account.id;
    if (caller.subject.keyId !== undefined) set[ids.key] = caller.subject.keyId;
    // Without preserveHost (or with a Host that is not one), the upstream's own is sent.
    if (server.preserveHost && fwd.host !== undefined) set.host = fwd.host;
    deps.metrics.forwarded.inc();
    if (ex.upgrade !== undefined) {
      res.detachSocket(ex.upgrade.socket as Socket);
      deps.tunnel({
        req,
        target: ex.target,
        socket: ex.upgrade.socket,
        head: ex.upgrade.head,
        set,
        strip: ex.strip ?? runtime.strip,
        connectTimeoutMs: runtime.policy.server.upstreamTimeoutMs,
        closed: () => release?.(),
      });
      return;
    }
    const started = performance.now();
    deps.proxy.forward(req, res, {
      target: ex.target,
      set,
      strip: ex.strip ?? runtime.strip,
      responseHeaders: ex.headers,
      publicUrl: server.publicUrl ?? fwd.publicOrigin,
      done(outcome) {
        release?.();
        const failed = outcome.error !== undefined && outcome.error !== 'client-gone';
        responsesOf(failed ? 'failed' : statusClass(outcome.status)).inc();
        upstreamSeconds.observe((performance.now() - started) / 1000);
        if (outcome.status === 401 || outcome.status === 403)
          deps.observe('auth-failure', caller.subject);
        else if (MALFORMED.has(outcome.status)) deps.observe('malformed-4xx', caller.subject);
        if (failed) {
          deps.logger.warn(
            { event: 'upstream-failure', error: outcome.error, ...caller.subject },
            'upstream failed',
          );
        }
      },
    });
  };
}
