import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import type { Incident } from '../../src/core/records.ts';
import { createIncidentRecorder, FLUSH_SLICE } from '../../src/gateway/incident-recorder.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { SqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import type { RecordStore } from '../../src/store/types.ts';
import { answeringLater } from '../helpers/async-store.ts';

const stored: Incident = {
  reference: 'RL-AAAA-AAAA',
  rule: 'account-rate',
  subject: { accountId: 'first', keyId: 'K1', ip: '192.0.2.1' },
  startedAt: 1_000,
  endedAt: 2_000,
  count: 7,
  counters: {},
  note: undefined,
};

for (const [name, open] of [
  ['memory', () => ({ store: new MemoryRecordStore() as RecordStore, done() {} })],
  [
    'memory answering later',
    () => ({ store: answeringLater(new MemoryRecordStore()) as RecordStore, done() {} }),
  ],
  [
    'sqlite',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'sluice-recorder-'));
      const store = new SqliteRecordStore(dir);
      return {
        store: store as RecordStore,
        done() {
          store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
] as const) {
  test(`${name}: a new incident never takes a code a stored incident has`, async () => {
    const { store, done } = open();
    try {
      await store.saveIncidents([stored]);
      // The code generator repeats the stored code twice before a free one.
      const codes = ['RL-AAAA-AAAA', 'rl-aaaa-aaaa', 'RL-BBBB-BBBB'];
      const recorder = createIncidentRecorder({
        store,
        clock: manualClock(5_000),
        flushMs: 60_000,
        onError: (error) => assert.fail(String(error)),
        newReference: () => codes.shift() ?? 'RL-CCCC-CCCC',
      });
      // A store that answers later is asked ahead, while the gateway starts.
      await new Promise((resolve) => setImmediate(resolve));
      const reference = recorder.record('ip-block', { ip: '198.51.100.9' }, { ipCount: 201 });
      assert.equal(reference, 'RL-BBBB-BBBB');
      await recorder.close();
      // Both incidents are kept, each under its own code.
      assert.equal((await store.getIncident('RL-AAAA-AAAA'))?.subject.accountId, 'first');
      assert.equal((await store.getIncident('RL-BBBB-BBBB'))?.rule, 'ip-block');
    } finally {
      done();
    }
  });
}

/** The memory store, noting each saveIncidents call's size, failing the one numbered `failAt`. */
class SliceCountingStore extends MemoryRecordStore {
  saves: number[] = [];
  failAt = -1;
  override saveIncidents(incidents: readonly Incident[]): void {
    if (this.saves.length === this.failAt) {
      this.failAt = -1;
      throw new Error('store away');
    }
    this.saves.push(incidents.length);
    super.saveIncidents(incidents);
  }
}

test(`a flush of 1,000 new incidents saves them in slices of ${FLUSH_SLICE} with a turn of the event loop between`, async () => {
  const store = new SliceCountingStore();
  const lost: number[] = [];
  const recorder = createIncidentRecorder({
    store,
    clock: manualClock(5_000),
    flushMs: 3_600_000,
    onError: (_error, unsaved) => lost.push(unsaved.length),
  });
  try {
    for (let i = 0; i < 1_000; i++) {
      recorder.record('ip-block', { ip: `198.51.${i >> 8}.${i & 255}` }, { ipCount: 201 });
    }
    let savedWhenServed = -1;
    setImmediate(() => {
      savedWhenServed = store.saves.length;
    });
    await recorder.flush();
    assert.deepEqual(store.saves, [200, 200, 200, 200, 200]);
    assert.ok(
      savedWhenServed >= 1 && savedWhenServed < 5,
      `a callback waiting on the loop ran after ${savedWhenServed} of 5 slices`,
    );
    assert.equal(store.listIncidents().length, 1_000);

    // A slice that fails: the slices before it are committed, the rest kept for the next flush.
    for (let i = 0; i < 500; i++)
      recorder.record('ip-block', { ip: `203.0.${i >> 8}.${i & 255}` }, {});
    store.saves = [];
    store.failAt = 1;
    await recorder.flush();
    assert.deepEqual(store.saves, [200]);
    assert.deepEqual(lost, [300]);
    await recorder.flush();
    assert.deepEqual(store.saves, [200, 200, 100]);
    assert.equal(store.listIncidents().length, 1_500);
  } finally {
    await recorder.close();
  }
});
