/**
 * The client's IP address. `X-Forwarded-For` and `Forwarded` (RFC 7239) are honoured
 * only when the TCP peer is one of the policy's trusted proxies; from anyone else they
 * are ignored, so a spoofed header changes nothing.
 *
 * Behind a chain of proxies the header is read from the right: each hop that is itself
 * a trusted proxy is skipped, and the first untrusted address is the client. A hop
 * that is not an IP address (`unknown`, an obfuscated `_node`) ends the walk at the
 * last address that was.
 *
 * @example
 * const trusted = trustedProxies(['10.0.0.0/8']);
 * clientIp('10.0.0.5', { 'x-forwarded-for': '203.0.113.9, 10.0.0.7' }, trusted); // '203.0.113.9'
 */
import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP } from 'node:net';

export type TrustedProxies = BlockList | undefined;

/** Compiles the policy's list of addresses and CIDRs; undefined when it is empty. */
export function trustedProxies(entries: readonly string[]): TrustedProxies {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}

/** `::ffff:1.2.3.4` (IPv4 on a dual-stack socket) → `1.2.3.4`. */
export function normalizeIp(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** IPv4-mapped IPv6 as the URL parser writes it (`::ffff:c000:201`). */
const MAPPED_V4 = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/**
 * One IP address as the gateway sees a client's (IPv4 dotted, IPv6 in its RFC 5952
 * form, IPv4-mapped IPv6 as IPv4), so limits and blocks match however the address was
 * written — by a proxy's header or by an operator; undefined when the text is not one
 * address.
 *
 * @example
 * canonicalIp('2001:0DB8::0001'); // '2001:db8::1'
 * canonicalIp('::ffff:203.0.113.9'); // '203.0.113.9'
 * canonicalIp('203.0.113.0/24'); // undefined
 */
export function canonicalIp(text: string): string | undefined {
  const family = isIP(text);
  if (family === 4) return text;
  // A zone (`fe80::1%eth0`) names an interface of one machine, never a client's address.
  if (family !== 6 || text.includes('%')) return undefined;
  // The URL parser writes IPv6 hosts in the RFC 5952 form, as sockets report them.
  const v6 = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const mapped = MAPPED_V4.exec(v6);
  if (mapped === null) return v6;
  const [hi, lo] = [Number.parseInt(mapped[1], 16), Number.parseInt(mapped[2], 16)];
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/**
 * Whether an address is in a compiled list (trusted proxies, shared-egress ranges).
 *
 * @example
 * isListed(trustedProxies(['10.0.0.0/8']), '10.1.2.3'); // true
 */
export function isListed(list: TrustedProxies, address: string): boolean {
  return list !== undefined && isTrusted(list, address);
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/** Resolves the client IP of one request. */
export function clientIp(
  peer: string | undefined,
  headers: IncomingHttpHeaders,
  trusted: TrustedProxies,
): string {
  let address = normalizeIp(peer ?? '');
  if (trusted === undefined || !isTrusted(trusted, address)) return address;
  const forwarded = headers.forwarded;
  const hops =
    forwarded !== undefined ? forwardedFor(forwarded) : splitList(headers['x-forwarded-for']);
  for (let i = hops.length - 1; i >= 0; i--) {
    // Header text is anyone's spelling: canonical, so `2001:DB8::1` and `2001:db8::1`
    // are one client for limits and blocks.
    const hop = canonicalIp(hops[i]);
    if (hop === undefined) return address;
    address = hop;
    if (!isTrusted(trusted, hop)) return hop;
  }
  return address;
}

function splitList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** The `for=` values of a `Forwarded` header, in order, without ports or brackets. */
export function forwardedFor(value: string): string[] {
  const hops: string[] = [];
  // Quoted values (a host, an obfuscated node) may hold `,` and `;`: split only outside
  // them, or text a client put in its Host would become a hop of its choosing.
  for (const element of splitOutsideQuotes(value, ',')) {
    for (const pair of splitOutsideQuotes(element, ';')) {
      const eq = pair.indexOf('=');
      if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
      let node = pair
        .slice(eq + 1)
        .trim()
        .replace(/^"|"$/g, '');
      if (node.startsWith('[')) node = node.slice(1, node.indexOf(']'));
      else if (node.split(':').length === 2) node = node.slice(0, node.indexOf(':'));
      hops.push(node);
    }
  }
  return hops;
}

/**
 * Splits on `sep`, except inside a quoted string (RFC 9110, with its backslash escapes).
 *
 * @example
 * splitOutsideQuotes('for=a;host="x,y", for=b', ','); // ['for=a;host="x,y"', ' for=b']
 */
export function splitOutsideQuotes(value: string, sep: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === sep) {
      parts.push(value.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(value.slice(start));
  return parts;
}
