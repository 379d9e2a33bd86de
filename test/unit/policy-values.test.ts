/**
 * The checkers of the small languages inside a policy file (values.ts): what each
 * accepts, what it answers, and the exact message an operator reads for what it
 * refuses. The last test shows the same messages arriving with their setting's path
 * and line when they come from a policy file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSluiceError } from '../../src/core/errors.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import type { Parsed } from '../../src/core/policy/units.ts';
import {
  MAX_THREADS,
  parseAddress,
  parseAuthScheme,
  parseCookieName,
  parseDailyRange,
  parseDataset,
  parseEnvName,
  parseHeaderName,
  parseHostPort,
  parseHttpUrl,
  parseListen,
  parseMethods,
  parseName,
  parseQueryParam,
  parseRedisUrl,
  parseRoutePath,
  parseText,
  parseThreads,
  parseTimeOfDay,
  parseTimeZone,
  parseWeekTime,
} from '../../src/core/policy/values.ts';

/** The value a checker answers; fails the test if it refused. */
function ok<T>(check: (v: unknown) => Parsed<T>, value: unknown): T {
  const p = check(value);
  assert.ok(p.ok, `${JSON.stringify(value)} was refused: ${p.ok ? '' : p.message}`);
  return p.value;
}

/** The message a checker answers; fails the test if it accepted. */
function refused<T>(check: (v: unknown) => Parsed<T>, value: unknown): string {
  const p = check(value);
  assert.ok(!p.ok, `${JSON.stringify(value)} was accepted as ${JSON.stringify(p.ok && p.value)}`);
  return p.message;
}

test('a listen address is HOST:PORT, trimmed, IPv6 in brackets, port 0 to 65535', () => {
  const bad = (v: string) =>
    `${v} is not a listen address: write HOST:PORT, for example 127.0.0.1:8080`;
  assert.deepEqual(ok(parseListen, ' 127.0.0.1:8080 '), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(ok(parseListen, '[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(ok(parseListen, 'localhost:65535'), { host: 'localhost', port: 65535 });
  assert.equal(
    refused(parseListen, '127.0.0.1:65536'),
    '"127.0.0.1:65536" has port 65536: a port is 0 to 65535',
  );
  assert.equal(refused(parseListen, 8080), bad('8080'));
  // Something before or after HOST:PORT is not part of an address.
  assert.equal(refused(parseListen, 'http://127.0.0.1:8080'), bad('"http://127.0.0.1:8080"'));
  assert.equal(refused(parseListen, '127.0.0.1:8080/x'), bad('"127.0.0.1:8080/x"'));
  // Brackets hold an IPv6 address only.
  assert.equal(refused(parseListen, '[10.0.0.1]:80'), bad('"[10.0.0.1]:80"'));
});

test('a Redis URL is redis:// or rediss:// with a host and at most a database number', () => {
  const bad = (v: string) =>
    `${v} is not a Redis URL: write redis://HOST:PORT (or rediss:// for TLS), for example redis://127.0.0.1:6379`;
  assert.equal(ok(parseRedisUrl, 'redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  assert.equal(
    ok(parseRedisUrl, 'rediss://:secret@cache:6380/12'),
    'rediss://:secret@cache:6380/12',
  );
  assert.equal(ok(parseRedisUrl, 'redis://cache/0'), 'redis://cache/0');
  assert.equal(refused(parseRedisUrl, 'http://cache:6379'), bad('"http://cache:6379"'));
  assert.equal(refused(parseRedisUrl, 'redis cache'), bad('"redis cache"'));
  // A redis: URL may have no host at all; sluice needs one.
  assert.equal(refused(parseRedisUrl, 'redis://'), bad('"redis://"'));
  assert.equal(refused(parseRedisUrl, 'redis:///0'), bad('"redis:///0"'));
  // A list that would read as a URL once turned into text is still no URL.
  assert.equal(refused(parseRedisUrl, ['redis://cache']), bad('a list'));
  assert.equal(
    refused(parseRedisUrl, 'redis://cache/123'),
    '"redis://cache/123" has path "/123": only a database number, like /0, may follow the address',
  );
});

test('a Redis Cluster node is HOST:PORT with a port from 1', () => {
  assert.deepEqual(ok(parseHostPort, '10.0.0.5:6379'), { host: '10.0.0.5', port: 6379 });
  assert.equal(
    refused(parseHostPort, 'cache'),
    '"cache" is not a node address: write HOST:PORT, for example 10.0.0.5:6379',
  );
  assert.equal(
    refused(parseHostPort, '10.0.0.5:0'),
    '"10.0.0.5:0" has port 0: a node listens on a port from 1 to 65535',
  );
});

test('an upstream URL is http:// or https://, kept as written', () => {
  const bad = (v: string) =>
    `${v} is not an http:// or https:// URL, for example http://127.0.0.1:3000`;
  assert.equal(ok(parseHttpUrl, 'https://api.example.com/v1'), 'https://api.example.com/v1');
  assert.equal(refused(parseHttpUrl, 'not a url'), bad('"not a url"'));
  assert.equal(refused(parseHttpUrl, 'ftp://files'), bad('"ftp://files"'));
  assert.equal(refused(parseHttpUrl, ['http://x']), bad('a list'));
});

test('an address is an IP or a CIDR range, trimmed, with a prefix in range', () => {
  const bad = (v: string) =>
    `${v} is not an IP address or CIDR range, for example 10.0.0.0/8 or ::1`;
  assert.equal(ok(parseAddress, ' 10.0.0.0/8 '), '10.0.0.0/8');
  assert.equal(ok(parseAddress, '10.0.0.1/32'), '10.0.0.1/32');
  assert.equal(ok(parseAddress, '::1/128'), '::1/128');
  assert.equal(ok(parseAddress, '::1'), '::1');
  assert.equal(refused(parseAddress, 'office'), bad('"office"'));
  assert.equal(refused(parseAddress, 10), bad('10'));
  assert.equal(refused(parseAddress, '10.0.0.0/8/9'), bad('"10.0.0.0/8/9"'));
  for (const prefix of ['33', 'x8', '8x', '']) {
    assert.equal(
      refused(parseAddress, `10.0.0.0/${prefix}`),
      `"10.0.0.0/${prefix}" is not a CIDR range: an IPv4 prefix is /0 to /32`,
    );
  }
  assert.equal(
    refused(parseAddress, '::/129'),
    '"::/129" is not a CIDR range: an IPv6 prefix is /0 to /128',
  );
});

test('a time zone is an IANA name, kept as written in its canonical case', () => {
  const bad = (v: string) =>
    `${v} is not an IANA time zone, for example America/New_York or Europe/Paris`;
  assert.equal(ok(parseTimeZone, 'Europe/Paris'), 'Europe/Paris');
  assert.equal(ok(parseTimeZone, 'europe/paris'), 'Europe/Paris');
  assert.equal(ok(parseTimeZone, 'utc'), 'UTC');
  // A link stays as written: Intl would answer America/New_York for it.
  assert.equal(ok(parseTimeZone, 'US/Eastern'), 'US/Eastern');
  // An Etc zone holds a sign, but not at the start.
  assert.equal(ok(parseTimeZone, 'Etc/GMT+5'), 'Etc/GMT+5');
  // A fixed offset does not follow daylight saving time, though Intl takes it.
  assert.equal(refused(parseTimeZone, '+01:00'), bad('"+01:00"'));
  assert.equal(refused(parseTimeZone, '-05:00'), bad('"-05:00"'));
  assert.equal(refused(parseTimeZone, 5), bad('5'));
  assert.equal(refused(parseTimeZone, ''), bad('""'));
  assert.equal(refused(parseTimeZone, 'Mars/Olympus'), bad('"Mars/Olympus"'));
  assert.equal(
    refused(parseTimeZone, 'UTX'),
    '"UTX" is not an IANA time zone (did you mean "UTC"?)',
  );
});

test('a time of day is HH:MM from 00:00 to 24:00, in minutes after midnight', () => {
  const bad = (v: string) => `"${v}" is not a time of day: write HH:MM from 00:00 to 24:00`;
  assert.deepEqual(parseTimeOfDay('01:30'), { ok: true, value: 90 });
  assert.deepEqual(parseTimeOfDay('9:59'), { ok: true, value: 599 });
  assert.deepEqual(parseTimeOfDay('24:00'), { ok: true, value: 1440 });
  for (const text of ['00:60', '24:01', 'noon', '101:00', '01:005', '']) {
    assert.deepEqual(parseTimeOfDay(text), { ok: false, message: bad(text) }, text);
  }
});

test('a week time is DAY HH:MM, the day in three letters or in full, any case', () => {
  const days = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
  for (const [day, name] of days.entries()) {
    assert.deepEqual(ok(parseWeekTime, `${name} 10:00`), { day, minute: 600 }, name);
    const short = name.slice(0, 3);
    assert.deepEqual(ok(parseWeekTime, `${short.toUpperCase()} 10:00`), { day, minute: 600 });
  }
  assert.deepEqual(ok(parseWeekTime, ' Sat  00:00 '), { day: 6, minute: 0 });
  const bad = (v: string) => `${v} is not a day and time: write DAY HH:MM, for example "Sat 00:00"`;
  assert.equal(refused(parseWeekTime, 6), bad('6'));
  assert.equal(refused(parseWeekTime, '1Sat 00:00'), bad('"1Sat 00:00"'));
  assert.equal(refused(parseWeekTime, 'Sat 00:00 UTC'), bad('"Sat 00:00 UTC"'));
  assert.equal(
    refused(parseWeekTime, 'Satur 00:00'),
    '"Satur" is not a day: write Mon, Tue, Wed, Thu, Fri, Sat or Sun',
  );
  assert.equal(
    refused(parseWeekTime, 'Sat 25:00'),
    '"25:00" is not a time of day: write HH:MM from 00:00 to 24:00',
  );
});

test('a daily window is HH:MM-HH:MM, trimmed, not empty, and may cross midnight', () => {
  assert.deepEqual(ok(parseDailyRange, ' 22:00 - 02:00 '), { from: 1320, to: 120 });
  assert.deepEqual(ok(parseDailyRange, '01:00-03:00'), { from: 60, to: 180 });
  const bad = (v: string) =>
    `${v} is not a daily window: write HH:MM-HH:MM, for example "01:00-03:00"`;
  assert.equal(refused(parseDailyRange, 1), bad('1'));
  assert.equal(refused(parseDailyRange, 'from 01:00-03:00'), bad('"from 01:00-03:00"'));
  assert.equal(refused(parseDailyRange, '01:00-03:00 daily'), bad('"01:00-03:00 daily"'));
  const time = (v: string) => `"${v}" is not a time of day: write HH:MM from 00:00 to 24:00`;
  assert.equal(refused(parseDailyRange, '25:00-03:00'), time('25:00'));
  assert.equal(refused(parseDailyRange, '01:00-3pm'), time('3pm'));
  assert.equal(
    refused(parseDailyRange, '03:00-03:00'),
    '"03:00-03:00" starts and ends at the same time, so it is empty',
  );
});

test('a route path: its :name segments answered, each mistake said', () => {
  assert.deepEqual(ok(parseRoutePath, '/api/search'), []);
  assert.deepEqual(ok(parseRoutePath, '/api/exports/:dataset'), ['dataset']);
  assert.deepEqual(ok(parseRoutePath, '/api/:collection(companies|devices)/*/:id/**'), [
    'collection',
    'id',
  ]);
  assert.deepEqual(ok(parseRoutePath, '/api/'), []);
  const mistakes: [string, string][] = [
    [
      'api/search',
      '"api/search" is not a route path: it must start with "/", for example /api/search, /api/reports/**, /api/exports/:dataset or /api/:collection(companies|devices)',
    ],
    [
      '/api/search?q=1',
      '"/api/search?q=1" is not a route path: no spaces, "?" or "#" (match the query with query:)',
    ],
    [
      '/api/my reports',
      '"/api/my reports" is not a route path: no spaces, "?" or "#" (match the query with query:)',
    ],
    ['/api//search', '"/api//search" has an empty segment ("//")'],
    ['/api/**/items', '"/api/**/items": "**" may only end a path'],
    ['/api/a*', '"/api/a*": "*" and "**" must be whole segments, like /api/*/items'],
    ['/api/:1st', '"/api/:1st": ":1st" needs a name of letters, digits and _'],
    ['/api/:a-b', '"/api/:a-b": ":a-b" needs a name of letters, digits and _'],
    ['/api/:a(b)c', '"/api/:a(b)c": ":a(b)c" needs a name of letters, digits and _'],
    ['/api/:a(b)c:d', '"/api/:a(b)c:d": ":a(b)c:d" needs a name of letters, digits and _'],
    [
      '/api/:kind(a||b)',
      '"/api/:kind(a||b)": ":kind(a||b)" lists its values as :kind(a|b|c), each value one or more characters',
    ],
    ['/api/:id/items/:id', '"/api/:id/items/:id" names ":id" twice'],
  ];
  for (const [path, message] of mistakes) assert.equal(refused(parseRoutePath, path), message);
  assert.equal(
    refused(parseRoutePath, 5),
    '5 is not a route path: it must start with "/", for example /api/search, /api/reports/**, /api/exports/:dataset or /api/:collection(companies|devices)',
  );
});

test('header, scheme, query parameter and cookie names: what each accepts and says', () => {
  assert.equal(ok(parseHeaderName, 'X-Api-Key'), 'X-Api-Key');
  assert.equal(
    refused(parseHeaderName, 'X Api Key'),
    '"X Api Key" is not a header name: use letters, digits and -',
  );
  assert.equal(ok(parseAuthScheme, 'Bearer'), 'Bearer');
  assert.equal(
    refused(parseAuthScheme, 'Bearer:'),
    '"Bearer:" is not an Authorization scheme: use letters, digits and -, like Bearer',
  );
  assert.equal(ok(parseQueryParam, 'api_key'), 'api_key');
  assert.equal(
    refused(parseQueryParam, 'api key'),
    '"api key" is not a query parameter name: use letters, digits, ".", "_", "~" and "-"',
  );
  assert.equal(ok(parseCookieName, 'sid'), 'sid');
  const cookie = (v: string) => `${v} is not a cookie name: use letters, digits, - and _`;
  assert.equal(refused(parseCookieName, 'sid;x'), cookie('"sid;x"'));
  assert.equal(refused(parseCookieName, 7), cookie('7'));
});

test('a list is no name, even one whose only item would be', () => {
  const cases: [(v: unknown) => Parsed<string>, string][] = [
    [parseHeaderName, 'a list is not a header name: use letters, digits and -'],
    [
      parseAuthScheme,
      'a list is not an Authorization scheme: use letters, digits and -, like Bearer',
    ],
    [
      parseQueryParam,
      'a list is not a query parameter name: use letters, digits, ".", "_", "~" and "-"',
    ],
    [parseCookieName, 'a list is not a cookie name: use letters, digits, - and _'],
    [parseName, 'a list is not a name: use letters, digits, ".", "-" and "_"'],
    [
      parseDataset,
      'a list is not a dataset: write a name like companies, or ":segment" to take it from the path',
    ],
    [parseEnvName, 'a list is not an environment variable name, for example SLUICE_SECRET'],
  ];
  for (const [check, message] of cases) assert.equal(refused(check, ['Key']), message);
});

test('methods: one or a list, any case, answered upper-case once each', () => {
  assert.deepEqual(ok(parseMethods, 'get'), ['GET']);
  assert.deepEqual(ok(parseMethods, ['get', 'GET', 'Head']), ['GET', 'HEAD']);
  assert.equal(refused(parseMethods, []), 'lists no method (leave method out to match any method)');
  const bad = (v: string) =>
    `${v} is not an HTTP method: use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`;
  assert.equal(refused(parseMethods, ['GET', 5]), bad('5'));
  assert.equal(refused(parseMethods, 'FETCH'), bad('"FETCH"'));
});

test('names, datasets and environment variable names', () => {
  assert.equal(ok(parseName, 'bulk-export.v2'), 'bulk-export.v2');
  assert.equal(
    refused(parseName, 'bulk export'),
    '"bulk export" is not a name: use letters, digits, ".", "-" and "_"',
  );
  assert.equal(ok(parseDataset, ':dataset'), ':dataset');
  assert.equal(ok(parseDataset, 'audit-log'), 'audit-log');
  const dataset = (v: string) =>
    `${v} is not a dataset: write a name like companies, or ":segment" to take it from the path`;
  assert.equal(refused(parseDataset, '-log'), dataset('"-log"'));
  assert.equal(refused(parseDataset, 'audit log'), dataset('"audit log"'));
  assert.equal(ok(parseEnvName, 'SLUICE_SECRET'), 'SLUICE_SECRET');
  assert.equal(
    refused(parseEnvName, 'SLUICE-SECRET'),
    '"SLUICE-SECRET" is not an environment variable name, for example SLUICE_SECRET',
  );
});

test('threads: auto or a whole number from 1 to 256', () => {
  assert.equal(MAX_THREADS, 256);
  assert.equal(ok(parseThreads, 'auto'), 'auto');
  assert.equal(ok(parseThreads, 1), 1);
  assert.equal(ok(parseThreads, 256), 256);
  const bad = (v: string) =>
    `${v} is not a thread count: write a whole number from 1 to 256, or auto (one per core)`;
  for (const [value, shown] of [
    [0, '0'],
    [257, '257'],
    [1.5, '1.5'],
    ['2', '"2"'],
    ['many', '"many"'],
  ] as const) {
    assert.equal(refused(parseThreads, value), bad(shown));
  }
});

test('text must be text, and not blank', () => {
  assert.equal(ok(parseText, ' x '), ' x ');
  assert.equal(refused(parseText, ''), 'must not be empty');
  assert.equal(refused(parseText, '   '), 'must not be empty');
  assert.equal(refused(parseText, 5), 'expected text, got 5');
});

test('in a policy file the same messages come with the setting and its line', () => {
  const text = [
    'server:',
    '  threads: 0',
    'routes:',
    '  - { name: a, path: /api//a }',
    '  - { name: b, path: /api/b, method: [] }',
    'offHours:',
    '  timeZone: "+01:00"',
    '  windows:',
    '    - { daily: "03:00-03:00" }',
    '',
  ].join('\n');
  try {
    parsePolicyText(text, 'values.yaml');
    assert.fail('accepted');
  } catch (error) {
    assert.ok(isSluiceError(error));
    assert.deepEqual(
      error.problems.map((p) => [p.path, p.line, p.message]),
      [
        [
          'server.threads',
          2,
          '0 is not a thread count: write a whole number from 1 to 256, or auto (one per core)',
        ],
        ['routes[0].path', 4, '"/api//a" has an empty segment ("//")'],
        ['routes[1].method', 5, 'lists no method (leave method out to match any method)'],
        [
          'offHours.timeZone',
          7,
          '"+01:00" is not an IANA time zone, for example America/New_York or Europe/Paris',
        ],
        [
          'offHours.windows[0].daily',
          9,
          '"03:00-03:00" starts and ends at the same time, so it is empty',
        ],
      ],
    );
  }
});
