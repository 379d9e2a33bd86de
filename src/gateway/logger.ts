/**
 * Structured logs (pino, JSON lines on stdout). Allowed requests are not logged one by
 * one: the gateway's cost per request matters more than an access log an upstream
 * already keeps. Refusals are summarised per incident and flush; key secrets never
 * appear (only key ids), and the `authorization` and `x-api-key` headers are redacted
 * should a request ever be logged.
 */
import { pino } from 'pino';

export type GatewayLogger = pino.Logger;

export function createLogger(
  options: { level?: string; destination?: pino.DestinationStream } = {},
): GatewayLogger {
  return pino(
    {
      name: 'sluice',
      level: options.level ?? 'info',
      base: undefined,
      redact: ['req.headers.authorization', 'req.headers["x-api-key"]', '*.secret', 'secret'],
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}
