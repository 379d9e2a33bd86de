import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { SluiceError } from '../../src/core/errors.ts';
import { IMPORT_FIELDS, parseKeyImport } from '../../src/core/key-import-file.ts';

// Pins the import file `sluice keys import` and POST /admin/keys/import read: the format
// told by the first non-blank line, every message an operator reads byte for byte, and
// that no message ever carries a key.

const SECRET = 'live_4f9aQx7Lm2Rt8Kp3Zs6W';
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const HASH = sha(SECRET);
const FIELDS = 'account, size, plan, key, sha256';
/** Every secret a test below hands the parser: none may appear in any message. */
const SECRETS = [SECRET, 'c0ffee00-1234-4abc-9def-00aa11bb22cc', 'tOpSeCrEt99', 'zz"secret'];

function hasSecret(text: string): boolean {
  const lower = text.toLowerCase();
  return SECRETS.some((s) => lower.includes(s.toLowerCase()));
}

interface Rejection {
  message: string;
  problems: { path: string; line?: number; message: string }[];
}

/** The SluiceError parseKeyImport throws: code, exit status, message and problems. */
function rejection(text: string, source?: string): Rejection {
  try {
    parseKeyImport(text, source);
  } catch (e) {
    assert.ok(e instanceof SluiceError, `not a SluiceError: ${String(e)}`);
    assert.equal(e.code, 'SLUICE_ERR_IMPORT_INVALID');
    assert.equal(e.exitCode, 2);
    assert.equal(e.name, 'SluiceError');
    const seen = JSON.stringify({ m: e.message, p: e.problems });
    assert.ok(!hasSecret(seen), `a secret is echoed: ${seen}`);
    return { message: e.message, problems: e.problems.map((p) => ({ ...p })) };
  }
  assert.fail('accepted');
}

/** The one problem of a file with one bad data line (line 2 of a CSV, line 1 of JSON lines). */
function csvProblem(header: string, row: string): string {
  const r = rejection(`${header}\n${row}\n`);
  assert.equal(r.message, 'the import has 1 bad line; nothing was imported');
  assert.equal(r.problems.length, 1);
  assert.equal(r.problems[0].line, 2);
  assert.equal(r.problems[0].path, '');
  return r.problems[0].message;
}

function jsonProblem(line: string): string {
  const r = rejection(`${line}\n`);
  assert.equal(r.message, 'the import has 1 bad line; nothing was imported');
  assert.deepEqual(
    r.problems.map((p) => [p.path, p.line]),
    [['', 1]],
  );
  return r.problems[0].message;
}

test('the fields are account, size, plan, key and sha256', () => {
  assert.deepEqual([...IMPORT_FIELDS], ['account', 'size', 'plan', 'key', 'sha256']);
});

test('CSV with a header: the example of docs/operations.md, every key hashed, sizes and plans as given', () => {
  const text = [
    'account,size,plan,key',
    `acme,12,standard,${SECRET}`,
    'globex,,,c0ffee00-1234-4abc-9def-00aa11bb22cc',
    '',
  ].join('\n');
  assert.deepEqual(parseKeyImport(text), [
    { line: 2, account: 'acme', size: 12, plan: 'standard', hash: HASH },
    {
      line: 3,
      account: 'globex',
      size: undefined,
      plan: undefined,
      hash: sha('c0ffee00-1234-4abc-9def-00aa11bb22cc'),
    },
  ]);
});

test('JSON lines: the example of docs/operations.md; sha256 is kept lower-case, the key hashed', () => {
  const upper = HASH.toUpperCase();
  const text = [
    `{"account":"acme","size":12,"plan":"standard","key":"${SECRET}"}`,
    `{"account":"globex","sha256":"${upper}"}`,
  ].join('\n');
  assert.deepEqual(parseKeyImport(text), [
    { line: 1, account: 'acme', size: 12, plan: 'standard', hash: HASH },
    { line: 2, account: 'globex', size: undefined, plan: undefined, hash: HASH },
  ]);
});

test('the format is told by the first non-blank line: `{` (after spaces) is JSON lines, anything else a CSV header', () => {
  const json = parseKeyImport(
    `\n  \n\t {"account":"a","sha256":"${HASH}"}\n\n   \n{"account":"b","key":"k1"}\n`,
  );
  assert.deepEqual(
    json.map((l) => [l.line, l.account, l.hash]),
    [
      [3, 'a', HASH],
      [6, 'b', sha('k1')],
    ],
  );
  const csv = parseKeyImport(`\n \naccount,key\n\n  \nacme,${SECRET}\n\n`);
  assert.deepEqual(
    csv.map((l) => [l.line, l.account, l.hash]),
    [[6, 'acme', HASH]],
  );
  // A CSV line starting with `{` after the header is a value, not JSON.
  assert.deepEqual(
    parseKeyImport('key,account\n{k,acme\n').map((l) => l.hash),
    [sha('{k')],
  );
  // A JSON file whose later line is CSV: that line is not valid JSON.
  assert.deepEqual(rejection(`{"account":"a","key":"k"}\nacme,${SECRET}\n`).problems, [
    {
      path: '',
      line: 2,
      message:
        'not valid JSON (JSON lines: one object per line, like {"account":"acme","key":"…"})',
    },
  ]);
});

test('CRLF line ends and a byte-order mark are read as plain lines; a BOM only at the very start', () => {
  const crlf = parseKeyImport(`\uFEFFaccount,size,key\r\nacme,3,${SECRET}\r\n\r\nglobex,4,k2\r\n`);
  assert.deepEqual(
    crlf.map((l) => [l.line, l.account, l.size, l.hash]),
    [
      [2, 'acme', 3, HASH],
      [4, 'globex', 4, sha('k2')],
    ],
  );
  const json = parseKeyImport(`\uFEFF{"account":"acme","key":"${SECRET}"}\r\n`);
  assert.deepEqual(
    json.map((l) => [l.line, l.hash]),
    [[1, HASH]],
  );
  // A BOM that is not at the start of the text is no BOM: JSON.parse refuses it (a CSV
  // header's columns are trimmed, and trim() drops U+FEFF, so there it does no harm).
  assert.deepEqual(
    rejection(`{"account":"a","key":"k"}\n\uFEFF{"account":"b","key":"k2"}\n`).problems,
    [
      {
        path: '',
        line: 2,
        message:
          'not valid JSON (JSON lines: one object per line, like {"account":"acme","key":"…"})',
      },
    ],
  );
  assert.deepEqual(
    parseKeyImport('\n\uFEFFaccount,key\nacme,k\n').map((l) => [l.line, l.account]),
    [[3, 'acme']],
  );
  // A lone CR is no line end.
  assert.equal(
    csvProblem('account,key', 'acme,k1\rglobex,k2'),
    'has 3 values, the header 2 (account, key)',
  );
});

test('an empty file, a blank one and a BOM alone have no keys; a header alone has no keys either', () => {
  for (const text of ['', '\n', ' \r\n\t\n', '\uFEFF', '\uFEFF\n  ']) {
    assert.deepEqual(rejection(text, 'keys.csv'), {
      message: 'keys.csv has no keys: it is empty',
      problems: [],
    });
  }
  assert.deepEqual(rejection('account,key\n\n  \n'), {
    message: 'the import has no keys: only a header line',
    problems: [],
  });
  assert.deepEqual(rejection('account,key', 'k.csv'), {
    message: 'k.csv has no keys: only a header line',
    problems: [],
  });
});

test('the header: columns in any order, any case, spaces around; sha256 beside key', () => {
  const lines = parseKeyImport(` KEY , Plan ,SIZE,Account\n${SECRET},gold,7,acme\n`);
  assert.deepEqual(lines, [{ line: 2, account: 'acme', size: 7, plan: 'gold', hash: HASH }]);
  const both = parseKeyImport(`account,key,sha256\nacme,${SECRET},\nglobex,,${HASH}\n`);
  assert.deepEqual(
    both.map((l) => [l.account, l.hash]),
    [
      ['acme', HASH],
      ['globex', HASH],
    ],
  );
  assert.deepEqual(
    parseKeyImport(`sha256,account\n${HASH},acme\n`).map((l) => l.hash),
    [HASH],
  );
});

test('a wrong header line: the first unknown column with a did-you-mean, a column twice, no account, no key', () => {
  const wrong = (header: string, source?: string) => {
    const r = rejection(`${header}\nacme,${SECRET}\n`, source);
    assert.equal(r.message, `${source ?? 'the import'} has a wrong header line`);
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0].path, '');
    assert.equal(r.problems[0].line, 1);
    return r.problems[0].message;
  };
  assert.equal(
    wrong('acount,key', 'a.csv'),
    `unknown column "acount"; did you mean account? (columns: ${FIELDS}; the first line is the header)`,
  );
  assert.equal(
    wrong('account,sha265'),
    `unknown column "sha265"; did you mean sha256? (columns: ${FIELDS}; the first line is the header)`,
  );
  assert.equal(
    wrong('account,key,tier,colour'),
    `unknown column "tier" (columns: ${FIELDS}; the first line is the header)`,
  );
  assert.equal(
    wrong('account,,key'),
    `unknown column "" (columns: ${FIELDS}; the first line is the header)`,
  );
  assert.equal(wrong('account,key,Account'), 'column account appears twice');
  assert.equal(wrong('key,size,plan,size,account'), 'column size appears twice');
  assert.equal(
    wrong('size,key'),
    'no account column (columns: account, size, plan, key or sha256)',
  );
  assert.equal(
    wrong('account,size,plan'),
    'no key or sha256 column: each line needs the key itself or its SHA-256',
  );
  // A quote left open in the header leaves no columns at all.
  assert.equal(
    wrong('"account,key'),
    'no account column (columns: account, size, plan, key or sha256)',
  );
  // The header is told after blank lines: its own line number.
  const r = rejection('\n\nacount,key\n');
  assert.equal(r.problems[0].line, 3);
});

test('a file without its header line: the first line names no column, and its values (keys) are not echoed', () => {
  const noHeader = `the first line names no column: a CSV file starts with its header line (columns: ${FIELDS})`;
  for (const text of [
    `${SECRET},acme,12\n`,
    `${SECRET}\n`,
    'c0ffee00-1234-4abc-9def-00aa11bb22cc,acme\n',
    `"${SECRET}"\n`,
  ]) {
    assert.deepEqual(rejection(text), {
      message: 'the import has a wrong header line',
      problems: [{ path: '', line: 1, message: noHeader }],
    });
  }
  // Names close to a column are a misspelt header: echoed, with the did-you-mean.
  assert.equal(
    rejection('kye,acount\n').problems[0].message,
    `unknown column "kye"; did you mean key? (columns: ${FIELDS}; the first line is the header)`,
  );
  assert.equal(rejection('tier,colour\n').problems[0].message, noHeader);
  // One column named is enough to make it a header.
  assert.equal(
    rejection('tier,plan\n').problems[0].message,
    `unknown column "tier" (columns: ${FIELDS}; the first line is the header)`,
  );
});

test('CSV quoting (RFC 4180): commas and doubled quotes inside quotes, spaces around, text after the close', () => {
  const lines = parseKeyImport(
    [
      'account,plan,key',
      'a1,gold,"k,1"',
      'a2,gold,  "k""2"  ',
      'a3,"gold","k"3',
      'a4,gold,k"4"',
      'a5,"",k5',
      'a6,gold,"" "k6"',
      '"a7",gold,"k7"',
    ].join('\n'),
  );
  assert.deepEqual(
    lines.map((l) => [l.line, l.account, l.plan, l.hash]),
    [
      [2, 'a1', 'gold', sha('k,1')],
      [3, 'a2', 'gold', sha('k"2')],
      [4, 'a3', 'gold', sha('k3')],
      [5, 'a4', 'gold', sha('k"4"')],
      [6, 'a5', undefined, sha('k5')],
      [7, 'a6', 'gold', sha('k6')],
      [8, 'a7', 'gold', sha('k7')],
    ],
  );
  // A quoted value is trimmed like any other (a key cannot carry spaces anyway).
  assert.deepEqual(
    parseKeyImport('account,key\n" a8 "," k8 "\n').map((l) => [l.account, l.hash]),
    [['a8', sha('k8')]],
  );
});

test('CSV lines: a quote left open, a wrong number of values, empty cells as absent', () => {
  assert.equal(csvProblem('account,key', `acme,"${SECRET}`), 'a quoted value is not closed');
  assert.equal(csvProblem('account,key', 'acme,"a"",b'), 'a quoted value is not closed');
  assert.equal(
    csvProblem('account,size,key', `acme,${SECRET}`),
    'has 2 values, the header 3 (account, size, key)',
  );
  assert.equal(
    csvProblem('account,key', `acme,${SECRET},x`),
    'has 3 values, the header 2 (account, key)',
  );
  assert.equal(csvProblem('account,key', `,${SECRET}`), 'no account');
  assert.equal(csvProblem('account,key', `   ,${SECRET}`), 'no account');
  assert.equal(
    csvProblem('account,key', 'acme, '),
    'no key and no sha256: give the key itself or its SHA-256',
  );
});

test('account: required, 1 to 128 of letters, digits and . _ : @ -', () => {
  const ok = ['a', 'A.b_c:d@e-f', 'x'.repeat(128), '0'];
  assert.deepEqual(
    parseKeyImport(`account,key\n${ok.map((a, i) => `${a},k${i}`).join('\n')}`).map(
      (l) => l.account,
    ),
    ok,
  );
  const msg = 'account must be 1 to 128 letters, digits or . _ : @ -, got';
  assert.equal(
    csvProblem('account,key', `${'x'.repeat(129)},k`),
    `${msg} "${'x'.repeat(60)}…" (129 characters)`,
  );
  assert.equal(csvProblem('account,key', 'ac me,k'), `${msg} "ac me"`);
  assert.equal(csvProblem('account,key', 'acmé,k'), `${msg} "acmé"`);
  assert.equal(csvProblem('account,key', 'a/b,k'), `${msg} "a/b"`);
  assert.equal(jsonProblem(`{"key":"${SECRET}"}`), 'no account');
  assert.equal(jsonProblem('{"account":"","key":"k"}'), `${msg} ""`);
  assert.equal(jsonProblem('{"account":"a\\nb","key":"k"}'), `${msg} "a\\nb"`);
  assert.equal(jsonProblem('{"account":"acme\\n","key":"k"}'), `${msg} "acme\\n"`);
  assert.equal(jsonProblem('{"account":7,"key":"k"}'), `${msg} number`);
  assert.equal(jsonProblem('{"account":null,"key":"k"}'), `${msg} object`);
  assert.equal(jsonProblem('{"account":true,"key":"k"}'), `${msg} boolean`);
});

test('size: a whole number of 0 or more; absent, null or an empty cell is no size', () => {
  const sizes = (cells: string[]) =>
    parseKeyImport(`account,size,key\n${cells.map((s, i) => `a${i},${s},k${i}`).join('\n')}`).map(
      (l) => l.size,
    );
  assert.deepEqual(sizes(['0', '1', '007', '9007199254740991', '']), [
    0,
    1,
    7,
    9007199254740991,
    undefined,
  ]);
  const msg = 'size must be a whole number of 0 or more (seats, devices…), got';
  for (const [cell, shown] of [
    ['-1', '"-1"'],
    ['1.5', '"1.5"'],
    ['1e3', '"1e3"'],
    ['0x10', '"0x10"'],
    ['+3', '"+3"'],
    ['ten', '"ten"'],
    ['1 2', '"1 2"'],
    ['9007199254740992', '"9007199254740992"'],
    ['99999999999999999999', '"99999999999999999999"'],
    ['٣', '"٣"'],
  ]) {
    assert.equal(csvProblem('account,size,key', `acme,${cell},k`), `${msg} ${shown}`, cell);
  }
  const json = (size: string) =>
    parseKeyImport(`{"account":"a","size":${size},"key":"k"}`).map((l) => l.size)[0];
  assert.equal(json('0'), 0);
  assert.equal(json('12'), 12);
  assert.equal(json('"12"'), 12);
  assert.equal(json('null'), undefined);
  assert.equal(json('9007199254740991'), 9007199254740991);
  for (const [size, shown] of [
    ['-1', '"-1"'],
    ['1.5', '"1.5"'],
    ['1e300', '"1e+300"'],
    ['9007199254740992', '"9007199254740992"'],
    ['" 12"', '" 12"'],
    ['"-1"', '"-1"'],
    ['""', '""'],
    ['true', '"true"'],
    ['[3]', '"3"'],
    ['{}', '"[object Object]"'],
  ]) {
    assert.equal(jsonProblem(`{"account":"a","size":${size},"key":"k"}`), `${msg} ${shown}`, size);
  }
});

test('plan: absent, null or an empty cell is no plan; else a name of letters, digits, _ and - (up to 64)', () => {
  const ok = ['gold', 'G', '9', 'a_b-c', `p${'x'.repeat(63)}`];
  assert.deepEqual(
    parseKeyImport(`account,plan,key\n${ok.map((p, i) => `a${i},${p},k${i}`).join('\n')}`).map(
      (l) => l.plan,
    ),
    ok,
  );
  assert.equal(parseKeyImport('{"account":"a","plan":null,"key":"k"}')[0].plan, undefined);
  assert.equal(parseKeyImport('{"account":"a","key":"k"}')[0].plan, undefined);
  const msg = 'plan must be a plan name (letters, digits, _ and -), got';
  for (const [cell, shown] of [
    ['_gold', '"_gold"'],
    ['-gold', '"-gold"'],
    ['go ld', '"go ld"'],
    ['gold.1', '"gold.1"'],
    [`p${'x'.repeat(64)}`, `"p${'x'.repeat(59)}…" (65 characters)`],
  ]) {
    assert.equal(csvProblem('account,plan,key', `acme,${cell},k`), `${msg} ${shown}`, cell);
  }
  assert.equal(jsonProblem('{"account":"a","plan":"","key":"k"}'), `${msg} ""`);
  assert.equal(jsonProblem('{"account":"a","plan":"gold\\n","key":"k"}'), `${msg} "gold\\n"`);
  assert.equal(jsonProblem('{"account":"a","plan":3,"key":"k"}'), `${msg} "3"`);
  assert.equal(jsonProblem('{"account":"a","plan":false,"key":"k"}'), `${msg} "false"`);
});

test('exactly one of key and sha256; an empty or blank one counts as not given', () => {
  const both = 'has both key and sha256: give one of them';
  const none = 'no key and no sha256: give the key itself or its SHA-256';
  assert.equal(csvProblem('account,key,sha256', `acme,${SECRET},${HASH}`), both);
  assert.equal(jsonProblem(`{"account":"a","key":"${SECRET}","sha256":"${HASH}"}`), both);
  assert.equal(jsonProblem('{"account":"a","key":true,"sha256":false}'), both);
  assert.equal(csvProblem('account,key,sha256', 'acme,,'), none);
  assert.equal(jsonProblem('{"account":"a"}'), none);
  assert.equal(jsonProblem('{"account":"a","key":"","sha256":""}'), none);
  assert.equal(jsonProblem('{"account":"a","key":null,"sha256":null}'), none);
  // Blank is empty in JSON as in CSV (whose cells are trimmed): never the hash of "".
  assert.equal(jsonProblem('{"account":"a","key":"   "}'), none);
  assert.equal(jsonProblem('{"account":"a","key":" \\t ","sha256":"  "}'), none);
  assert.deepEqual(
    parseKeyImport(`{"account":"a","key":"  ","sha256":"${HASH}"}`).map((l) => l.hash),
    [HASH],
  );
  assert.deepEqual(
    parseKeyImport(`{"account":"a","key":"${SECRET}","sha256":" "}`).map((l) => l.hash),
    [HASH],
  );
  assert.deepEqual(
    parseKeyImport(`{"account":"a","key":"${SECRET}","sha256":null}`).map((l) => l.hash),
    [HASH],
  );
  assert.deepEqual(
    parseKeyImport(`{"account":"a","key":"","sha256":"${HASH}"}`).map((l) => l.hash),
    [HASH],
  );
});

test('key: any format up to 1024 characters, trimmed, hashed; never a space or control character, never echoed', () => {
  const k1024 = `${SECRET}${'k'.repeat(1024 - SECRET.length)}`;
  const keys = ['k', 'a:b=c/d+e', 'ключ', k1024];
  assert.deepEqual(
    parseKeyImport(
      keys.map((k, i) => JSON.stringify({ account: `a${i}`, key: ` ${k}\t` })).join('\n'),
    ).map((l) => l.hash),
    keys.map(sha),
  );
  assert.equal(
    jsonProblem(JSON.stringify({ account: 'a', key: `${k1024}k` })),
    'key is longer than 1024 characters',
  );
  // The length is that of the key trimmed.
  assert.deepEqual(
    parseKeyImport(JSON.stringify({ account: 'a', key: `  ${k1024}  ` })).map((l) => l.hash),
    [sha(k1024)],
  );
  assert.equal(csvProblem('account,key', `acme,${k1024}k`), 'key is longer than 1024 characters');
  const spaced = 'key contains a space or a control character';
  for (const bad of [
    `tOpSeCrEt99 x`,
    'tOpSeCrEt99\tx',
    'tOpSeCrEt99\u0000',
    '\u0001tOpSeCrEt99',
    'tOpSeCrEt99\u001f',
    'tOpSeCrEt99\u007f',
    'tOpSeCrEt99\u00a0x',
    'tOpSeCrEt99\u2028x',
    'tOpSeCrEt99\u3000x',
  ]) {
    assert.equal(
      jsonProblem(JSON.stringify({ account: 'a', key: bad })),
      spaced,
      JSON.stringify(bad),
    );
  }
  // The characters just past the control range are fine.
  assert.deepEqual(
    parseKeyImport(JSON.stringify({ account: 'a', key: '!~\u0080' })).map((l) => l.hash),
    [sha('!~\u0080')],
  );
  assert.equal(csvProblem('account,key', 'acme,"tOpSeCrEt99 x"'), spaced);
  for (const key of ['12345', 'true', '{"k":"v"}', '["k"]']) {
    assert.equal(jsonProblem(`{"account":"a","key":${key}}`), 'key must be a string', key);
  }
});

test('sha256: 64 hexadecimal characters in either case, spaces around dropped, kept lower-case', () => {
  const mixed = `${HASH.slice(0, 32).toUpperCase()}${HASH.slice(32)}`;
  assert.deepEqual(
    parseKeyImport(
      [
        JSON.stringify({ account: 'a', sha256: mixed }),
        JSON.stringify({ account: 'b', sha256: ` ${HASH}\t` }),
      ].join('\n'),
    ).map((l) => l.hash),
    [HASH, HASH],
  );
  const msg =
    'sha256 must be 64 hexadecimal characters (the SHA-256 of the key as clients send it)';
  for (const bad of [
    HASH.slice(1),
    `${HASH}0`,
    `${HASH.slice(1)}g`,
    `x${HASH}`,
    `${HASH.slice(0, 32)} ${HASH.slice(33)}`,
  ]) {
    assert.equal(csvProblem('account,sha256', `acme,${bad}`), msg, bad);
    assert.equal(jsonProblem(JSON.stringify({ account: 'a', sha256: bad })), msg, bad);
  }
  assert.equal(jsonProblem(`{"account":"a","sha256":64}`), msg);
  assert.equal(jsonProblem(`{"account":"a","sha256":["${HASH}"]}`), msg);
});

test('JSON lines: not JSON, not an object, an unknown field with its did-you-mean; a parser message never shows', () => {
  const notJson =
    'not valid JSON (JSON lines: one object per line, like {"account":"acme","key":"…"})';
  // The parser's own message would quote the line, and with it the key.
  assert.equal(jsonProblem(`{"account":"acme","key":"${SECRET}"`), notJson);
  assert.equal(jsonProblem(`{"account":"acme","key":"${SECRET}",}`), notJson);
  assert.equal(jsonProblem(`{"account":"acme","key":'${SECRET}'}`), notJson);
  assert.equal(jsonProblem(`{account:"acme",key:"zz"secret"}`), notJson);
  const notObject = 'not a JSON object (JSON lines: one object per line)';
  const r = rejection(`{"account":"a","key":"k"}\n[1]\n"${SECRET}"\nnull\n42\ntrue\n`);
  assert.equal(r.message, 'the import has 5 bad lines; nothing was imported');
  assert.deepEqual(
    r.problems,
    [2, 3, 4, 5, 6].map((line) => ({ path: '', line, message: notObject })),
  );
  assert.equal(
    jsonProblem(`{"account":"a","kye":"${SECRET}"}`),
    `unknown field "kye"; did you mean key? (fields: ${FIELDS})`,
  );
  assert.equal(
    jsonProblem(`{"acount":"a","key":"${SECRET}"}`),
    `unknown field "acount"; did you mean account? (fields: ${FIELDS})`,
  );
  assert.equal(
    jsonProblem(`{"account":"a","key":"${SECRET}","tier":"x","sise":1}`),
    `unknown field "tier" (fields: ${FIELDS})`,
  );
  // Field names are matched exactly in JSON (the CSV header is read in any case).
  assert.equal(
    jsonProblem(`{"Account":"a","key":"${SECRET}"}`),
    `unknown field "Account"; did you mean account? (fields: ${FIELDS})`,
  );
});

test('every bad line is listed with its number, up to 20 and a count of the rest; one bad line rejects the file', () => {
  const one = rejection(`account,key\nacme,${SECRET}\n,k\nglobex,k3\n`, 'keys.csv');
  assert.deepEqual(one, {
    message: 'keys.csv has 1 bad line; nothing was imported',
    problems: [{ path: '', line: 3, message: 'no account' }],
  });
  const two = rejection(`account,key\n,k\nacme,${SECRET},x\n`);
  assert.deepEqual(two, {
    message: 'the import has 2 bad lines; nothing was imported',
    problems: [
      { path: '', line: 2, message: 'no account' },
      { path: '', line: 3, message: 'has 3 values, the header 2 (account, key)' },
    ],
  });
  const rows = (n: number) => `account,key\n${Array.from({ length: n }, () => ',k').join('\n')}\n`;
  const twenty = rejection(rows(20));
  assert.equal(twenty.message, 'the import has 20 bad lines; nothing was imported');
  assert.deepEqual(
    twenty.problems.map((p) => p.line),
    Array.from({ length: 20 }, (_, i) => i + 2),
  );
  const twentyOne = rejection(rows(21));
  assert.equal(twentyOne.message, 'the import has 21 bad lines; nothing was imported');
  assert.equal(twentyOne.problems.length, 21);
  assert.deepEqual(twentyOne.problems[20], { path: '', message: 'and 1 more bad lines' });
  assert.equal(twentyOne.problems[19].line, 21);
  const many = rejection(rows(25));
  assert.equal(many.message, 'the import has 25 bad lines; nothing was imported');
  assert.equal(many.problems.length, 21);
  assert.deepEqual(many.problems[20], { path: '', message: 'and 5 more bad lines' });
});

test("the same key twice in the file is not the parser's business: both lines come back (the import checks them)", () => {
  assert.deepEqual(
    parseKeyImport(`account,key\nacme,${SECRET}\nglobex,${SECRET}\n`).map((l) => [
      l.line,
      l.account,
      l.hash,
    ]),
    [
      [2, 'acme', HASH],
      [3, 'globex', HASH],
    ],
  );
});
