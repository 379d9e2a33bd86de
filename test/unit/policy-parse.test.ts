/**
 * What an operator reads when a policy file is broken: the YAML mistakes in plain
 * words at their line and column, and every schema problem at the place in the file
 * it is about (through anchors, blank keys and empty values), in the order of the file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSluiceError } from '../../src/core/errors.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';

/** [path, line, column, message] of each problem, or the policy when it is accepted. */
function mistakes(text: string) {
  try {
    return { accepted: parsePolicyText(text, 'p.yaml') };
  } catch (error) {
    if (!isSluiceError(error)) throw error;
    return {
      code: error.code,
      message: error.message,
      problems: error.problems.map((p) => [p.path, p.line, p.column, p.message]),
    };
  }
}

const yamlMistake = (line: number, column: number, message: string) => ({
  code: 'SLUICE_ERR_POLICY_YAML',
  message: 'p.yaml is not valid YAML',
  problems: [['', line, column, message]],
});

test('each kind of broken YAML is said in plain words at its line and column', () => {
  const cases: [string, ReturnType<typeof yamlMistake>][] = [
    [
      'ip:\n  warn: 50/min\n---\nip:\n  warn: 60/min\n',
      yamlMistake(
        3,
        1,
        'the file holds several YAML documents (separated by ---); a policy is one',
      ),
    ],
    [
      'ip: warn: 50/min\n',
      yamlMistake(
        1,
        5,
        'a mapping cannot start on the same line as its key: put it on the next line, indented',
      ),
    ],
    ['ip:\n  warn: "50/min\n', yamlMistake(3, 1, 'a closing quote or bracket is missing')],
    [
      'ip:\n  warn\n  block: 5/min\n',
      yamlMistake(2, 3, 'a key must be on one line (is a "key:" missing its colon above?)'),
    ],
    ['ip:\n  warn: 50/min\n]\n', yamlMistake(3, 1, 'unexpected character here')],
    [
      'ip:\n  warn: @50\n',
      yamlMistake(2, 9, 'a plain value cannot start with this character: put the value in quotes'),
    ],
    // A mistake without a plainer wording of its own (a bad escape in double quotes).
    ['ip:\n  warn: "\\q"\n', yamlMistake(2, 10, 'this is not valid YAML here')],
    // The key named is the key as written, without the spaces before its colon.
    [
      'ip:\n  warn : 50/min\n  warn : 60/min\n',
      yamlMistake(3, 3, '"warn" is set twice in the same mapping'),
    ],
  ];
  for (const [text, expected] of cases) assert.deepEqual(mistakes(text), expected, text);
});

test('an alias bomb is refused as broken YAML, but a file may use an anchor many times', () => {
  const bomb = [
    'a: &a [x, x, x, x, x, x, x, x, x, x]',
    'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
  ].join('\n');
  assert.deepEqual(mistakes(bomb), {
    code: 'SLUICE_ERR_POLICY_YAML',
    message: 'p.yaml is not valid YAML',
    problems: [
      ['', undefined, undefined, 'Excessive alias count indicates a resource exhaustion attack'],
    ],
  });
  // 150 routes sharing one rate through an alias: more than the yaml package's default
  // of 100 alias uses, a plain policy all the same.
  const routes = Array.from(
    { length: 150 },
    (_, i) => `  - { name: r${i}, path: /r${i}, rate: ${i === 0 ? '&shared 5/s' : '*shared'} }`,
  );
  const { accepted } = mistakes(`routes:\n${routes.join('\n')}\n`);
  assert.ok(accepted, 'the policy with 150 aliases is accepted');
  assert.equal(accepted.routes.length, 150);
  assert.deepEqual(accepted.routes[149].rate, { limit: 5, periodMs: 1000 });
});

test('problems on one line are listed from left to right', () => {
  assert.deepEqual(mistakes('ip: { block: 0/min, warn: x }\n').problems, [
    ['ip.block', 1, 14, '"0/min" lets nothing through: the count must be more than 0'],
    ['ip.warn', 1, 27, '"x" is not a rate: write COUNT/UNIT, for example 100/min'],
  ]);
});

test('a problem reached through an alias points at the anchored value', () => {
  assert.deepEqual(mistakes('plans:\n  a: &p\n    burst: ten\n  b: *p\n').problems, [
    ['plans.a.burst', 3, 12, 'expected a whole number, got "ten"'],
    ['plans.b.burst', 3, 12, 'expected a whole number, got "ten"'],
  ]);
});

test('a plan whose name is blank or a list is shown at plans:, not somewhere below', () => {
  // The second plan is named "burst", like the setting the first one gets wrong: the
  // search for the blank plan's burst must stop at the blank name, not find the plan.
  const blank = mistakes('plans:\n  : { burst: 0 }\n  burst: { burst: 2 }\n');
  assert.deepEqual(blank.problems, [
    ['plans[""].burst', 1, 1, 'must be at least 1, got 0'],
    ['plans[""]', 1, 1, 'plan name "" is not a name: use letters, digits, ".", "-" and "_"'],
  ]);
  const listed = mistakes('ip:\n  warn: 5/min\nplans:\n  ? [a, b]\n  : 5\n');
  assert.deepEqual(listed.problems, [
    ['plans["[ a, b ]"]', 3, 1, 'expected a mapping of settings, got 5'],
    [
      'plans["[ a, b ]"]',
      3,
      1,
      'plan name "[ a, b ]" is not a name: use letters, digits, ".", "-" and "_"',
    ],
  ]);
});

test('an empty value is shown at its key', () => {
  assert.deepEqual(mistakes('ip:\n  warn:\n  block: 10/min\n').problems, [
    ['ip.warn', 2, 3, 'an empty value is not a rate: write COUNT/UNIT, for example 100/min'],
  ]);
});

test('YAML tags for binary data, dates, sets and ordered maps give no such values', () => {
  // The yaml package turns `!!binary` into a Buffer, which the schema saw as a mapping
  // with a setting per byte and per Buffer method (the methods' source in the messages),
  // and `!!timestamp` into a Date, which it took for an empty mapping.
  assert.deepEqual(mistakes('plans: !!binary aGk=\n').problems, [
    ['plans', 1, 17, 'expected a mapping of settings, got "aGk="'],
  ]);
  // A `%YAML 1.1` line does not bring them back.
  assert.deepEqual(mistakes('%YAML 1.1\n---\nplans: !!binary aGk=\n').problems, [
    ['plans', 3, 17, 'expected a mapping of settings, got "aGk="'],
  ]);
  assert.deepEqual(mistakes('ip: !!timestamp 2024-01-01\n').problems, [
    ['ip', 1, 17, 'expected a mapping of settings, got "2024-01-01"'],
  ]);
  // An ordered map is the list of one-key mappings it is written as.
  assert.deepEqual(mistakes('routes: !!omap [ a: 1 ]\n').problems, [
    ['routes[0]', 1, 18, 'missing required setting "name"'],
    ['routes[0]', 1, 18, 'missing required setting "path"'],
    [
      'routes[0].a',
      1,
      18,
      'unknown setting "a" (known here: name, method, path, query, class, cost, dataset, rate, mode)',
    ],
  ]);
});
