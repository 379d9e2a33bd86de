import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  canonicalIp,
  clientIp,
  forwardedFor,
  normalizeIp,
  trustedProxies,
} from '../../src/gateway/client-ip.ts';

const trusted = trustedProxies(['10.0.0.0/8', '127.0.0.1']);

test('headers from an untrusted peer are ignored', () => {
  assert.equal(clientIp('203.0.113.5', { 'x-forwarded-for': '1.2.3.4' }, trusted), '203.0.113.5');
  assert.equal(clientIp('203.0.113.5', { 'x-forwarded-for': '1.2.3.4' }, undefined), '203.0.113.5');
});

test('a chain of trusted proxies is skipped from the right', () => {
  assert.equal(
    clientIp('10.0.0.5', { 'x-forwarded-for': '198.51.100.1, 203.0.113.9, 10.0.0.7' }, trusted),
    '203.0.113.9',
  );
  assert.equal(
    clientIp('::ffff:127.0.0.1', { 'x-forwarded-for': '203.0.113.9' }, trusted),
    '203.0.113.9',
  );
  assert.equal(
    clientIp('10.0.0.5', { 'x-forwarded-for': '10.0.0.9' }, trusted),
    '10.0.0.9',
    'all trusted: the leftmost',
  );
});

test('garbage in the chain stops the walk at the last real address', () => {
  assert.equal(
    clientIp('10.0.0.5', { 'x-forwarded-for': 'unknown, 203.0.113.9' }, trusted),
    '203.0.113.9',
  );
  assert.equal(clientIp('10.0.0.5', { 'x-forwarded-for': 'not-an-ip' }, trusted), '10.0.0.5');
});

test('Forwarded (RFC 7239) is read, with ports, quotes and brackets', () => {
  assert.deepEqual(
    forwardedFor('for=192.0.2.43:47011, for="[2001:db8:cafe::17]:4711";proto=https, for=_hidden'),
    ['192.0.2.43', '2001:db8:cafe::17', '_hidden'],
  );
  assert.equal(
    clientIp('127.0.0.1', { forwarded: 'for="[2001:DB8:CAFE::17]"' }, trusted),
    '2001:db8:cafe::17',
  );
});

test('addresses are canonical however they were written', () => {
  assert.equal(canonicalIp('2001:0DB8::0001'), '2001:db8::1');
  assert.equal(canonicalIp('::ffff:203.0.113.9'), '203.0.113.9');
  assert.equal(canonicalIp('203.0.113.0/24'), undefined);
  assert.equal(canonicalIp('fe80::1%eth0'), undefined);
});

test('an empty list of trusted proxies compiles to none', () => {
  assert.equal(trustedProxies([]), undefined);
});

test('only the IPv4-mapped prefix ::ffff: is taken off a peer, and only before IPv4', () => {
  assert.equal(normalizeIp('::ffff:192.0.2.1'), '192.0.2.1');
  // Seven characters before an IPv4 address, but not the mapped prefix.
  assert.equal(normalizeIp('::fffe:1.2.3.4'), '::fffe:1.2.3.4');
  assert.equal(normalizeIp('1:2:3::1.2.3.4'), '1:2:3::1.2.3.4');
  // The prefix before something that is not IPv4.
  assert.equal(normalizeIp('::ffff:c000:201'), '::ffff:c000:201');
  assert.equal(normalizeIp('203.0.113.9'), '203.0.113.9');
});

test('only a whole IPv4-mapped address is written as IPv4', () => {
  assert.equal(canonicalIp('::ffff:c000:201'), '192.0.2.1');
  // The mapped pattern inside a longer IPv6 address, at its end or at its start.
  assert.equal(canonicalIp('1::ffff:c000:201'), '1::ffff:c000:201');
  assert.equal(canonicalIp('::ffff:c000:201:1'), '::ffff:c000:201:1');
});

test('a peer without an address (a closed socket) is the empty address', () => {
  assert.equal(clientIp(undefined, { 'x-forwarded-for': '203.0.113.9' }, trusted), '');
});

test('a trusted peer without forwarding headers is the client', () => {
  assert.equal(clientIp('10.0.0.5', {}, trusted), '10.0.0.5');
});

test('X-Forwarded-For given as several values is one list; blank entries are skipped', () => {
  assert.equal(
    clientIp('10.0.0.5', { 'x-forwarded-for': ['203.0.113.9', '10.0.0.7'] }, trusted),
    '203.0.113.9',
  );
  assert.equal(
    clientIp('10.0.0.5', { 'x-forwarded-for': '198.51.100.1, 203.0.113.9,, 10.0.0.7, ' }, trusted),
    '203.0.113.9',
  );
});

test('Forwarded: only for= pairs count, spaces around = are trimmed, inner quotes kept', () => {
  // `fore` is no pair (no =), though `for` is all but its last character.
  assert.deepEqual(forwardedFor('fore;for=192.0.2.43'), ['192.0.2.43']);
  assert.deepEqual(forwardedFor('for = 192.0.2.43'), ['192.0.2.43']);
  // Only a quote at either end is taken off: one inside leaves no address.
  assert.deepEqual(forwardedFor('for=192.0.2."43'), ['192.0.2."43']);
  assert.deepEqual(forwardedFor(''), []);
  assert.equal(clientIp('127.0.0.1', { forwarded: 'for=192.0.2."43' }, trusted), '127.0.0.1');
});

test('Forwarded: a comma or semicolon inside a quoted value splits nothing', () => {
  // A proxy quotes what is no token, such as a client's Host: what the client wrote
  // there must not become a hop, or the client would choose the address it is counted by.
  const forwarded = 'for=203.0.113.9;host="x,for=198.51.100.1;by=y", for=10.1.1.1';
  assert.deepEqual(forwardedFor(forwarded), ['203.0.113.9', '10.1.1.1']);
  assert.equal(clientIp('10.0.0.2', { forwarded }, trusted), '203.0.113.9');
  const escaped = 'for=203.0.113.9;host="a\\",for=198.51.100.1"';
  assert.deepEqual(forwardedFor(escaped), ['203.0.113.9']);
  assert.equal(clientIp('10.0.0.2', { forwarded: escaped }, trusted), '203.0.113.9');
});
