import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sampleNoise } from '../lib/cpu-noise.ts';
import { liveGroups, setPinning, spawnPinned } from '../lib/procs.ts';

setPinning(false);

/** A child that keeps one core busy for `ms`. */
function burner(ms: number) {
  const code = `const end = Date.now() + ${ms}; while (Date.now() < end) {}`;
  return spawnPinned(0, process.execPath, ['-e', code], { name: 'burner' });
}

test("a busy process counts as others' CPU unless it is one of the benchmark's", {
  skip: process.platform !== 'linux',
  timeout: 20_000,
}, async (t) => {
  const a = burner(1800);
  t.after(() => a.stop());
  await new Promise((r) => setTimeout(r, 200));
  const asOther = await sampleNoise(1200, () => new Set());
  await a.exited();

  const b = burner(1800);
  t.after(() => b.stop());
  await new Promise((r) => setTimeout(r, 200));
  const asOurs = await sampleNoise(1200, liveGroups);
  await b.exited();

  assert.ok(asOther && asOurs);
  assert.ok(asOther.foreignCores >= 0.7, `as other: ${asOther.foreignCores} cores`);
  assert.ok(
    asOurs.foreignCores < asOther.foreignCores - 0.4,
    `as ours: ${asOurs.foreignCores}, as other: ${asOther.foreignCores}`,
  );
});
