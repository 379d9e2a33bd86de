/**
 * What the gateway answers itself, never the upstream: `/healthz` (the process runs),
 * `/readyz` (listening and not closing) and `/.well-known/sluice` (the published policy).
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
      sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
      return true;
    }
    return false;
  };
}
