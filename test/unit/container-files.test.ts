/**
 * The container files (Dockerfile, compose.yaml, .dockerignore), checked for what can be
 * checked without Docker (which cannot run on this machine, so the image is not built
 * here): a multi-stage build of the runtime dependencies only, a non-root user, the data
 * directory a volume, a health check on /readyz by Node itself, an exec-form command that
 * starts Node on a file that exists with options `sluice serve` takes, every file it
 * copies present and not ignored, and a compose file that uses only what exists.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ROOT } from '../helpers/gateway-process.ts';

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** The Dockerfile's instructions (continuations joined, comments dropped), by stage. */
function instructions(): Instruction[] {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const out: Instruction[] = [];
  let stage = -1;
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
    if (m === null || line.trim().startsWith('#')) continue;
    if (m[1] === 'FROM') stage++;
    out.push({ op: m[1], args: m[2].trim(), stage });
  }
  return out;
}

const all = instructions();
const finalStage = Math.max(...all.map((i) => i.stage));
const final = all.filter((i) => i.stage === finalStage);
const one = (op: string) => {
  const found = final.filter((i) => i.op === op);
  assert.equal(found.length, 1, `one ${op} in the final stage`);
  return found[0].args;
};
/** An exec-form (JSON array) argument; a shell form would put `sh -c` between Docker and Node. */
const execForm = (args: string): string[] => {
  assert.match(args, /^\[/, `exec form: ${args}`);
  return JSON.parse(args) as string[];
};
const entrypoint = execForm(one('ENTRYPOINT'));
const command = execForm(one('CMD'));
const option = (args: string[], name: string) => args[args.indexOf(name) + 1];

test('a multi-stage build installs the runtime dependencies only, by the lockfile', () => {
  assert.ok(finalStage >= 1, 'at least two stages');
  const runs = all.filter((i) => i.op === 'RUN' && i.stage < finalStage).map((i) => i.args);
  assert.ok(
    runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r)),
    'npm ci --omit=dev in a build stage',
  );
  assert.ok(!final.some((i) => i.op === 'RUN' && /\bnpm (ci|install)\b/.test(i.args)));
  for (const from of all.filter((i) => i.op === 'FROM')) assert.match(from.args, /-slim\b/);
});

test('the image runs as a user that is not root, with the data directory a volume', () => {
  const user = final.filter((i) => i.op === 'USER').at(-1)?.args;
  assert.ok(user !== undefined && !/^(root|0)(:|$)/.test(user), `USER ${user}`);
  const volumes = execForm(one('VOLUME'));
  assert.ok(volumes.includes(option(command, '--data')), 'the --data directory is a volume');
  assert.ok(
    final.some((i) => i.op === 'RUN' && i.args.includes(`chown ${user}`)),
    'the data directory belongs to that user',
  );
});

test('the health check asks /readyz on the listening port, with Node (no curl in slim images)', () => {
  const check = one('HEALTHCHECK');
  const cmd = execForm(check.slice(check.indexOf('CMD') + 3).trim());
  assert.equal(cmd[0], 'node');
  const port = option(command, '--listen').split(':').at(-1);
  assert.ok(cmd.join(' ').includes(`http://127.0.0.1:${port}/readyz`), cmd.join(' '));
  assert.doesNotMatch(check, /curl|wget/);
});

test('Node itself is process 1, on a file that exists, with options sluice serve takes', () => {
  assert.equal(entrypoint[0], 'node', 'not npm, npx or a shell: SIGTERM must reach sluice');
  const script = entrypoint[1];
  assert.ok(existsSync(join(ROOT, script)), `${script} exists`);
  // The same entry point as the package's bin (bin/sluice.js runs src/cli/main.ts).
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.match(readFileSync(join(ROOT, pkg.bin.sluice), 'utf8'), /'src', 'cli', 'main\.ts'/);
  const help = spawnSync(process.execPath, [join(ROOT, script), command[0], '--help'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(help.status, 0, help.stderr);
  for (const arg of command.slice(1).filter((a) => a.startsWith('--'))) {
    assert.ok(help.stdout.includes(arg), `sluice ${command[0]} takes ${arg}`);
  }
});

test('every file the Dockerfile copies exists and is not in .dockerignore', () => {
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  for (const must of ['node_modules', 'data', '.git']) assert.ok(ignored.includes(must), must);
  const copies = all.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'));
  assert.ok(copies.length > 0);
  for (const copy of copies) {
    const sources = copy.args.split(/\s+/).slice(0, -1);
    for (const source of sources) {
      assert.ok(existsSync(join(ROOT, source)), `${source} exists`);
      assert.ok(!ignored.includes(source.split('/')[0]), `${source} is sent to the build`);
    }
  }
  // The policy file the command names is in the image.
  const config = option(command, '--config');
  assert.ok(
    copies.some((c) => c.args.endsWith(` ${config}`)),
    `${config} is copied into the image`,
  );
});

test('compose.yaml builds this Dockerfile and uses only what exists', () => {
  const compose = parse(readFileSync(join(ROOT, 'compose.yaml'), 'utf8')) as {
    services: Record<
      string,
      { build?: string | { context: string; dockerfile?: string }; command?: string[] }
    >;
    volumes?: Record<string, unknown>;
  };
  const services = Object.entries(compose.services);
  assert.ok(services.length > 0);
  for (const [name, service] of services) {
    const build = typeof service.build === 'string' ? { context: service.build } : service.build;
    assert.ok(build !== undefined, `${name} is built here`);
    assert.ok(existsSync(join(ROOT, build.context, build.dockerfile ?? 'Dockerfile')));
    const args = service.command ?? command;
    assert.equal(args[0], 'serve');
    assert.equal(option(args, '--data'), option(command, '--data'), 'data on the volume');
    const volumes = (service as { volumes?: string[] }).volumes ?? [];
    for (const volume of volumes) {
      const source = volume.split(':')[0];
      if (source.startsWith('.') || source.startsWith('/')) {
        assert.ok(existsSync(join(ROOT, source)), `${source} exists`);
      } else assert.ok(compose.volumes !== undefined && source in compose.volumes, source);
    }
    const help = spawnSync(process.execPath, [join(ROOT, entrypoint[1]), 'serve', '--help'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    for (const arg of args.slice(1).filter((a) => a.startsWith('--'))) {
      assert.ok(help.stdout.includes(arg), `sluice serve takes ${arg}`);
    }
  }
});

test("the image's starter policy is a valid policy file", () => {
  const check = spawnSync(
    process.execPath,
    [join(ROOT, entrypoint[1]), 'check', join(ROOT, 'deploy', 'policy.yaml')],
    { encoding: 'utf8', timeout: 20_000 },
  );
  assert.equal(check.status, 0, check.stdout + check.stderr);
});
