/**
 * One request on its way through the stages: the request and its response, who is
 * calling, the runtime snapshot read once when it arrived (a reload meanwhile does not
 * change it), the canonical target to forward, and the headers the answer will carry.
 *
 * @example
 * const ex: Exchange = { req, res, caller, runtime, target: '/', upgrade: undefined, headers: {} };
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Runtime } from '../runtime.ts';
import type { Caller } from './identify.ts';

export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly caller: Caller;
  readonly runtime: Runtime;
  /** The canonical target: what is forwarded, never `req.url` (set by admit). */
  target: string;
  /** For an `Upgrade` request: the raw socket and first bytes the tunnel takes over. */
  readonly upgrade: { readonly socket: Duplex; readonly head: Buffer } | undefined;
  /** Response headers gathered on the way (RateLimit, warning, delay). */
  readonly headers: Record<string, string>;
  /**
   * Set by admit when the limits for this request are in shadow mode (policy, plan or
   * route `mode: shadow`): what they decide is recorded, never done.
   */
  shadow?: boolean;
  /** Request headers never forwarded, when more than the runtime's (a stripped credential). */
  strip?: ReadonlySet<string>;
  /** Query parameters that carried the credential: removed from the target once admitted. */
  stripQuery?: readonly string[];
}
