/**
 * The README's "Try the demo" walk, run as written: the commands of its shell block,
 * step by step, against `sluice serve --demo` with the address and key the demo printed.
 * Each step must show what its comment promises (a 200 with RateLimit headers, requests
 * slowed with Sluice-Delay-Ms, 429s naming a reference, the reference explained).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type GatewayProcess, ROOT, startGateway, tempDir } from '../helpers/gateway-process.ts';
import { runToEnd } from '../helpers/run-to-end.ts';

interface Step {
  title: string;
  script: string;
}

/** The numbered steps of the README's demo walk (the `export` line is the test's to set). */
function readmeSteps(): Step[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Try the demo'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'the README has a shell block under "Try the demo"');
  const steps: Step[] = [];
  for (const part of block.split(/\n(?=# \d+\. )/).slice(1)) {
    const lines = part.split('\n');
    const script = lines.filter((l) => !l.startsWith('#') && l.trim() !== '').join('\n');
    steps.push({ title: lines[0], script });
  }
  return steps;
}

async function bash(
  script: string,
  env: Record<string, string>,
  cwd: string,
): Promise<{ code: number; out: string; err: string }> {
  const r = await runToEnd('bash', ['-euo', 'pipefail', '-c', script], {
    cwd,
    env: { ...process.env, ...env },
    timeoutMs: 60_000,
    what: `step\n${script}\n`,
  });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

let cwd: string;
let gateway: GatewayProcess;
let env: Record<string, string>;

before(async () => {
  // The demo runs where a newcomer would: its records land in ./data/demo of that folder.
  cwd = tempDir();
  gateway = await startGateway(['--demo'], { cwd });
  const exported = /export SLUICE=(\S+) KEY=(\S+)/.exec(gateway.output());
  assert.ok(exported, gateway.output());
  env = { SLUICE: exported[1], KEY: exported[2] };
});

after(async () => {
  await gateway?.stop();
});

test('the README demo walk does what each step says', async () => {
  const steps = readmeSteps();
  assert.equal(steps.length, 4, steps.map((s) => s.title).join('\n'));

  const one = await bash(steps[0].script, env, cwd);
  assert.equal(one.code, 0, `${one.out}\n${one.err}`);
  assert.match(one.out, /^HTTP\/1\.1 200/, `${steps[0].title}\n${one.out}`);
  assert.match(one.out, /^ratelimit: "ip";r=\d+;t=\d+, "account";r=\d+;t=\d+/im);

  const two = await bash(steps[1].script, env, cwd);
  assert.equal(two.code, 0, `${two.out}\n${two.err}`);
  const lines = two.out.trim().split('\n');
  assert.equal(lines.length, 25, two.out);
  assert.ok(
    lines.every((l) => l.startsWith('200 ')),
    `slowed, never refused:\n${two.out}`,
  );
  const delays = lines.map((l) => Number(/delay=(\d*)/.exec(l)?.[1] || 0));
  assert.ok(delays.filter((d) => d > 0).length >= 3, `requests were held:\n${two.out}`);

  const three = await bash(steps[2].script, env, cwd);
  assert.equal(three.code, 0, `${three.out}\n${three.err}`);
  const code = /RL-[0-9A-Z]{4}-[0-9A-Z]{4}/.exec(three.out)?.[0];
  assert.ok(code, `refusals name a reference:\n${three.out}`);

  // `npx sluice` in the repository runs its bin, bin/sluice.js: the same command here.
  const four = await bash(
    steps[3].script
      .replace('RL-XXXX-XXXX', code)
      .replace(/^npx sluice /, `node ${join(ROOT, 'bin', 'sluice.js')} `),
    env,
    cwd,
  );
  assert.equal(four.code, 0, `${four.out}\n${four.err}`);
  assert.match(four.out, new RegExp(`^${code}  `));
  assert.match(four.out, /rule {6}account-(slowed|rate)/);
  assert.match(four.out, /What to change/);
});
