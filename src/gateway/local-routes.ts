/**
 * What the gateway answers itself, never the upstream: `/healthz` (the process runs),
 * `/readyz` (listening and not closing; `degraded` while Redis is not answering) and `/.well-known/sluice` (the published policy).
 *
 * @example
 * createGatewayServer({ local: localRoutes({ policy: () => policy, clock, ready: () => true }), … });
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../core/clock.ts';
import type { Policy } from '../core/policy/types.ts';
import { publishPolicy } from '../words/publish-policy.ts';
import { sendJson } from './http-server.ts';

export function localRoutes(deps: {
  policy(): Policy;
  clock: Clock;
  ready(): boolean;
  /** While the shared limit store is not answering: `open` (serving) or `closed` (503). */
  degraded?(): 'open' | 'closed' | undefined;
}): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = req.url ?? '/';
    if (url === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return true;
    }
    if (url === '/.well-known/sluice') {
      sendJson(res, 200, publishPolicy(deps.policy(), deps.clock.now()));
      return true;
    }
    if (url === '/readyz') {
      const ready = deps.ready();
      const degraded = ready ? deps.degraded?.() : undefined;
      if (degraded !== undefined) {
        // Failing open the node still serves (ready); failing closed it refuses limited requests.
        const limits = degraded === 'open' ? 'insurance limiter (this node only)' : 'unavailable';
        sendJson(res, degraded === 'open' ? 200 : 503, { status: 'degraded', limits });
        return true;
      }
      sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
      return true;
    }
    return false;
  };
}
