import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import type { Incident } from '../../src/core/records.ts';
import { createIncidentRecorder, FLUSH_SLICE } from '../../src/gateway/incident-recorder.ts';
import { openIncidentJournal } from '../../src/store/incident-journal.ts';
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

/** Codes `RL-0000-0001`, `RL-0000-0002`…, counting how many were drawn. */
function numbered() {
  const drawn: string[] = [];
  return {
    drawn,
    next: () => {
      const code = `RL-0000-${String(drawn.length + 1).padStart(4, '0')}`;
      drawn.push(code);
      return code;
    },
  };
}

const noError = (error: unknown) => assert.fail(String(error));

test('the pool holds 16 checked codes: drawn at the start, one more drawn per new incident, a code in use or stored never handed out', async () => {
  const store = new MemoryRecordStore();
  store.saveIncidents([{ ...stored, reference: 'RL-0000-0020' }]);
  const codes = numbered();
  // The 18th draw repeats the code of the first incident, still unsaved.
  let draws = 0;
  const next = () => (++draws === 18 ? 'RL-0000-0001' : codes.next());
  const recorder = createIncidentRecorder({
    store,
    clock: manualClock(5_000),
    flushMs: 3_600_000,
    onError: noError,
    newReference: next,
  });
  try {
    assert.equal(draws, 16);
    const references = [recorder.record('ip-block', { ip: '198.51.100.0' }, {})];
    assert.equal(draws, 17);
    for (let i = 1; i < 30; i++) {
      references.push(recorder.record('ip-block', { ip: `198.51.100.${i}` }, {}));
    }
    assert.equal(new Set(references).size, 30, references.join(' '));
    assert.equal(references.includes('RL-0000-0020'), false);
    await recorder.flush();
    assert.equal(store.getIncident('RL-0000-0020')?.subject.accountId, 'first');
    assert.equal(store.listIncidents().length, 31);
  } finally {
    await recorder.close();
  }
});

test('a store that never answers is asked one code at a time, not once per new incident', async () => {
  let asked = 0;
  class Hanging extends MemoryRecordStore {
    override getIncident(_reference: string): Incident | undefined {
      asked++;
      return new Promise<never>(() => {}) as never;
    }
  }
  const recorder = createIncidentRecorder({
    store: new Hanging(),
    clock: manualClock(5_000),
    flushMs: 3_600_000,
    onError: noError,
  });
  try {
    const references = new Set<string>();
    for (let i = 0; i < 5; i++)
      references.add(recorder.record('ip-block', { ip: `192.0.2.${i}` }, {}));
    assert.equal(references.size, 5);
    assert.equal(asked, 1);
  } finally {
    await recorder.close();
  }
});

test('a store whose look-up throws: codes are drawn unchecked, and each new incident tries the look-up again', async () => {
  let asked = 0;
  class Throwing extends MemoryRecordStore {
    override getIncident(_reference: string): Incident | undefined {
      asked++;
      throw new Error('store away');
    }
  }
  const store = new Throwing();
  const recorder = createIncidentRecorder({
    store,
    clock: manualClock(5_000),
    flushMs: 3_600_000,
    onError: noError,
  });
  try {
    assert.equal(asked, 1);
    const references = new Set<string>();
    for (let i = 0; i < 3; i++)
      references.add(recorder.record('ip-block', { ip: `192.0.2.${i}` }, {}));
    assert.equal(references.size, 3);
    assert.equal(asked, 4);
  } finally {
    await recorder.close();
  }
});

test('gapMs: a refusal more than gapMs after the last one of its run starts a new incident', async () => {
  const clock = manualClock(5_000);
  const store = new MemoryRecordStore();
  const recorder = createIncidentRecorder({
    store,
    clock,
    flushMs: 3_600_000,
    gapMs: 1_000,
    onError: noError,
  });
  try {
    const first = recorder.record('ip-block', { ip: '192.0.2.1' }, {});
    clock.advance(1_000);
    assert.equal(recorder.record('ip-block', { ip: '192.0.2.1' }, {}), first);
    clock.advance(1_001);
    assert.notEqual(recorder.record('ip-block', { ip: '192.0.2.1' }, {}), first);
  } finally {
    await recorder.close();
  }
});

test('a flush takes its batch at once, and a flush called during another waits for it', async () => {
  class Slow extends MemoryRecordStore {
    override async saveIncidents(incidents: readonly Incident[]): Promise<void> {
      await new Promise((resolve) => setImmediate(resolve));
      super.saveIncidents(incidents);
    }
  }
  const store = new Slow();
  const recorder = createIncidentRecorder({
    store,
    clock: manualClock(5_000),
    flushMs: 3_600_000,
    onError: noError,
  });
  try {
    const a = recorder.record('ip-block', { ip: '192.0.2.1' }, {});
    const first = recorder.flush();
    // Recorded after the flush was called: the next batch's.
    const b = recorder.record('ip-block', { ip: '192.0.2.2' }, {});
    await recorder.flush();
    assert.equal(store.getIncident(a)?.subject.ip, '192.0.2.1');
    await first;
    const c = recorder.record('ip-block', { ip: '192.0.2.3' }, {});
    const third = recorder.flush();
    await recorder.flush();
    assert.equal(store.getIncident(c)?.subject.ip, '192.0.2.3');
    await third;
    assert.equal(store.getIncident(b)?.subject.ip, '192.0.2.2');
  } finally {
    await recorder.close();
  }
});

test('a flush takes only what was recorded before it was called', async () => {
  const store = new MemoryRecordStore();
  const recorder = createIncidentRecorder({
    store,
    clock: manualClock(5_000),
    flushMs: 3_600_000,
    onError: noError,
  });
  try {
    const a = recorder.record('ip-block', { ip: '192.0.2.1' }, {});
    const flushed = recorder.flush();
    const b = recorder.record('ip-block', { ip: '192.0.2.2' }, {});
    await flushed;
    assert.notEqual(store.getIncident(a), undefined);
    assert.equal(store.getIncident(b), undefined);
  } finally {
    await recorder.close();
  }
});

/** The real journal in a temporary directory, noting each file released. */
function watchedJournal(dir: string) {
  const journal = openIncidentJournal(dir);
  const released: (string | undefined)[] = [];
  return {
    released,
    journal: {
      append: (incident: Incident) => journal.append(incident),
      rotate: () => journal.rotate(),
      release: (file: string) => {
        released.push(file);
        journal.release(file);
      },
      close: () => journal.close(),
    },
  };
}

test('a journal: each flush releases exactly the files of its batch, once saved', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-recorder-'));
  const { journal, released } = watchedJournal(dir);
  const store = new MemoryRecordStore();
  const recorder = createIncidentRecorder({
    store,
    clock: manualClock(5_000),
    flushMs: 3_600_000,
    journal,
    onError: noError,
    onJournalError: noError,
  });
  try {
    recorder.record('ip-block', { ip: '192.0.2.1' }, {});
    await recorder.flush();
    assert.equal(released.length, 1);
    assert.match(String(released[0]), /incidents\.\d+\.1\.journal$/);
    // Nothing new: no file, nothing released.
    await recorder.flush();
    assert.equal(released.length, 1);
    recorder.record('ip-block', { ip: '192.0.2.2' }, {});
    await recorder.flush();
    assert.equal(released.length, 2);
    assert.match(String(released[1]), /incidents\.\d+\.2\.journal$/);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    await recorder.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('journal failures: the first of each streak is reported, the refusal still gets its code; without the hook, nothing throws', async () => {
  const base = mkdtempSync(join(tmpdir(), 'sluice-recorder-'));
  // A directory that does not exist yet: the journal cannot open its file.
  const dir = join(base, 'data');
  const reported: unknown[] = [];
  const store = new MemoryRecordStore();
  const recorder = createIncidentRecorder({
    store,
    clock: manualClock(5_000),
    flushMs: 3_600_000,
    journal: openIncidentJournal(dir),
    onError: noError,
    onJournalError: (error) => reported.push(error),
  });
  const silent = createIncidentRecorder({
    store: new MemoryRecordStore(),
    clock: manualClock(5_000),
    flushMs: 3_600_000,
    journal: openIncidentJournal(dir),
    onError: noError,
  });
  try {
    assert.match(silent.record('ip-block', { ip: '192.0.2.9' }, {}), /^RL-/);
    recorder.record('ip-block', { ip: '192.0.2.1' }, {});
    recorder.record('ip-block', { ip: '192.0.2.2' }, {});
    assert.equal(reported.length, 1);
    mkdirSync(dir);
    recorder.record('ip-block', { ip: '192.0.2.3' }, {});
    assert.equal(reported.length, 1);
    await recorder.flush();
    rmSync(dir, { recursive: true, force: true });
    recorder.record('ip-block', { ip: '192.0.2.4' }, {});
    assert.equal(reported.length, 2);
    await recorder.flush();
    assert.equal(store.listIncidents().length, 4);
  } finally {
    await recorder.close();
    await silent.close();
    rmSync(base, { recursive: true, force: true });
  }
});

test('without a journal, a new incident reports no journal error', async () => {
  const reported: unknown[] = [];
  const recorder = createIncidentRecorder({
    store: new MemoryRecordStore(),
    clock: manualClock(5_000),
    flushMs: 3_600_000,
    onError: noError,
    onJournalError: (error) => reported.push(error),
  });
  recorder.record('ip-block', { ip: '192.0.2.1' }, {});
  await recorder.close();
  assert.deepEqual(reported, []);
});

test('a store away for long: at most 100,000 incidents wait, the oldest leave memory and their journal files stay', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-recorder-'));
  const { journal, released } = watchedJournal(dir);
  const store = new SliceCountingStore();
  const lost: number[] = [];
  const recorder = createIncidentRecorder({
    store,
    clock: manualClock(5_000),
    flushMs: 3_600_000,
    journal,
    onError: (_error, unsaved) => lost.push(unsaved.length),
    onJournalError: noError,
  });
  const ip = (i: number) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`;
  try {
    // Exactly 100,000: all kept, and their file released once they are saved.
    for (let i = 0; i < 100_000; i++) recorder.record('ip-block', { ip: ip(i) }, {});
    store.failAt = 0;
    await recorder.flush();
    assert.deepEqual(lost, [100_000]);
    await recorder.flush();
    assert.equal(store.listIncidents({ limit: 200_000 }).length, 100_000);
    assert.equal(released.length, 1);
    assert.deepEqual(readdirSync(dir), []);

    // One more than that: the oldest is dropped, its file kept for the replay.
    for (let i = 100_000; i < 200_001; i++) recorder.record('ip-block', { ip: ip(i) }, {});
    store.saves = [];
    store.failAt = 0;
    await recorder.flush();
    assert.deepEqual(lost, [100_000, 100_001]);
    await recorder.flush();
    const saved = store.listIncidents({ limit: 300_000 });
    assert.equal(saved.length, 200_000);
    const ips = new Set(saved.map((incident) => incident.subject.ip));
    assert.equal(ips.has(ip(100_000)), false);
    assert.equal(ips.has(ip(100_001)), true);
    assert.equal(ips.has(ip(200_000)), true);
    assert.equal(released.length, 1);
    assert.equal(readdirSync(dir).length, 1);
  } finally {
    await recorder.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the flush timer saves on its own, stops at close, and never keeps a process alive', async () => {
  const store = new MemoryRecordStore();
  const recorder = createIncidentRecorder({
    store,
    clock: manualClock(5_000),
    flushMs: 5,
    onError: noError,
  });
  const a = recorder.record('ip-block', { ip: '192.0.2.1' }, {});
  for (let i = 0; i < 200 && store.getIncident(a) === undefined; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.notEqual(store.getIncident(a), undefined);
  await recorder.close();
  const b = recorder.record('ip-block', { ip: '192.0.2.2' }, {});
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(store.getIncident(b), undefined);

  const module = join(import.meta.dirname, '../../src/gateway/incident-recorder.ts');
  const memory = join(import.meta.dirname, '../../src/store/memory-record-store.ts');
  const child = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { createIncidentRecorder } from ${JSON.stringify(module)};
       import { MemoryRecordStore } from ${JSON.stringify(memory)};
       createIncidentRecorder({ store: new MemoryRecordStore(), clock: { now: () => 0 }, flushMs: 60_000, onError() {} });`,
    ],
    { timeout: 10_000, encoding: 'utf8' },
  );
  assert.equal(child.status, 0, child.stderr);
});
