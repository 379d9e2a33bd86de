import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CanonicalTarget, canonicalTarget } from '../../src/core/routes/canonical-path.ts';

/** [request target, path matched, target forwarded] */
const CANONICAL: [string, string, string][] = [
  ['/', '/', '/'],
  ['/api/search?q=x', '/api/search', '/api/search?q=x'],
  ['/api/reports/', '/api/reports/', '/api/reports/'],
  // Unreserved characters are decoded (RFC 3986 §6.2.2.2), hex is upper-cased.
  ['/api/%72eports', '/api/reports', '/api/reports'],
  ['/api/%72%65%70%6f%72%74%73', '/api/reports', '/api/reports'],
  ['/a%7eb%41%2D%5F', '/a~bA-_', '/a~bA-_'],
  // Dot-segments are removed after decoding (§5.2.4).
  ['/api/./reports', '/api/reports', '/api/reports'],
  ['/api/x/../reports', '/api/reports', '/api/reports'],
  ['/api/x/%2e%2e/reports', '/api/reports', '/api/reports'],
  ['/api/x/.%2E/reports', '/api/reports', '/api/reports'],
  ['/api/reports/%2e', '/api/reports/', '/api/reports/'],
  ['/api/reports/x/..', '/api/reports/', '/api/reports/'],
  ['/a/..', '/', '/'],
  // Repeated slashes collapse.
  ['//api///reports', '/api/reports', '/api/reports'],
  // Absolute-form: the client's scheme and authority are dropped.
  ['http://evil.example/api/reports', '/api/reports', '/api/reports'],
  ['HTTPS://u:p@evil.example:8443/api/reports?x=1', '/api/reports', '/api/reports?x=1'],
  ['http://evil.example', '/', '/'],
  ['http://evil.example?x', '/', '/?x'],
  // Matrix parameters and trailing dots and spaces: matched without, forwarded with.
  ['/api/reports;x=1', '/api/reports', '/api/reports;x=1'],
  ['/api/reports%3Bx', '/api/reports', '/api/reports%3Bx'],
  ['/api/;x/reports', '/api/reports', '/api/;x/reports'],
  ['/api/reports.', '/api/reports', '/api/reports.'],
  ['/api/reports%20', '/api/reports', '/api/reports%20'],
  // A fragment is dropped.
  ['/api/reports#x', '/api/reports', '/api/reports'],
  ['/api/reports?a#b', '/api/reports', '/api/reports?a'],
  // Reserved characters keep their form: escaped stays escaped, raw stays raw.
  ['/a%3Fb%23c%25', '/a?b#c%', '/a%3Fb%23c%25'],
  ["/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,="],
  ['/a%3ab', '/a:b', '/a%3Ab'],
  // Characters a path may not hold raw are escaped; UTF-8 is decoded for matching.
  ['/a|b{c}', '/a|b{c}', '/a%7Cb%7Bc%7D'],
  ['/caf%c3%a9', '/café', '/caf%C3%A9'],
  // The query is kept exactly as sent.
  ['/x?a=%2F..%00&b=%zz', '/x', '/x?a=%2F..%00&b=%zz'],
  ['/API/Reports', '/API/Reports', '/API/Reports'],
  // A raw tilde is unreserved (the last printable ASCII character a path may hold raw).
  ['/a~b', '/a~b', '/a~b'],
  // An escaped percent sign before one hex digit is no escape after decoding: data.
  ['/a%254', '/a%4', '/a%254'],
];

/** [request target, refusal reason] */
const REFUSED: [string, string][] = [
  ['*', 'asterisk-form'],
  ['api/reports', 'not-origin-form'],
  ['ftp://evil.example/api/reports', 'scheme'],
  ['/api\\reports', 'backslash'],
  ['/api%2freports', 'encoded-slash'],
  ['/api%2Freports', 'encoded-slash'],
  ['/api%5Creports', 'encoded-backslash'],
  ['/api/reports%00', 'control-character'],
  ['/api/reports%0d%0a', 'control-character'],
  ['/api/reports%7F', 'control-character'],
  ['/api/reports%C2%85', 'control-character'],
  ['/api/reports\u0000', 'control-character'],
  ['/api/reports\u007f', 'control-character'],
  ['/api/reports\u001f', 'control-character'],
  ['/api/reports%C2%9F', 'control-character'],
  ['/api/re ports', 'control-character'],
  ['/api/r\u00e9ports', 'non-ascii'],
  ['/api/reports%zz', 'bad-percent-encoding'],
  ['/api/reports%4', 'bad-percent-encoding'],
  ['/api/reports%', 'bad-percent-encoding'],
  ['/api/%C0%AEreports', 'invalid-utf8'],
  ['/api/%E9', 'invalid-utf8'],
  ['/api/%ED%A0%80', 'invalid-utf8'],
  ['/api/%2572eports', 'double-encoded'],
  ['/..', 'above-root'],
  ['/api/../../reports', 'above-root'],
  ['http://evil.example/../api', 'above-root'],
  ['/api/x/..;/reports', 'dot-segment'],
  ['/api/.;x/reports', 'dot-segment'],
  ['/api/.../reports', 'dot-segment'],
  ['/api/..%20/reports', 'dot-segment'],
];

test('request targets have one canonical form: the path matched and the target forwarded', () => {
  for (const [raw, path, target] of CANONICAL) {
    const result = canonicalTarget(raw);
    assert.ok(!('reason' in result), `${raw}: ${JSON.stringify(result)}`);
    assert.deepEqual([result.path, result.target], [path, target], raw);
    assert.equal(result.query, target.includes('?') ? target.slice(target.indexOf('?') + 1) : '');
  }
});

test('what cannot be made canonical safely is refused with a reason and a sentence', () => {
  for (const [raw, reason] of REFUSED) {
    const result = canonicalTarget(raw);
    assert.ok('reason' in result, `${raw} was not refused: ${JSON.stringify(result)}`);
    assert.equal(result.reason, reason, raw);
    assert.match(result.message, /^the (path|request target)/, raw);
  }
});

test('the forwarded target decodes to the path the upstream acts on, and is canonical itself', () => {
  for (const [raw] of CANONICAL) {
    const first = canonicalTarget(raw) as CanonicalTarget;
    const again = canonicalTarget(first.target) as CanonicalTarget;
    assert.deepEqual(again, first, `${raw}: canonicalising twice changes nothing`);
    // An upstream decodes the forwarded path (Fastify, Express: decodeURIComponent);
    // stripping `;params` and trailing dots from that gives the path sluice matched.
    const decoded = decodeURIComponent(first.target.split('?')[0]);
    const stripped = decoded
      .split('/')
      .map((s) => s.split(';')[0].replace(/[. ]+$/, ''))
      .filter((s) => s !== '');
    assert.deepEqual(
      stripped,
      first.path.split('/').filter((s) => s !== ''),
      raw,
    );
  }
});

test('messages name the offending part', () => {
  assert.deepEqual(canonicalTarget('/a%2Fb'), {
    reason: 'encoded-slash',
    message: 'the path contains an encoded slash (%2F)',
  });
  assert.match((canonicalTarget('/a%zz') as { message: string }).message, /"%zz"/);
});

// Cases found by mutation testing (TESTING.md): each fails on a mutant Stryker left alive.

test('the fast path never takes what the full decoding would change or refuse', () => {
  // A segment whose dot is followed by an escape or a lone "%" is not already canonical.
  assert.equal((canonicalTarget('/a.%') as { reason: string }).reason, 'bad-percent-encoding');
  assert.deepEqual(canonicalTarget('/a.%41'), { path: '/a.A', query: '', target: '/a.A' });
  assert.deepEqual(canonicalTarget('/a%2e%2e'), { path: '/a', query: '', target: '/a..' });
  // A raw tilde is kept as it is on the full decoding path too.
  assert.deepEqual(canonicalTarget('/%41~'), { path: '/A~', query: '', target: '/A~' });
});

test('an absolute-form target must start with its scheme', () => {
  assert.equal((canonicalTarget('1http://h/api') as { reason: string }).reason, 'not-origin-form');
  assert.equal((canonicalTarget(' http://h/api') as { reason: string }).reason, 'not-origin-form');
});

test('a trailing slash is kept on the full decoding path, and only a last dot-segment adds one', () => {
  assert.deepEqual(canonicalTarget('/A%41/'), { path: '/AA/', query: '', target: '/AA/' });
  assert.deepEqual(canonicalTarget('/a/.b%41'), { path: '/a/.bA', query: '', target: '/a/.bA' });
  assert.deepEqual(canonicalTarget('/a/..b%41'), {
    path: '/a/..bA',
    query: '',
    target: '/a/..bA',
  });
  // A segment that routes as nothing (";x") leaves the root, with no doubled slash.
  assert.deepEqual(canonicalTarget('/;x/'), { path: '/', query: '', target: '/;x/' });
});

test('only the trailing dots of a segment are dropped for matching', () => {
  assert.deepEqual(canonicalTarget('/v1.2;x'), { path: '/v1.2', query: '', target: '/v1.2;x' });
  assert.deepEqual(canonicalTarget('/a.b%41..'), { path: '/a.bA', query: '', target: '/a.bA..' });
});

test('invalid UTF-8 is named by its bytes, and long client text is clipped at 24 characters', () => {
  assert.deepEqual(canonicalTarget('/%C0%AE'), {
    reason: 'invalid-utf8',
    message: "the path's encoded bytes C0AE are not valid UTF-8",
  });
  const scheme24 = 'abcdefghijklmnopqrstuvwx';
  assert.equal(
    (canonicalTarget(`${scheme24}://h/`) as { message: string }).message,
    `the request target uses the scheme "${scheme24}"`,
  );
  assert.equal(
    (canonicalTarget(`${scheme24}y://h/`) as { message: string }).message,
    `the request target uses the scheme "${scheme24}…"`,
  );
});
