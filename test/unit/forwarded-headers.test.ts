/**
 * The forwarding headers sluice sends upstream (gateway/forwarded-headers.ts): a new
 * chain from an untrusted peer, the trusted chain extended from a proxy, the client
 * first in both lists and the same one client-ip.ts counts, and the host and protocol
 * taken from a trusted proxy only, when well-formed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientIp, trustedProxies } from '../../src/gateway/client-ip.ts';
import { forwardingHeaders } from '../../src/gateway/forwarded-headers.ts';

const trusted = trustedProxies(['10.0.0.0/8', 'fd00::/8']);

test('an untrusted peer starts a new chain: its address, its Host, http', () => {
  const fwd = forwardingHeaders(
    '::ffff:198.51.100.7',
    {
      host: 'api.example.com',
      'x-forwarded-for': '203.0.113.1',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'https',
      forwarded: 'for=203.0.113.1;host=evil.example',
    },
    trusted,
  );
  assert.deepEqual(fwd, {
    headers: {
      'x-forwarded-for': '198.51.100.7',
      'x-forwarded-host': 'api.example.com',
      'x-forwarded-proto': 'http',
      forwarded: 'for=198.51.100.7;host=api.example.com;proto=http',
    },
    host: 'api.example.com',
    publicOrigin: 'http://api.example.com',
  });
});

test("a trusted proxy's X-Forwarded-* chain is extended from the client on", () => {
  const headers = {
    host: 'sluice.internal:8080',
    'x-forwarded-for': '192.0.2.66, 203.0.113.9, 10.1.1.1',
    'x-forwarded-host': 'api.example.com',
    'x-forwarded-proto': 'HTTPS',
  };
  const fwd = forwardingHeaders('10.0.0.2', headers, trusted);
  assert.deepEqual(fwd, {
    headers: {
      // 192.0.2.66 is left of the client: anyone could have written it.
      'x-forwarded-for': '203.0.113.9, 10.1.1.1, 10.0.0.2',
      'x-forwarded-host': 'api.example.com',
      'x-forwarded-proto': 'https',
      forwarded:
        'for=203.0.113.9;host=api.example.com;proto=https, for=10.1.1.1, for=10.0.0.2;host="sluice.internal:8080";proto=http',
    },
    host: 'sluice.internal:8080',
    publicOrigin: 'https://api.example.com',
  });
  assert.equal(clientIp('10.0.0.2', headers, trusted), '203.0.113.9');
});

test("a trusted proxy's Forwarded gives the chain and the client element's host and proto", () => {
  const headers = {
    host: 'sluice.internal',
    forwarded:
      'for=192.0.2.66;host=spoof.example, for="[2001:DB8::9]:4711";host="api.example.com:8443";proto=https, for=10.1.1.1;by=x',
  };
  const fwd = forwardingHeaders('fd00::1', headers, trusted);
  assert.deepEqual(fwd.headers, {
    'x-forwarded-for': '2001:db8::9, 10.1.1.1, fd00::1',
    'x-forwarded-host': 'api.example.com:8443',
    'x-forwarded-proto': 'https',
    forwarded:
      'for="[2001:db8::9]";host="api.example.com:8443";proto=https, for=10.1.1.1, for="[fd00::1]";host=sluice.internal;proto=http',
  });
  assert.equal(fwd.publicOrigin, 'https://api.example.com:8443');
  assert.equal(clientIp('fd00::1', headers, trusted), '2001:db8::9');
});

test('a trusted proxy that names no one: the chain is the proxy, the host its own', () => {
  const fwd = forwardingHeaders('10.0.0.2', { host: 'gw.example' }, trusted);
  assert.deepEqual(fwd.headers, {
    'x-forwarded-for': '10.0.0.2',
    'x-forwarded-host': 'gw.example',
    'x-forwarded-proto': 'http',
    forwarded: 'for=10.0.0.2;host=gw.example;proto=http',
  });
});

test('a malformed host or protocol is never passed on, nor made an origin', () => {
  const fwd = forwardingHeaders(
    '10.0.0.2',
    {
      host: 'bad host/x',
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-host': 'a"b',
      'x-forwarded-proto': 'gopher',
    },
    trusted,
  );
  assert.deepEqual(fwd, {
    headers: {
      'x-forwarded-for': '203.0.113.9, 10.0.0.2',
      'x-forwarded-proto': 'http',
      forwarded: 'for=203.0.113.9;proto=http, for=10.0.0.2;proto=http',
    },
    host: undefined,
    publicOrigin: undefined,
  });
});

test('well-formed hosts: one character, bracketed IPv6 with a port, at most 5 port digits and 261 characters', () => {
  const host = (h: string) => forwardingHeaders('198.51.100.7', { host: h }, trusted).host;
  assert.equal(host('x'), 'x');
  assert.equal(host('x:8080'), 'x:8080');
  assert.equal(host('[2001:db8::1]:8443'), '[2001:db8::1]:8443');
  assert.equal(host('[]'), undefined);
  assert.equal(host('api.example.com:65535'), 'api.example.com:65535');
  assert.equal(host('api.example.com:123456'), undefined);
  const longest = `${'a'.repeat(255)}:65535`;
  assert.equal(host(longest), longest);
  assert.equal(host(`a${longest}`), undefined);
});

test('a request without a Host: no X-Forwarded-Host, no origin', () => {
  assert.deepEqual(forwardingHeaders('198.51.100.7', {}, trusted), {
    headers: {
      'x-forwarded-for': '198.51.100.7',
      'x-forwarded-proto': 'http',
      forwarded: 'for=198.51.100.7;proto=http',
    },
    host: undefined,
    publicOrigin: undefined,
  });
  // A socket already closed has no address: the chain says so rather than invent one.
  assert.equal(forwardingHeaders(undefined, {}, trusted).headers['x-forwarded-for'], '');
});

test('Forwarded elements without for= are skipped, as clientIp skips them', () => {
  const headers = { forwarded: 'for=203.0.113.9;proto=https, by=10.1.1.1, for=10.1.1.2' };
  const fwd = forwardingHeaders('10.0.0.2', headers, trusted);
  assert.equal(fwd.headers['x-forwarded-for'], '203.0.113.9, 10.1.1.2, 10.0.0.2');
  assert.equal(fwd.headers['x-forwarded-proto'], 'https');
  assert.equal(clientIp('10.0.0.2', headers, trusted), '203.0.113.9');
});

test('a hop that is no address ends the chain after the last one that was', () => {
  const headers = { 'x-forwarded-for': '203.0.113.9, unknown, 10.1.1.1' };
  const fwd = forwardingHeaders('10.0.0.2', headers, trusted);
  assert.equal(fwd.headers['x-forwarded-for'], '10.1.1.1, 10.0.0.2');
  assert.equal(fwd.headers.forwarded, 'for=10.1.1.1;proto=http, for=10.0.0.2;proto=http');
  assert.equal(clientIp('10.0.0.2', headers, trusted), '10.1.1.1');
});

test("the client element's parameters: names and values trimmed, only whole quotes taken off, pairs without = ignored", () => {
  const proxied = (element: string) =>
    forwardingHeaders('10.0.0.2', { host: 'gw.example', forwarded: element }, trusted).headers;
  assert.equal(
    proxied('for=203.0.113.9; host = api.example.com ; proto = https')['x-forwarded-host'],
    'api.example.com',
  );
  assert.equal(proxied('for=203.0.113.9; proto = https')['x-forwarded-proto'], 'https');
  // `hostx` has no =: it names no host (nor `host`, all but its last character).
  assert.equal(proxied('for=203.0.113.9;hostx')['x-forwarded-host'], 'gw.example');
  // A quote at one end only, or inside, is kept: not a host.
  assert.equal(proxied('for=203.0.113.9;host=api"x.example"')['x-forwarded-host'], 'gw.example');
  assert.equal(
    proxied('for=203.0.113.9;host="api.example.com"x')['x-forwarded-host'],
    'gw.example',
  );
});

test('X-Forwarded-* given as several values, or with blank entries', () => {
  const fwd = forwardingHeaders(
    '10.0.0.2',
    {
      'x-forwarded-for': ['203.0.113.9', '10.1.1.1'],
      'x-forwarded-host': ['api.example.com', 'other.example'],
    },
    trusted,
  );
  assert.equal(fwd.headers['x-forwarded-for'], '203.0.113.9, 10.1.1.1, 10.0.0.2');
  assert.equal(fwd.headers['x-forwarded-host'], 'api.example.com');
  const blanks = forwardingHeaders(
    '10.0.0.2',
    { 'x-forwarded-for': '203.0.113.9,, 10.1.1.1, ', 'x-forwarded-host': ', api.example.com' },
    trusted,
  );
  assert.equal(blanks.headers['x-forwarded-for'], '203.0.113.9, 10.1.1.1, 10.0.0.2');
  assert.equal(blanks.headers['x-forwarded-host'], 'api.example.com');
});

test("X-Forwarded-Proto http wins over the client element's proto", () => {
  const fwd = forwardingHeaders(
    '10.0.0.2',
    { forwarded: 'for=203.0.113.9;proto=https', 'x-forwarded-proto': 'HTTP' },
    trusted,
  );
  assert.equal(fwd.headers['x-forwarded-proto'], 'http');
});

test('Forwarded: quoted commas and semicolons, escaped quotes among them, split nothing; the chain starts at the client clientIp counts', () => {
  for (const forwarded of [
    'for=203.0.113.9;host="x,for=198.51.100.1;by=y", for=10.1.1.1',
    'for=203.0.113.9;host="a\\",for=198.51.100.1", for=10.1.1.1',
  ]) {
    const fwd = forwardingHeaders('10.0.0.2', { forwarded }, trusted);
    assert.equal(fwd.headers['x-forwarded-for'], '203.0.113.9, 10.1.1.1, 10.0.0.2', forwarded);
    assert.equal(clientIp('10.0.0.2', { forwarded }, trusted), '203.0.113.9', forwarded);
  }
});
