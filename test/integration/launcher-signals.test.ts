/**
 * A supervisor stops sluice by signalling the process it started. These tests start the
 * real command the ways people do (the launcher bin/sluice.js under the machine's older
 * Node, which re-runs sluice on the pinned Node; `npm exec sluice`), signal the
 * outermost process, and assert the gateway drains and its port closes within a bound.
 * Linux only: the process tree is read from /proc.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { after, before, test } from 'node:test';
import { startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { ROOT, tempDir } from '../helpers/gateway-process.ts';
import { call, eventually } from '../helpers/http.ts';

const LAUNCHER = join(ROOT, 'bin', 'sluice.js');
const linux = process.platform === 'linux';

/** PATH without this project's node_modules/.bin, where `node` is the pinned one. */
const PLAIN_PATH = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((dir) => !dir.startsWith(ROOT))
  .join(delimiter);

/** The machine's own `node` when it is older than 24 (the launcher's re-run path). */
function olderNode(): string | undefined {
  for (const dir of PLAIN_PATH.split(delimiter)) {
    const node = join(dir, 'node');
    if (!existsSync(node)) continue;
    const r = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    return Number(r.stdout.split('.')[0]) < 24 ? node : undefined;
  }
  return undefined;
}
const OLDER_NODE = linux ? olderNode() : undefined;
const NPM = linux
  ? PLAIN_PATH.split(delimiter)
      .map((dir) => join(dir, 'npm'))
      .find((p) => existsSync(p))
  : undefined;

/** Every process below `pid` (children first found by /proc), deepest last. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    let children = '';
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {}
    for (const c of children.split(' ').filter(Boolean).map(Number)) {
      out.push(c, ...descendants(c));
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Whether nothing accepts connections at `url` any more. */
function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

interface Tree {
  child: ChildProcess;
  url: string;
  /** The processes under the outermost one once it listened (the gateway among them). */
  below: number[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

/** Starts `command args` and waits (at most 20 s) until the gateway says where it listens. */
async function startTree(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Tree> {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await eventually(
    async () => /listening on (http:\/\/[^\s]+)/.exec(out)?.[1],
    20_000,
  ).catch(() => {
    child.kill('SIGKILL');
    throw new Error(`did not start:\n${out}`);
  });
  return { child, url, below: descendants(child.pid ?? 0), exit, output: () => out };
}

/** Stops whatever a test left running, by pid. */
const leftovers: number[] = [];
function cleanUp(tree: Tree) {
  leftovers.push(tree.child.pid ?? 0, ...tree.below);
}

let upstream: Awaited<ReturnType<typeof startDemoUpstream>>;
before(async () => {
  upstream = await startDemoUpstream({});
});
after(async () => {
  for (const pid of leftovers) if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
  await upstream.close();
});

const serveArgs = () => [
  'serve',
  '--listen',
  '127.0.0.1:0',
  '--upstream',
  upstream.url,
  '--data',
  tempDir(),
];

const NEEDS_OLDER_NODE = {
  skip: OLDER_NODE === undefined && 'needs Linux and a node older than 24 on PATH',
};

/** `node bin/sluice.js serve …` under the machine's older Node, as a plain shell runs it. */
async function launched(): Promise<Tree> {
  const tree = await startTree(OLDER_NODE as string, [LAUNCHER, ...serveArgs()], {
    ...process.env,
    PATH: PLAIN_PATH,
  });
  cleanUp(tree);
  assert.ok(tree.below.length >= 1, 'the launcher runs sluice on the pinned Node as a child');
  return tree;
}

/** A request the upstream holds for `ms`, sent and given time to reach the upstream. */
async function inFlight(tree: Tree, ms: number) {
  const answer = call(`${tree.url}/_test/slow?ms=${ms}`);
  await new Promise((r) => setTimeout(r, 300));
  return answer;
}

test(
  'SIGTERM to the launcher: the request in flight finishes, the launcher exits 0',
  NEEDS_OLDER_NODE,
  async () => {
    const tree = await launched();
    const answer = await inFlight(tree, 800);
    tree.child.kill('SIGTERM');
    assert.equal((await answer).status, 200);
    assert.deepEqual(await tree.exit, { code: 0, signal: null });
    assert.ok(await refused(tree.url));
    assert.ok(!tree.below.some(alive), 'no process left behind');
  },
);

test(
  'Ctrl-C under the launcher (SIGINT to both, as a terminal sends it) still drains',
  NEEDS_OLDER_NODE,
  async () => {
    const tree = await launched();
    const answer = await inFlight(tree, 800);
    // The terminal signals the whole foreground group; the launcher passes it on once more.
    // Pending signals of one kind merge into one: the second comes once the first is handled.
    for (const pid of tree.below) process.kill(pid, 'SIGINT');
    await new Promise((r) => setTimeout(r, 100));
    tree.child.kill('SIGINT');
    assert.equal((await answer).status, 200);
    assert.deepEqual(await tree.exit, { code: 0, signal: null });
  },
);

test(
  'the launcher exits as its gateway did: a signal death is passed on, not 128',
  NEEDS_OLDER_NODE,
  async () => {
    const tree = await launched();
    for (const pid of tree.below) process.kill(pid, 'SIGKILL');
    const { code, signal } = await tree.exit;
    assert.ok(signal === 'SIGKILL' || code === 137, `exited with ${code} / ${signal}`);
  },
);

test(
  'a gateway whose launcher is killed outright drains and stops by itself',
  NEEDS_OLDER_NODE,
  async () => {
    const tree = await launched();
    const answer = await inFlight(tree, 1500);
    tree.child.kill('SIGKILL');
    await tree.exit;
    assert.equal((await answer).status, 200, 'the request in flight is answered');
    await eventually(async () => ((await refused(tree.url)) ? true : undefined), 8_000);
    await eventually(async () => (tree.below.some(alive) ? undefined : true), 8_000);
  },
);

test('SIGTERM to `npm exec sluice serve` (what a supervisor signals) drains the gateway too', {
  skip: NPM === undefined && 'needs Linux and npm on PATH',
}, async () => {
  const tree = await startTree(
    NPM as string,
    ['exec', '--offline', '--yes', '--', 'sluice', ...serveArgs()],
    // A cache of the test's own, so the machine's npm cache is left alone.
    { ...process.env, PATH: PLAIN_PATH, npm_config_cache: tempDir('sluice-npm-cache-') },
  );
  cleanUp(tree);
  assert.ok(tree.below.length >= 1, tree.output());
  const answer = await inFlight(tree, 1500);
  tree.child.kill('SIGTERM');
  await tree.exit;
  assert.equal((await answer).status, 200, 'the request in flight is answered');
  await eventually(async () => ((await refused(tree.url)) ? true : undefined), 8_000);
  await eventually(async () => (tree.below.some(alive) ? undefined : true), 8_000);
});

test('the systemd unit of docs/operations.md starts the gateway that its SIGTERM drains', async () => {
  const doc = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
  const execStart = /^ExecStart=(.+)$/m.exec(doc)?.[1];
  assert.ok(execStart, 'the unit has an ExecStart line');
  const policy = join(tempDir(), 'policy.yaml');
  writeFileSync(policy, 'ip:\n  warn: 50/min\n');
  const [command, ...args] = execStart
    .replaceAll('/opt/sluice/', ROOT)
    .replace('/etc/sluice/policy.yaml', policy)
    .replace('/var/lib/sluice', tempDir())
    .split(' ');
  assert.ok(existsSync(command), `${command} is the pinned Node`);
  const tree = await startTree(
    command,
    [...args, '--listen', '127.0.0.1:0', '--upstream', upstream.url],
    {
      ...process.env,
      PATH: PLAIN_PATH,
    },
  );
  cleanUp(tree);
  const answer = await inFlight(tree, 800);
  tree.child.kill('SIGTERM');
  assert.equal((await answer).status, 200);
  assert.deepEqual(await tree.exit, { code: 0, signal: null });
});
