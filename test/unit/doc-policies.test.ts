/**
 * Every policy example a newcomer can copy (the ```yaml blocks of README.md and docs/)
 * is a valid policy file: `sluice check` would accept it as written.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parsePolicyText } from '../../src/core/policy/parse.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => join('docs', f))];

test('every YAML example in the README and docs/ is a valid policy file', () => {
  let checked = 0;
  for (const page of PAGES) {
    const text = readFileSync(join(ROOT, page), 'utf8');
    for (const [i, m] of [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].entries()) {
      const where = `${page}, YAML block ${i + 1}`;
      // A secret the example names by environment variable, as an operator would set it.
      assert.doesNotThrow(
        () =>
          parsePolicyText(m[1], where, {
            SLUICE_WEBHOOK_SECRET: 'a-secret-of-32-characters-000000',
          }),
        where,
      );
      checked++;
    }
  }
  assert.ok(checked >= 5, `found ${checked} examples`);
});
