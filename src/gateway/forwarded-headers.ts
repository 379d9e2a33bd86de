/**
 * The forwarding headers sluice sends its upstream: `X-Forwarded-For`, `Forwarded`
 * (RFC 7239), `X-Forwarded-Host` and `X-Forwarded-Proto`, always sluice's own (the
 * client's copies are stripped before forwarding, runtime.ts `identityStrip`).
 *
 * From a peer that is not a trusted proxy a new chain starts with the peer: the client
 * is the peer, the host is the request's `Host`, the protocol `http` (sluice's listener).
 * From a trusted proxy its chain is extended: the hops from the client (as client-ip.ts
 * resolves it, the first untrusted address from the right) to the peer, then the peer;
 * hops left of the client are dropped, as anyone could have written them. So the first
 * `X-Forwarded-For` entry, and the first `for=` of `Forwarded`, is always the client
 * sluice counted. The host and protocol the client used come from the proxy
 * (`X-Forwarded-Host` / `X-Forwarded-Proto`, else the client's `Forwarded` element's
 * `host=` / `proto=`), when they are a well-formed host and `http` or `https`.
 *
 * @example
 * const fwd = forwardingHeaders('10.0.0.2', { host: 'sluice:8080', 'x-forwarded-for': '203.0.113.9',
 *   'x-forwarded-host': 'api.example.com', 'x-forwarded-proto': 'https' }, trustedProxies(['10.0.0.0/8']));
 * fwd.headers['x-forwarded-for']; // '203.0.113.9, 10.0.0.2'
 * fwd.headers.forwarded; // 'for=203.0.113.9;host=api.example.com;proto=https, for=10.0.0.2;host="sluice:8080";proto=http'
 * fwd.publicOrigin; // 'https://api.example.com'
 */
import type { IncomingHttpHeaders } from 'node:http';
import {
  canonicalIp,
  forwardedFor,
  isListed,
  normalizeIp,
  splitOutsideQuotes,
  type TrustedProxies,
} from './client-ip.ts';

export interface Forwarding {
  /** The headers to send upstream (lower-case names). */
  readonly headers: Record<string, string>;
  /** The request's own `Host`, when it is a well-formed host (what `preserveHost` sends). */
  readonly host: string | undefined;
  /** `proto://host` the client used, when its host is known and well-formed. */
  readonly publicOrigin: string | undefined;
}

/** A host name, IPv4 or bracketed IPv6 address, with an optional port. */
const HOST =
  /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/** A `Forwarded` value that needs no quotes (an RFC 9110 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Builds the forwarding headers of one request (see the file's comment); `headers` is a fresh object the caller may add to. */
export function forwardingHeaders(
  peer: string | undefined,
  headers: IncomingHttpHeaders,
  trusted: TrustedProxies,
): Forwarding {
  const peerIp = normalizeIp(peer ?? '');
  const host = wellFormedHost(headers.host);
  // A peer that is no trusted proxy (every request, without proxies in front): one hop,
  // written straight out, no chain to build.
  if (!isListed(trusted, peerIp)) {
    const out: Record<string, string> = {
      'x-forwarded-for': peerIp,
      'x-forwarded-proto': 'http',
      forwarded: `for=${node(peerIp)}${params(host, 'http')}`,
    };
    if (host === undefined) return { headers: out, host, publicOrigin: undefined };
    out['x-forwarded-host'] = host;
    return { headers: out, host, publicOrigin: `http://${host}` };
  }
  const fromProxy = proxyChain(headers, trusted);
  const chain = [...fromProxy.hops, peerIp];
  const originalHost =
    wellFormedHost(first(headers['x-forwarded-host'])) ??
    wellFormedHost(fromProxy.client?.host) ??
    host;
  const proto =
    scheme(first(headers['x-forwarded-proto'])) ?? scheme(fromProxy.client?.proto) ?? 'http';
  const elements = chain.map((hop) => `for=${node(hop)}`);
  elements[0] += params(originalHost, proto);
  if (chain.length > 1) elements[elements.length - 1] += params(host, 'http');
  const out: Record<string, string> = {
    'x-forwarded-for': chain.join(', '),
    'x-forwarded-proto': proto,
    forwarded: elements.join(', '),
  };
  if (originalHost !== undefined) out['x-forwarded-host'] = originalHost;
  return {
    headers: out,
    host,
    publicOrigin: originalHost === undefined ? undefined : `${proto}://${originalHost}`,
  };
}

/**
 * The hops a trusted proxy reports before itself, from the client on (the walk of
 * client-ip.ts `clientIp`), and the client's `Forwarded` element's parameters.
 */
function proxyChain(
  headers: IncomingHttpHeaders,
  trusted: TrustedProxies,
): { hops: string[]; client: Record<string, string> | undefined } {
  const forwarded = headers.forwarded;
  // As clientIp: Forwarded when present, else X-Forwarded-For; elements without for= skipped.
  const elements =
    forwarded !== undefined
      ? splitOutsideQuotes(forwarded, ',')
          .map((e) => ({ node: forwardedFor(e)[0], params: elementParams(e) }))
          .filter((e) => e.node !== undefined)
      : list(headers['x-forwarded-for']).map((node) => ({ node, params: undefined }));
  const hops: string[] = [];
  let client: Record<string, string> | undefined;
  for (let i = elements.length - 1; i >= 0; i--) {
    const hop = canonicalIp(elements[i].node);
    if (hop === undefined) break;
    hops.unshift(hop);
    client = elements[i].params;
    if (!isListed(trusted, hop)) break;
  }
  return { hops, client };
}

function elementParams(element: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of splitOutsideQuotes(element, ';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    out[pair.slice(0, eq).trim().toLowerCase()] = pair
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
  }
  return out;
}

function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.join(',') : value)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function first(value: string | string[] | undefined): string | undefined {
  return list(value)[0];
}

function wellFormedHost(value: string | undefined): string | undefined {
  return value !== undefined && value.length <= 261 && HOST.test(value) ? value : undefined;
}

function scheme(value: string | undefined): string | undefined {
  const lower = value?.toLowerCase();
  return lower === 'http' || lower === 'https' ? lower : undefined;
}

/** A `for=` node: IPv6 in brackets and quotes, as RFC 7239 §6 requires. */
function node(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

function params(host: string | undefined, proto: string): string {
  const h = host === undefined ? '' : `;host=${TOKEN.test(host) ? host : `"${host}"`}`;
  return `${h};proto=${proto}`;
}
