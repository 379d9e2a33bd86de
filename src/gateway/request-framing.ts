/**
 * Checks on how a request is framed that node:http lets through but a proxy must not
 * pass on (RFC 9112): a second `Host` header (which one would the upstream believe?),
 * a transfer coding other than `chunked` (node decodes the chunking and sluice would
 * forward the body with the other coding silently dropped), the asterisk form
 * (`OPTIONS *`), which asks about the server itself, not a resource of the upstream.
 * The target's own form (absolute form, dot-segments, encodings) is the pipeline's:
 * core/routes/canonical-path.ts makes it the one path both the routes and the upstream
 * act on.
 */
import type { IncomingMessage } from 'node:http';

/** What to answer instead of forwarding: a refusal, or sluice's own answer to `OPTIONS *`. */
export type FramingVerdict =
  | {
      readonly kind: 'refuse';
      readonly status: 400 | 501;
      readonly name: string;
      readonly detail: string;
    }
  | { readonly kind: 'options-asterisk' };

/**
 * Answers undefined for a request that may go on, or what to answer instead.
 *
 * @example
 * // Host: a, Host: b
 * framingVerdict(req); // { kind: 'refuse', status: 400, name: 'bad-request', … }
 */
export function framingVerdict(req: IncomingMessage): FramingVerdict | undefined {
  if (req.url === '*') {
    if (req.method === 'OPTIONS') return { kind: 'options-asterisk' };
    return refuse(
      400,
      'bad-request',
      `"${req.method} *" is not a request: only OPTIONS may ask about "*".`,
    );
  }
  let hosts = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 4 && raw[i].toLowerCase() === 'host') hosts++;
  }
  if (hosts > 1) {
    return refuse(400, 'bad-request', 'The request has more than one Host header (RFC 9112 §3.2).');
  }
  const coding = req.headers['transfer-encoding'];
  if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') {
    // RFC 9112 §6.1: a transfer coding the server does not understand is 501.
    return refuse(
      501,
      'unsupported-transfer-coding',
      `Transfer-Encoding "${coding.slice(0, 60)}" is not supported: send the body with chunked alone.`,
    );
  }
  return undefined;
}

function refuse(status: 400 | 501, name: string, detail: string): FramingVerdict {
  return { kind: 'refuse', status, name, detail };
}
