/**
 * Webhook signatures: HMAC-SHA256 over `<timestamp>.<body>` with the webhook's secret,
 * sent as `Sluice-Signature: t=<timestamp>,v1=<hex>`. The timestamp is signed too, so a
 * captured delivery cannot be replayed later than the receiver's tolerance.
 * docs/webhooks.md describes the scheme for receivers.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Sluice-Signature';
export const EVENT_HEADER = 'Sluice-Event';
export const DELIVERY_HEADER = 'Sluice-Delivery';

/** Receivers accept a signature at most this far from their own clock by default. */
export const DEFAULT_TOLERANCE_SEC = 300;

const HEX_SHA256 = /^[0-9a-f]{64}$/;

function hmacHex(secret: string, timestampSec: number, body: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestampSec}.`).update(body).digest('hex');
}

/**
 * The `v1=` part of a signature: hex HMAC-SHA256 of `${timestampSec}.${body}`.
 * A string body is signed as its UTF-8 bytes.
 *
 * @example
 * signWebhook('whsec_test', 1767225600, '{"type":"revocation"}'); // 'v1=…64 hex digits'
 */
export function signWebhook(
  secret: string,
  timestampSec: number,
  body: string | Uint8Array,
): string {
  return `v1=${hmacHex(secret, timestampSec, body)}`;
}

/**
 * The whole `Sluice-Signature` header value.
 *
 * @example
 * signatureHeader('whsec_test', 1767225600, body); // 't=1767225600,v1=5c5d…'
 */
export function signatureHeader(
  secret: string,
  timestampSec: number,
  body: string | Uint8Array,
): string {
  return `t=${timestampSec},${signWebhook(secret, timestampSec, body)}`;
}

/** Splits `t=…,v1=…[,v1=…]`; undefined when there is no valid timestamp. */
export function parseSignatureHeader(
  value: string,
): { timestampSec: number; signatures: string[] } | undefined {
  let timestampSec: number | undefined;
  const signatures: string[] = [];
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const val = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(val)) timestampSec = Number(val);
    // Unknown schemes (a future v2) are skipped, so receivers keep working through an upgrade.
    if (key === 'v1' && HEX_SHA256.test(val)) signatures.push(val);
  }
  return timestampSec === undefined ? undefined : { timestampSec, signatures };
}

/**
 * True when `header` (the `Sluice-Signature` value or values) carries a v1 signature of
 * `body` by one of `secret` (several while rotating secrets), with a timestamp within
 * `toleranceSec` of `nowSec`. Compares in constant time.
 *
 * @example
 * verifyWebhook(secret, req.headers['sluice-signature'], rawBody, Math.floor(Date.now() / 1000));
 */
export function verifyWebhook(
  secret: string | readonly string[],
  header: string | readonly string[] | undefined,
  body: string | Uint8Array,
  nowSec: number,
  toleranceSec: number = DEFAULT_TOLERANCE_SEC,
): boolean {
  if (header === undefined) return false;
  const parsed = parseSignatureHeader(typeof header === 'string' ? header : header.join(','));
  if (parsed === undefined || parsed.signatures.length === 0) return false;
  if (!(Math.abs(nowSec - parsed.timestampSec) <= toleranceSec)) return false;
  const secrets = typeof secret === 'string' ? [secret] : secret;
  let ok = false;
  for (const s of secrets) {
    const expected = Buffer.from(hmacHex(s, parsed.timestampSec, body), 'hex');
    for (const signature of parsed.signatures) {
      // Both are 32 bytes (the header was checked for 64 hex digits), as timingSafeEqual needs.
      if (timingSafeEqual(expected, Buffer.from(signature, 'hex'))) ok = true;
    }
  }
  return ok;
}
