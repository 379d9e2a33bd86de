/**
 * One fixture per kind of mistake in test/fixtures/policy/, each with the exact
 * messages, paths and lines sluice must report. A fixture without an entry here fails.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isSluiceError } from '../../src/core/errors.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { ProblemList } from '../../src/core/policy/problems.ts';

const DIR = new URL('../fixtures/policy/', import.meta.url);
const INVALID = 'SLUICE_ERR_POLICY_INVALID';
const YAML = 'SLUICE_ERR_POLICY_YAML';

/** [path, line, message] */
type Expected = [string, number, string];

const TIMER_WHY = 'sluice waits this long with a timer, and timers cannot wait more than 24.8 days';
const DURATION_HINT = 'write a number and a unit, for example 30s, 15m, 2h or 30d';

const MISTAKES: Record<string, { code?: string; problems: Expected[] }> = {
  'unknown-key.yaml': {
    problems: [['plans.standard.brust', 4, 'unknown setting "brust" (did you mean "burst"?)']],
  },
  'unknown-key-no-suggestion.yaml': {
    problems: [
      [
        'ip.colour',
        4,
        'unknown setting "colour" (known here: warn, block, concurrency, sharedEgress)',
      ],
    ],
  },
  'bad-rate.yaml': {
    problems: [
      ['ip.warn', 3, '"100 per minute" is not a rate: write COUNT/UNIT, for example 100/min'],
    ],
  },
  'bad-rate-unit.yaml': {
    problems: [
      [
        'bulk.allow',
        3,
        '"1/month" is not a rate: "month" is not a unit (use ms, s, m (or min), h, d or w)',
      ],
    ],
  },
  'zero-rate.yaml': {
    problems: [['ip.block', 3, '"0/min" lets nothing through: the count must be more than 0']],
  },
  'bad-duration.yaml': {
    problems: [['plans.standard.maxDelay', 4, `"ten seconds" is not a duration: ${DURATION_HINT}`]],
  },
  'bad-duration-unit.yaml': {
    problems: [
      [
        'server.upstreamTimeout',
        3,
        '"5y" is not a duration: "y" is not a unit (use ms, s, m (or min), h, d or w)',
      ],
    ],
  },
  'huge-rate.yaml': {
    problems: [
      [
        'ip.block',
        3,
        '"1000000000000000000000000/min" is more than sluice counts: at most 1000000000 per period (RateLimit headers carry the count as a whole number)',
      ],
      [
        'routes[0].rate',
        5,
        '"2000000000/s" is more than sluice counts: at most 1000000000 per period (RateLimit headers carry the count as a whole number)',
      ],
    ],
  },
  'timer-too-long.yaml': {
    problems: [
      ['server.upstreamTimeout', 3, `"25d" is too long here: at most 24d (${TIMER_WHY})`],
      ['plans.standard.maxDelay', 6, `"30d" is too long here: at most 24d (${TIMER_WHY})`],
      ['plans.standard.queueTimeout', 7, `"4w" is too long here: at most 24d (${TIMER_WHY})`],
    ],
  },
  'duration-too-long.yaml': {
    problems: [
      [
        'safeguards.afterAuthFailure.durations[2]',
        4,
        '"100000000000d" is too long: a duration is at most 3650d (ten years)',
      ],
    ],
  },
  'long-value.yaml': {
    problems: [
      [
        'ip.warn',
        3,
        `"${'A'.repeat(60)}…" (10240 characters) is not a rate: write COUNT/UNIT, for example 100/min`,
      ],
      [
        `ip.${'B'.repeat(60)}… (1000 characters)`,
        4,
        `unknown setting "${'B'.repeat(60)}…" (1000 characters) (known here: warn, block, concurrency, sharedEgress)`,
      ],
    ],
  },
  'bad-type.yaml': {
    problems: [['plans.standard.burst', 4, 'expected a whole number, got "ten"']],
  },
  'bad-boolean.yaml': {
    problems: [['offHours.confineBatch', 3, 'expected true or false, got "yes"']],
  },
  'below-minimum.yaml': {
    problems: [['plans.standard.concurrency', 4, 'must be at least 1, got 0']],
  },
  'bad-enum.yaml': {
    problems: [
      ['routes[0].class', 5, 'must be one of: public, non-public, bulk, batch; got "private"'],
    ],
  },
  'bad-version.yaml': { problems: [['version', 2, 'must be 1, got 2']] },
  'bad-listen.yaml': {
    problems: [
      [
        'server.listen',
        3,
        '"localhost" is not a listen address: write HOST:PORT, for example 127.0.0.1:8080',
      ],
    ],
  },
  'bad-port.yaml': {
    problems: [['server.listen', 3, '"127.0.0.1:99999" has port 99999: a port is 0 to 65535']],
  },
  'bad-url.yaml': {
    problems: [
      [
        'server.upstream',
        3,
        '"ftp://files.example.com" is not an http:// or https:// URL, for example http://127.0.0.1:3000',
      ],
    ],
  },
  'bad-cidr.yaml': {
    problems: [
      [
        'server.trustedProxies[1]',
        5,
        '"10.0.0.0/33" is not a CIDR range: an IPv4 prefix is /0 to /32',
      ],
    ],
  },
  'bad-header-name.yaml': {
    problems: [
      [
        'server.identityHeaders.account',
        4,
        '"X Sluice Account" is not a header name: use letters, digits and -',
      ],
    ],
  },
  'bad-time-zone.yaml': {
    problems: [
      [
        'offHours.timeZone',
        3,
        '"America/New_Yrok" is not an IANA time zone (did you mean "America/New_York"?)',
      ],
    ],
  },
  'bad-window-time.yaml': {
    problems: [
      [
        'offHours.windows[0].daily',
        4,
        '"25:00" is not a time of day: write HH:MM from 00:00 to 24:00',
      ],
    ],
  },
  'bad-window-day.yaml': {
    problems: [
      [
        'offHours.windows[0].from',
        4,
        '"Sta" is not a day: write Mon, Tue, Wed, Thu, Fri, Sat or Sun',
      ],
    ],
  },
  'incomplete-window.yaml': {
    problems: [
      [
        'offHours.windows[0]',
        4,
        'a window needs from and to (like from: "Sat 00:00", to: "Sun 20:00"), or daily (like daily: "01:00-03:00")',
      ],
    ],
  },
  'empty-window.yaml': {
    problems: [
      ['offHours.windows[0].to', 5, 'from and to are the same time, so the window is empty'],
    ],
  },
  'warn-not-below-block.yaml': {
    problems: [
      [
        'ip.warn',
        3,
        'warn (250/min) must be lower than block (200/min): the warning comes before the block',
      ],
    ],
  },
  'bad-size.yaml': {
    problems: [
      [
        'server.bufferBody',
        3,
        '"1 megabyte" is not a size: "megabyte" is not a unit (use B, KiB, MiB, GiB, KB, MB or GB)',
      ],
    ],
  },
  'keyless-not-below-pool.yaml': {
    problems: [
      [
        'server.unauthenticatedConcurrency',
        3,
        'unauthenticatedConcurrency (300) must be lower than upstreamConnections (256), so callers without a key can never hold every upstream connection',
      ],
    ],
  },
  'ip-periods-differ.yaml': {
    problems: [
      [
        'ip.warn',
        3,
        'warn (100/min) and block (3000/h) must count over the same period, like 100/min and 200/min',
      ],
    ],
  },
  'min-above-max.yaml': {
    problems: [['plans.standard.min', 4, 'min (700/min) must not be more than max (600/min)']],
  },
  'default-plan-unknown.yaml': {
    problems: [['defaultPlan', 2, '"gold" is not one of the plans: standard, enterprise']],
  },
  'bad-plan-name.yaml': {
    problems: [
      [
        'plans["my plan"]',
        5,
        'plan name "my plan" is not a name: use letters, digits, ".", "-" and "_"',
      ],
    ],
  },
  'duplicate-route-name.yaml': {
    problems: [['routes[1].name', 5, 'route name "search" is already used by routes[0]']],
  },
  'route-missing-path.yaml': {
    problems: [['routes[0]', 3, 'missing required setting "path"']],
  },
  'bad-route-path.yaml': {
    problems: [['routes[0].path', 4, '"/api/**/search": "**" may only end a path']],
  },
  'bad-route-values.yaml': {
    problems: [
      [
        'routes[0].path',
        4,
        '"/api/:collection(companies||devices)": ":collection(companies||devices)" lists its values as :collection(a|b|c), each value one or more characters',
      ],
    ],
  },
  'bad-method.yaml': {
    problems: [
      [
        'routes[0].method',
        4,
        '"FETCH" is not an HTTP method: use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
      ],
    ],
  },
  'dataset-segment-missing.yaml': {
    problems: [
      [
        'routes[0].dataset',
        6,
        '":set" is not a segment of the path /api/exports/:dataset (its named segments: :dataset)',
      ],
    ],
  },
  'dataset-not-bulk.yaml': {
    problems: [
      [
        'routes[0].dataset',
        5,
        'dataset applies only to bulk routes; this route\'s class is "public"',
      ],
    ],
  },
  'revoke-with-durations.yaml': {
    problems: [
      ['safeguards.malformedStorm.durations', 5, 'action revoke is permanent: remove durations'],
    ],
  },
  'suspend-without-durations.yaml': {
    problems: [
      [
        'safeguards.nonPublicAutomation.action',
        4,
        'action suspend needs durations, for example durations: [15m, 1h, 1d]',
      ],
    ],
  },
  'revoke-after-not-suspend.yaml': {
    problems: [
      ['safeguards.afterAuthFailure.revokeAfter', 4, 'revokeAfter applies only to action suspend'],
    ],
  },
  'webhook-without-secret.yaml': {
    problems: [
      [
        'webhooks[0]',
        3,
        'a webhook needs secret (its signing key) or secretEnv (the environment variable that holds it)',
      ],
    ],
  },
  'webhook-two-secrets.yaml': {
    problems: [['webhooks[0].secretEnv', 5, 'give secret or secretEnv, not both']],
  },
  'missing-env-var.yaml': {
    problems: [
      ['webhooks[0].secretEnv', 4, 'the environment variable SLUICE_TEST_UNSET_SECRET is not set'],
    ],
  },
  'empty-events.yaml': {
    problems: [['webhooks[0].events', 5, 'must list at least one']],
  },
  'section-not-mapping.yaml': {
    problems: [['ip', 2, 'expected a mapping of settings, got "100/min"']],
  },
  'not-a-mapping.yaml': {
    problems: [
      ['', 2, 'the policy must be a mapping of settings (like "ip:" and "plans:"), got a list'],
    ],
  },
  'yaml-syntax.yaml': {
    code: YAML,
    problems: [['', 4, 'the indentation is wrong here (or a bracket is not closed)']],
  },
  'duplicate-key.yaml': {
    code: YAML,
    problems: [['', 4, '"warn" is set twice in the same mapping']],
  },
  'tab-indent.yaml': {
    code: YAML,
    problems: [['', 3, 'a tab is used for indentation: indent with spaces']],
  },
  'many-mistakes.yaml': {
    problems: [
      [
        'ip.warn',
        3,
        'warn (300/min) must be lower than block (200/min): the warning comes before the block',
      ],
      ['plans.standard.brust', 6, 'unknown setting "brust" (did you mean "burst"?)'],
      ['plans.standard.maxDelay', 7, `"soon" is not a duration: ${DURATION_HINT}`],
      ['routes[0].class', 11, 'must be one of: public, non-public, bulk, batch; got "fast"'],
      [
        'offHours.timeZone',
        13,
        '"Mars/Olympus_Mons" is not an IANA time zone, for example America/New_York or Europe/Paris',
      ],
    ],
  },
};

const VALID = new Set(['valid-full.yaml', 'valid-partial.yaml', 'valid-new-plan.yaml']);

function mistakesOf(file: string) {
  const text = readFileSync(new URL(file, DIR), 'utf8');
  try {
    parsePolicyText(text, file);
  } catch (error) {
    if (!isSluiceError(error)) throw error;
    return error;
  }
  assert.fail(`${file} was accepted`);
}

for (const [file, expected] of Object.entries(MISTAKES)) {
  test(`policy mistake: ${file}`, () => {
    const error = mistakesOf(file);
    const code = expected.code ?? INVALID;
    assert.equal(error.code, code);
    assert.equal(error.exitCode, 2);
    const n = expected.problems.length;
    assert.equal(
      error.message,
      code === YAML ? `${file} is not valid YAML` : `${file} has ${n} mistake${n === 1 ? '' : 's'}`,
    );
    assert.deepEqual(
      error.problems.map((p) => [p.path, p.line, p.message]),
      expected.problems,
    );
    for (const p of error.problems) assert.ok((p.column ?? 0) >= 1, 'every problem has a column');
  });
}

test('every fixture is either valid or listed above with its exact mistakes', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
  for (const file of files) {
    assert.ok(VALID.has(file) || file in MISTAKES, `${file} has no expected mistakes`);
  }
  for (const file of [...VALID, ...Object.keys(MISTAKES)]) assert.ok(files.includes(file), file);
});

test('a problem points at the column of the value, or of the key for an unknown key', () => {
  const text = 'plans:\n  standard: { burst: ten, brust: 5 }\n';
  try {
    parsePolicyText(text, 'inline.yaml');
    assert.fail('accepted');
  } catch (error) {
    assert.ok(isSluiceError(error));
    assert.deepEqual(
      error.problems.map((p) => [p.path, p.line, p.column]),
      [
        ['plans.standard.burst', 2, 22],
        ['plans.standard.brust', 2, 27],
      ],
    );
  }
});

test('an empty file, or one with only comments, is the default policy', () => {
  for (const text of ['', '# nothing yet\n']) {
    const policy = parsePolicyText(text, 'empty.yaml');
    assert.equal(policy.ip.block.limit, 200);
    assert.equal(policy.source, 'empty.yaml');
  }
});

test('a problem list keeps a repeated problem once, and says `at` only when given', () => {
  const list = new ProblemList();
  list.add(['routes', 0], 'is wrong');
  list.add(['routes', 0], 'is wrong');
  list.add(['routes', 0], 'is wrong', 'key');
  list.add(['routes', 1], 'is wrong', 'key');
  list.add(['routes', 0], 'is worse');
  assert.deepStrictEqual(list.items, [
    { path: ['routes', 0], message: 'is wrong' },
    { path: ['routes', 1], message: 'is wrong', at: 'key' },
    { path: ['routes', 0], message: 'is worse' },
  ]);
  assert.equal(Object.hasOwn(list.items[0], 'at'), false);
});
