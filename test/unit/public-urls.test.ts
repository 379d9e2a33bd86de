/**
 * The rewrite of upstream URLs in Location, Content-Location and Link to the public base
 * (core/public-urls.ts): what is moved, what is left alone, and that nothing malformed is
 * changed or throws.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rewriteUrlHeader, urlMapping } from '../../src/core/public-urls.ts';

const map = urlMapping('http://10.0.0.5:3000', 'https://api.example.com');
const based = urlMapping('http://10.0.0.5:3000/v1/', 'https://example.com/api/');
if (map === undefined || based === undefined) throw new Error('mappings must parse');

test('urlMapping normalises origins and trims trailing slashes; non-http(s) is no mapping', () => {
  assert.deepEqual(based, {
    origin: 'http://10.0.0.5:3000',
    basePath: '/v1',
    publicBase: 'https://example.com/api',
  });
  assert.deepEqual(urlMapping('HTTP://LOCALHOST:80', 'http://gw:8080'), {
    origin: 'http://localhost',
    basePath: '',
    publicBase: 'http://gw:8080',
  });
  assert.equal(urlMapping('ftp://x', 'https://a'), undefined);
  assert.equal(urlMapping('http://x', 'not a url'), undefined);
});

test('Location and Content-Location under the upstream move to the public base', () => {
  const cases: [string, string][] = [
    ['http://10.0.0.5:3000/items/2', 'https://api.example.com/items/2'],
    [
      'http://10.0.0.5:3000/items?page=2&x=%2F#top',
      'https://api.example.com/items?page=2&x=%2F#top',
    ],
    ['HTTP://10.0.0.5:3000/Case/Kept', 'https://api.example.com/Case/Kept'],
    ['http://10.0.0.5:3000', 'https://api.example.com'],
    ['http://10.0.0.5:3000?q=1', 'https://api.example.com/?q=1'],
  ];
  for (const [from, to] of cases) {
    assert.equal(rewriteUrlHeader('Location', from, map), to, from);
    assert.equal(rewriteUrlHeader('content-location', from, map), to, from);
  }
});

test('other origins, relative URLs and user info are left alone', () => {
  for (const value of [
    '/items/2',
    'items/2',
    '//10.0.0.5:3000/items',
    'http://10.0.0.5:3001/items',
    'https://10.0.0.5:3000/items',
    'http://10.0.0.50:3000/items',
    'http://elsewhere.example/items',
    'http://user@10.0.0.5:3000/items',
    'mailto:ops@example.com',
  ]) {
    assert.equal(rewriteUrlHeader('location', value, map), value, value);
  }
});

test('a base path maps to the public base, and only URLs under it', () => {
  assert.equal(
    rewriteUrlHeader('location', 'http://10.0.0.5:3000/v1/items/2', based),
    'https://example.com/api/items/2',
  );
  assert.equal(
    rewriteUrlHeader('location', 'http://10.0.0.5:3000/v1?page=2', based),
    'https://example.com/api/?page=2',
  );
  for (const outside of ['http://10.0.0.5:3000/v2/items', 'http://10.0.0.5:3000/v1x/items']) {
    assert.equal(rewriteUrlHeader('location', outside, based), outside);
  }
});

test('each target of a Link list is rewritten, its parameters kept as they were', () => {
  const link =
    '<http://10.0.0.5:3000/items?page=2>; rel="next", <http://10.0.0.5:3000/items?page=9>; rel="last"; title="a, <b>", <https://docs.example/x>; rel=help';
  assert.equal(
    rewriteUrlHeader('Link', link, map),
    '<https://api.example.com/items?page=2>; rel="next", <https://api.example.com/items?page=9>; rel="last"; title="a, <b>", <https://docs.example/x>; rel=help',
  );
});

test('a malformed Link is passed on whole, never half rewritten', () => {
  for (const value of [
    'http://10.0.0.5:3000/items; rel="next"',
    '<http://10.0.0.5:3000/items; rel="next"',
    '<http://10.0.0.5:3000/a>; rel="next, <http://10.0.0.5:3000/b>',
    '<http://10.0.0.5:3000/a>; rel=next <http://10.0.0.5:3000/b>',
    '<http://10.0.0.5:3000/a>, garbage',
  ]) {
    assert.equal(rewriteUrlHeader('link', value, map), value, value);
  }
  assert.equal(rewriteUrlHeader('link', '', map), '');
});

test('a URL that does not parse and other headers are untouched', () => {
  assert.equal(rewriteUrlHeader('location', 'http://[bad/items', map), 'http://[bad/items');
  assert.equal(
    rewriteUrlHeader('refresh', '0; url=http://10.0.0.5:3000/x', map),
    '0; url=http://10.0.0.5:3000/x',
  );
});

test('URL_HEADERS names exactly the three headers rewritten', async () => {
  const { URL_HEADERS } = await import('../../src/core/public-urls.ts');
  assert.deepEqual([...URL_HEADERS], ['location', 'content-location', 'link']);
});

test('a base path written without a trailing slash is kept whole', () => {
  assert.deepEqual(urlMapping('http://10.0.0.5:3000/v1', 'https://example.com/api'), {
    origin: 'http://10.0.0.5:3000',
    basePath: '/v1',
    publicBase: 'https://example.com/api',
  });
});

test('a header not among the three keeps an upstream URL as it came', () => {
  for (const name of ['x-upstream', 'content-base', 'referer']) {
    assert.equal(
      rewriteUrlHeader(name, 'http://10.0.0.5:3000/x', map),
      'http://10.0.0.5:3000/x',
      name,
    );
  }
});

test('an upstream URL inside another value is not an origin at its start', () => {
  for (const value of ['/go?to=http://10.0.0.5:3000/a', ' http://10.0.0.5:3000/a']) {
    assert.equal(rewriteUrlHeader('location', value, map), value, value);
  }
});

test('the base itself, and the base with a fragment, are under the base', () => {
  assert.equal(
    rewriteUrlHeader('location', 'http://10.0.0.5:3000/v1', based),
    'https://example.com/api',
  );
  assert.equal(
    rewriteUrlHeader('location', 'http://10.0.0.5:3000/v1#top', based),
    'https://example.com/api/#top',
  );
});

test('Link: tabs, commas and spaces between and after links are kept as they were', () => {
  assert.equal(
    rewriteUrlHeader('link', '<http://10.0.0.5:3000/a>,\t<http://10.0.0.5:3000/b>', map),
    '<https://api.example.com/a>,\t<https://api.example.com/b>',
  );
  assert.equal(
    rewriteUrlHeader('link', ' \t<http://10.0.0.5:3000/a>; rel=next, ', map),
    ' \t<https://api.example.com/a>; rel=next, ',
  );
});

test('Link: an escaped quote inside a quoted parameter does not end it', () => {
  assert.equal(
    rewriteUrlHeader(
      'link',
      '<http://10.0.0.5:3000/a>; title="a\\"b, c", <http://10.0.0.5:3000/b>',
      map,
    ),
    '<https://api.example.com/a>; title="a\\"b, c", <https://api.example.com/b>',
  );
});

test('Link: text before the first < or a < never closed is passed on whole', () => {
  for (const value of [
    'x <http://10.0.0.5:3000/a>',
    'rel=next, <http://10.0.0.5:3000/a>',
    '<http://10.0.0.5:3000/a',
    '<http://10.0.0.5:3000/a>, <http://10.0.0.5:3000/b',
  ]) {
    assert.equal(rewriteUrlHeader('link', value, map), value, value);
  }
});
