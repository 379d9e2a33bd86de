/**
 * Reading a request's credential from the policy's sources: every source is read, the
 * same key in several places is that key, two different keys are a conflict; a
 * stripped query credential leaves the other parameters as they were; the identity
 * section's mistakes are named where they are.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { isSluiceError } from '../../src/core/errors.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import type { CredentialSource } from '../../src/core/policy/types.ts';
import { credentialOf, withoutQueryParams } from '../../src/gateway/api-key-header.ts';
import { describePolicy } from '../../src/words/describe-policy.ts';

const BEARER: CredentialSource = { kind: 'authorization', scheme: 'Bearer' };
const HEADER: CredentialSource = { kind: 'header', name: 'x-api-key' };
const QUERY: CredentialSource = { kind: 'query', name: 'api_key' };
const ALL = [BEARER, HEADER, QUERY];

const req = (
  headers: Record<string, string | string[]>,
  url = '/x',
  distinct?: Record<string, string[]>,
) => ({ headers, url, headersDistinct: distinct }) as unknown as IncomingMessage;

test('no credential anywhere: undefined; an empty or other-scheme Authorization is none', () => {
  assert.equal(credentialOf(req({}), ALL), undefined);
  assert.equal(credentialOf(req({ authorization: 'Bearer   ' }), ALL), undefined);
  assert.equal(credentialOf(req({ authorization: 'Basic dXNlcjpwdw==' }), ALL), undefined);
  assert.equal(credentialOf(req({}, '/x?page=2&api_key='), ALL), undefined);
});

test('each source alone; the scheme in any case', () => {
  assert.deepEqual(credentialOf(req({ authorization: 'bearer k1' }), ALL), {
    credential: 'k1',
    sources: [BEARER],
  });
  assert.deepEqual(credentialOf(req({ 'x-api-key': ' k1 ' }), ALL), {
    credential: 'k1',
    sources: [HEADER],
  });
  assert.deepEqual(credentialOf(req({}, '/x?a=1&api_key=k%2F1'), ALL), {
    credential: 'k/1',
    sources: [QUERY],
  });
});

test('the same key in several places is that key; two different keys are a conflict', () => {
  assert.deepEqual(
    credentialOf(req({ authorization: 'Bearer k1', 'x-api-key': 'k1' }, '/x?api_key=k1'), ALL),
    {
      credential: 'k1',
      sources: ALL,
    },
  );
  assert.deepEqual(credentialOf(req({ authorization: 'Bearer k1', 'x-api-key': 'k2' }), ALL), {
    conflict: [BEARER, HEADER],
  });
  assert.deepEqual(credentialOf(req({}, '/x?api_key=k1&api_key=k2'), ALL), { conflict: [QUERY] });
  // Node keeps only the first Authorization in `headers`; the distinct values show both.
  assert.deepEqual(
    credentialOf(
      req({ authorization: 'Bearer k1' }, '/x', { authorization: ['Bearer k1', 'Bearer k2'] }),
      ALL,
    ),
    { conflict: [BEARER] },
  );
});

test('only the listed sources are read', () => {
  assert.equal(credentialOf(req({ authorization: 'Bearer k1' }), [HEADER]), undefined);
  assert.deepEqual(credentialOf(req({ authorization: 'Bearer k1', 'x-api-key': 'k2' }), [HEADER]), {
    credential: 'k2',
    sources: [HEADER],
  });
});

/** A request as Node gives it: `rawHeaders` holds every name and value, as sent. */
const raw = (pairs: string[], headers: Record<string, string | string[]> = {}) =>
  ({ headers, url: '/x', rawHeaders: pairs }) as unknown as IncomingMessage;

test('raw headers: names in any case, only the name asked, every value, values not names', () => {
  assert.equal(credentialOf(raw([]), ALL), undefined);
  assert.equal(credentialOf(raw(['Host', 'h', 'Accept', '*/*']), ALL), undefined);
  assert.deepEqual(credentialOf(raw(['Host', 'h', 'X-API-KEY', 'k1']), ALL), {
    credential: 'k1',
    sources: [HEADER],
  });
  assert.deepEqual(credentialOf(raw(['x-api-key', 'k1', 'Host', 'h']), [HEADER]), {
    credential: 'k1',
    sources: [HEADER],
  });
  // A name as long as the one asked, or starting with it, is another header.
  assert.equal(credentialOf(raw(['X-Api-Kez', 'k1', 'X-Api-Keys', 'k2']), ALL), undefined);
  // Node keeps only the first Authorization in `headers`: the raw pairs show the second.
  assert.deepEqual(
    credentialOf(
      raw(['Authorization', 'Bearer k1', 'Host', 'h', 'authorization', 'Bearer k2'], {
        authorization: 'Bearer k1',
      }),
      ALL,
    ),
    { conflict: [BEARER] },
  );
  assert.deepEqual(credentialOf(raw(['X-Api-Key', 'k1', 'x-api-key', 'k1']), ALL), {
    credential: 'k1',
    sources: [HEADER],
  });
  // A last name without its value (never from Node's parser) is no value.
  assert.deepEqual(credentialOf(raw(['X-Api-Key', 'k1', 'X-Api-Key']), ALL), {
    credential: 'k1',
    sources: [HEADER],
  });
});

test('a header given as several values without headersDistinct: each is read', () => {
  assert.deepEqual(credentialOf(req({ 'x-api-key': ['k1', 'k2'] }), ALL), { conflict: [HEADER] });
});

test('Authorization: the scheme, one space, then the key; another scheme of the same length is none', () => {
  assert.equal(credentialOf(req({ authorization: 'BearerXk1' }), ALL), undefined);
  assert.equal(credentialOf(req({ authorization: 'Digest k1' }), ALL), undefined);
  assert.deepEqual(credentialOf(req({ authorization: 'BEARER k1' }), ALL), {
    credential: 'k1',
    sources: [BEARER],
  });
});

test('a query credential is read from the query only, not from a path holding & or =', () => {
  assert.equal(credentialOf(req({}, '/x&api_key=k1'), ALL), undefined);
  assert.equal(credentialOf(req({}, '/api_key=k1'), ALL), undefined);
});

test('withoutQueryParams removes only the named parameters, encoded or not', () => {
  assert.equal(withoutQueryParams('/a?api_key=k&page=2', ['api_key']), '/a?page=2');
  assert.equal(
    withoutQueryParams('/a?page=2&api%5Fkey=k&q=x%20y', ['api_key']),
    '/a?page=2&q=x%20y',
  );
  assert.equal(withoutQueryParams('/a?api_key=k', ['api_key']), '/a');
  assert.equal(withoutQueryParams('/a', ['api_key']), '/a');
  assert.equal(withoutQueryParams('/a?api_keys=k', ['api_key']), '/a?api_keys=k');
  // `+` is a space in a query, as URLSearchParams reads the name.
  assert.equal(withoutQueryParams('/a?api+key=k&page=2', ['api key']), '/a?page=2');
  // A malformed escape is kept as written, as URLSearchParams keeps it.
  assert.equal(withoutQueryParams('/a?key%zz=k&page=2', ['key%zz']), '/a?page=2');
});

test('identity mistakes are named with their path', () => {
  const mistakes = (yaml: string) => {
    try {
      parsePolicyText(yaml, 'p.yaml', {});
      return [];
    } catch (error) {
      assert.ok(isSluiceError(error));
      return error.problems.map((p) => `${p.path}: ${p.message}`);
    }
  };
  assert.deepEqual(mistakes('identity:\n  credentials: [ {header: X-Key, query: k} ]\n'), [
    'identity.credentials[0]: a credential source names one of header, authorization or query, not header and query: write one entry each',
  ]);
  assert.deepEqual(mistakes('identity:\n  credentials: [ {header: Authorization} ]\n'), [
    'identity.credentials[0].header: the Authorization header carries a scheme: write { authorization: Bearer }',
  ]);
  assert.deepEqual(mistakes('identity:\n  credentials: [ {query: api_key}, {query: api_key} ]\n'), [
    'identity.credentials[1]: query api_key is listed twice',
  ]);
  assert.deepEqual(mistakes('identity:\n  delegate: { timeout: 1s }\n'), [
    'identity.delegate: missing required setting "url"',
  ]);
  assert.equal(
    mistakes('identity:\n  delegate: { url: "http://127.0.0.1:9/x", onFailure: maybe }\n').length,
    1,
  );
});

test('sluice check shows where keys are read, which are stripped, and the delegate', () => {
  const text = describePolicy(
    parsePolicyText(
      'identity:\n  credentials: [ {header: X-Partner-Key}, {query: api_key} ]\n  delegate: { url: "http://127.0.0.1:9/identity", onFailure: anonymous }\n',
      'p.yaml',
      {},
    ),
  );
  assert.match(
    text,
    /keys read from X-Partner-Key, \?api_key \(two different keys in one request: 400\)/,
  );
  assert.match(text, /stripped before forwarding: sluice keys/);
  assert.match(
    text,
    /delegate http:\/\/127\.0\.0\.1:9\/identity: timeout 2s, kept 5m \(unknown 1m\), 10000 entries; down: anonymous/,
  );
});
