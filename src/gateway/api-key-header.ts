/**
 * The API key of a request: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
 * Only the key's hash and public id ever leave this step.
 */
import type { IncomingHttpHeaders } from 'node:http';

export function apiKeyOf(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (auth !== undefined && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') {
    return auth.slice(7).trim() || undefined;
  }
  const header = headers['x-api-key'];
  const value = Array.isArray(header) ? header[0] : header;
  return value?.trim() || undefined;
}
