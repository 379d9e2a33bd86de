/**
 * The request path, as stages that run in order, each one file in stages/ with one job:
 *
 *   1. identify  stages/credential.ts the credential (two different ones: 400), the
 *                                    delegate's answer about a key sluice does not know
 *                stages/identify.ts  who is calling (IP, key, account, plan), or why the
 *                                    caller is refused at once (blocked IP, bad key)
 *   2. admit     stages/admit.ts     caps on requests held at once per IP and keyless,
 *                                    the canonical target, the route class
 *                                    (core/routes/route-class.ts), the engine's limits,
 *                                    the bulk export allowance
 *   3. hold      stages/hold.ts      a delay to conform (on the clock), then the account's
 *                                    concurrency slot or its queue
 *   4. forward   stages/forward.ts   to the upstream or a WebSocket tunnel; what the
 *                                    answer tells the safeguards
 *   5. answer    stages/answer.ts    the one writer of refusals (incident, problem+json,
 *                                    headers) and of the gateway's own problem answers
 *
 * A request reads the runtime snapshot (runtime.ts) once, when it arrives. A refusal is
 * answered by stage 5 and never reaches the upstream. The path stays synchronous while
 * the limit store answers synchronously (the memory store does): no promise is created
 * for an allowed request.
 *
 * @example
 * const pipeline = createPipeline(deps);
 * server.on('request', pipeline.handle);
 */
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConcurrencyQueues } from '../core/limiter/account-queue.ts';
import { isAnswered, whenReady } from '../core/maybe-async.ts';
import { withoutQueryParams } from './api-key-header.ts';
import type { Runtime } from './runtime.ts';
import { type AdmitDeps, type Admitted, createAdmit } from './stages/admit.ts';
import { type AnswerDeps, createAnswer } from './stages/answer.ts';
import { type CredentialDeps, createCredentialStage, stripOf } from './stages/credential.ts';
import type { Exchange } from './stages/exchange.ts';
import { createForward, type ForwardDeps } from './stages/forward.ts';
import { createHold } from './stages/hold.ts';
import { type CallerDeps, type IdentifyInput, identifyCaller } from './stages/identify.ts';
import { isUsageRequest, type UsageRoute } from './usage-route.ts';

export { WARNING_HEADER } from './stages/answer.ts';
export { DELAY_HEADER } from './stages/hold.ts';

/** What the stages need, together. */
export interface PipelineDeps
  extends CallerDeps,
    AdmitDeps,
    AnswerDeps,
    ForwardDeps,
    CredentialDeps {
  /** The current policy's snapshot; read once per request. */
  runtime(): Runtime;
  queues: ConcurrencyQueues;
  /** `GET /.well-known/sluice/usage` (usage-route.ts); none: forwarded like any path. */
  usage?: UsageRoute;
}

export interface Pipeline {
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** An `Upgrade` request: admitted like any other, then tunnelled; refusals are HTTP answers. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Answers every delayed or queued request (503) — used when shutting down. */
  drainWaiting(): void;
  /** Requests currently delayed or queued. */
  waiting(): number;
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const answer = createAnswer(deps);
  const admit = createAdmit(deps, answer);
  const hold = createHold(deps, answer, createForward(deps));
  const credentials = createCredentialStage(deps);

  function run(req: IncomingMessage, res: ServerResponse, upgrade: Exchange['upgrade']): void {
    const runtime = deps.runtime();
    const input = credentials(req, res, runtime);
    if (isAnswered(input)) {
      if (input !== undefined) identified(req, res, upgrade, runtime, input);
      return;
    }
    // Only a delegate lookup gets here; it never rejects, but what follows may throw.
    input
      .then((i) => i !== undefined && identified(req, res, upgrade, runtime, i))
      .catch((error) => {
        deps.logger.error({ err: error }, 'request handling failed');
        answer.failed(res);
      });
  }

  /** Admitted: the key's query parameter leaves the target (routes matched it as sent), then hold. */
  function proceed(ex: Exchange, d: Admitted): void {
    if (ex.stripQuery !== undefined) ex.target = withoutQueryParams(ex.target, ex.stripQuery);
    hold.run(ex, d);
  }

  function identified(
    req: IncomingMessage,
    res: ServerResponse,
    upgrade: Exchange['upgrade'],
    runtime: Runtime,
    input: IdentifyInput,
  ): void {
    const who = identifyCaller(req, runtime, deps, input);
    if ('refusal' in who) {
      answer.refuse(res, who.caller, who.refusal);
      return;
    }
    const ex: Exchange = { req, res, caller: who, runtime, target: '/', upgrade, headers: {} };
    // The caller's own usage page: answered here, after identify, never forwarded.
    if (deps.usage !== undefined && upgrade === undefined && isUsageRequest(req)) {
      deps.usage(ex, answer);
      return;
    }
    const strip =
      who.stripCredential === undefined ? undefined : stripOf(runtime.strip, who.stripCredential);
    if (strip !== undefined) {
      ex.strip = strip.headers;
      if (strip.query.length > 0) ex.stripQuery = strip.query;
    }
    const decided = admit(ex);
    // The memory store answers at once: no closure, no promise for this request.
    if (isAnswered(decided)) {
      if (decided !== undefined) proceed(ex, decided);
      return;
    }
    const admitted = whenReady(decided, (d) => {
      if (d !== undefined) proceed(ex, d);
    });
    // Only a store that answers later gets here with a promise: a failure past the
    // decision must cost this request, not the process.
    if (!isAnswered(admitted)) {
      admitted.catch((error) => {
        deps.logger.error({ err: error }, 'request handling failed');
        answer.failed(res);
      });
    }
  }

  return {
    handle: (req, res) => run(req, res, undefined),
    handleUpgrade(req, socket, head) {
      // A response bound to the raw socket, so refusals are the same problem+json answers.
      const res = new ServerResponse(req);
      res.assignSocket(socket as Socket);
      res.shouldKeepAlive = false;
      res.once('finish', () => socket.end());
      run(req, res, { socket, head });
    },
    drainWaiting: hold.drainWaiting,
    waiting: hold.waiting,
  };
}
