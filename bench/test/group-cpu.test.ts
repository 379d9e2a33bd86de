import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { groupCpuMs } from '../lib/group-cpu.ts';

test('the CPU of a process group counts what its processes burnt, and nothing of others', async () => {
  // A group leader that spins for about 400 ms of CPU, then waits to be read.
  const child = spawn(
    process.execPath,
    ['-e', 'const t = Date.now(); while (Date.now() - t < 400); setTimeout(() => {}, 10_000);'],
    { detached: true, stdio: 'ignore' },
  );
  try {
    await new Promise((r) => setTimeout(r, 900));
    const ms = groupCpuMs(child.pid as number);
    assert.ok(ms >= 300 && ms < 2_000, `expected about 400 ms, got ${ms}`);
    assert.equal(groupCpuMs(2 ** 22 + 12345), 0, 'a group nobody leads');
  } finally {
    process.kill(-(child.pid as number), 'SIGKILL');
  }
});
