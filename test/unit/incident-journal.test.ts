import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import type { Incident } from '../../src/core/records.ts';
import { createIncidentRecorder } from '../../src/gateway/incident-recorder.ts';
import {
  findInJournals,
  openIncidentJournal,
  replayIncidentJournals,
} from '../../src/store/incident-journal.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { SqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import type { RecordStore } from '../../src/store/types.ts';
import { tempDir } from '../helpers/gateway-process.ts';

const DEAD = 4_000_001; // above Linux's pid_max: no process has it
const SELF = 4_000_002;
const notAlive = () => false;

function incident(reference: string, extra: Partial<Incident> = {}): Incident {
  return {
    reference,
    rule: 'ip-block',
    subject: { ip: '192.0.2.7' },
    startedAt: 1_000,
    endedAt: 1_000,
    count: 1,
    counters: { ipRequests: 3, ipBlock: 2 },
    note: undefined,
    ...extra,
  };
}

const journals = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.journal'));

test('append writes one line per incident, in a file named for the process', () => {
  const dir = tempDir();
  const journal = openIncidentJournal(dir, DEAD);
  assert.deepEqual(journals(dir), [], 'no file before the first append');
  journal.append(incident('RL-AAAA-AAAA'));
  journal.append(incident('RL-BBBB-BBBB', { note: 'a "quoted"\nnote' }));
  assert.deepEqual(journals(dir), [`incidents.${DEAD}.1.journal`]);
  const lines = readFileSync(join(dir, `incidents.${DEAD}.1.journal`), 'utf8').split('\n');
  assert.equal(lines.length, 3, 'two lines, each ending in a newline (a note with one too)');
  assert.equal(JSON.parse(lines[1]).note, 'a "quoted"\nnote');
  journal.close();
});

test('rotate starts a new file; release deletes the old one and leaves the new', () => {
  const dir = tempDir();
  const journal = openIncidentJournal(dir, DEAD);
  assert.equal(journal.rotate(), undefined, 'nothing written: nothing to rotate');
  journal.append(incident('RL-AAAA-AAAA'));
  const first = journal.rotate();
  assert.equal(first, join(dir, `incidents.${DEAD}.1.journal`));
  journal.append(incident('RL-BBBB-BBBB'));
  journal.release(first as string);
  assert.deepEqual(journals(dir), [`incidents.${DEAD}.2.journal`]);
  assert.equal(findInJournals(dir, 'rl-bbbb-bbbb')?.reference, 'RL-BBBB-BBBB');
  assert.equal(findInJournals(dir, 'RL-AAAA-AAAA'), undefined);
  journal.close();
});

test('a new journal never appends to a file a previous process with its pid left', () => {
  const dir = tempDir();
  const before = openIncidentJournal(dir, SELF);
  before.append(incident('RL-AAAA-AAAA'));
  before.close();
  const after = openIncidentJournal(dir, SELF);
  after.append(incident('RL-BBBB-BBBB'));
  after.close();
  assert.deepEqual(journals(dir).sort(), [
    `incidents.${SELF}.1.journal`,
    `incidents.${SELF}.2.journal`,
  ]);
});

for (const [name, open] of [
  ['memory', (): RecordStore => new MemoryRecordStore()],
  ['sqlite', (): RecordStore => new SqliteRecordStore(tempDir())],
] as const) {
  test(`${name}: replay saves what the store lacks, skips a torn line, deletes the files`, async () => {
    const dir = tempDir();
    const store = open();
    const journal = openIncidentJournal(dir, DEAD);
    journal.append(incident('RL-AAAA-AAAA'));
    journal.rotate();
    journal.append(incident('RL-BBBB-BBBB', { rule: 'key-missing', subject: { ip: '::1' } }));
    journal.close();
    // A crash in the middle of the next line's write.
    appendFileSync(join(dir, `incidents.${DEAD}.2.journal`), '{"reference":"RL-CCCC-CC');

    const report = await replayIncidentJournals(dir, store, { alive: notAlive });
    assert.deepEqual(report, { files: 2, saved: 2, skipped: 1 });
    assert.deepEqual(await store.getIncident('RL-AAAA-AAAA'), incident('RL-AAAA-AAAA'));
    assert.equal((await store.getIncident('RL-BBBB-BBBB'))?.rule, 'key-missing');
    assert.deepEqual((await store.getIncident('RL-BBBB-BBBB'))?.subject, { ip: '::1' });
    assert.equal(await store.getIncident('RL-CCCC-CC00'), undefined);
    assert.deepEqual(journals(dir), []);
    assert.deepEqual(await replayIncidentJournals(dir, store), { files: 0, saved: 0, skipped: 0 });
    await store.close();
  });

  test(`${name}: replay never overwrites a stored row (it has the later count)`, async () => {
    const dir = tempDir();
    const store = open();
    const later = incident('RL-AAAA-AAAA', { endedAt: 9_000, count: 57 });
    await store.saveIncidents([later]);
    const journal = openIncidentJournal(dir, DEAD);
    journal.append(incident('RL-AAAA-AAAA'));
    journal.close();
    const report = await replayIncidentJournals(dir, store, { alive: notAlive });
    assert.deepEqual(report, { files: 1, saved: 0, skipped: 0 });
    assert.deepEqual(await store.getIncident('RL-AAAA-AAAA'), later);
    await store.close();
  });
}

test('replay leaves the files of a gateway still running to it, and replays its own pid', async () => {
  const dir = tempDir();
  const store = new MemoryRecordStore();
  const live = openIncidentJournal(dir, DEAD);
  live.append(incident('RL-AAAA-AAAA'));
  const mine = openIncidentJournal(dir, SELF);
  mine.append(incident('RL-BBBB-BBBB'));
  mine.close();
  const report = await replayIncidentJournals(dir, store, {
    pid: SELF,
    alive: (pid) => pid === DEAD || pid === SELF,
  });
  assert.equal(report.files, 1);
  assert.equal(store.getIncident('RL-AAAA-AAAA'), undefined, 'the live one keeps its file');
  assert.equal(store.getIncident('RL-BBBB-BBBB')?.reference, 'RL-BBBB-BBBB');
  assert.deepEqual(journals(dir), [`incidents.${DEAD}.1.journal`]);
  live.close();
});

test('replay skips lines that are not incidents, and reports them', async () => {
  const dir = tempDir();
  writeFileSync(
    join(dir, `incidents.${DEAD}.1.journal`),
    `not json\n{"reference":"RL-AAAA-AAAA"}\n${JSON.stringify(incident('RL-BBBB-BBBB'))}\n`,
  );
  const store = new MemoryRecordStore();
  const report = await replayIncidentJournals(dir, store, { alive: notAlive });
  assert.deepEqual(report, { files: 1, saved: 1, skipped: 2 });
});

test('replay of a directory that does not exist does nothing', async () => {
  const dir = join(tempDir(), 'missing');
  const report = await replayIncidentJournals(dir, new MemoryRecordStore());
  assert.deepEqual(report, { files: 0, saved: 0, skipped: 0 });
  assert.equal(existsSync(dir), false);
});

test('recorder: a new incident is in the journal before its code is returned, once per run', async () => {
  const dir = tempDir();
  const store = new MemoryRecordStore();
  const journal = openIncidentJournal(dir, DEAD);
  const clock = manualClock(5_000);
  const logged: string[] = [];
  const recorder = createIncidentRecorder({
    store,
    clock,
    flushMs: 60_000,
    journal,
    onError: (error) => assert.fail(String(error)),
    onNew: (i) => logged.push(i.reference),
  });
  const first = recorder.record('ip-block', { ip: '192.0.2.7' }, { ipRequests: 3 });
  assert.equal(findInJournals(dir, first)?.subject.ip, '192.0.2.7');
  assert.equal(findInJournals(dir, first)?.startedAt, 5_000);
  clock.advance(10);
  assert.equal(recorder.record('ip-block', { ip: '192.0.2.7' }, { ipRequests: 4 }), first);
  const lines = () =>
    journals(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').slice(0, -1));
  assert.equal(lines().length, 1, 'a run’s later refusals write nothing');
  assert.deepEqual(logged, [first], 'the log line and the answer carry the same code');

  await recorder.flush();
  assert.equal(store.getIncident(first)?.count, 2);
  assert.deepEqual(journals(dir), [], 'the flushed batch’s file is deleted');
  const second = recorder.record('ip-block', { ip: '192.0.2.8' }, { ipRequests: 3 });
  assert.deepEqual(lines().length, 1);
  assert.equal(findInJournals(dir, second)?.reference, second);
  await recorder.close();
  assert.deepEqual(journals(dir), []);
});

test('recorder: journal files stay while their batch cannot be saved, and go once it is', async () => {
  const dir = tempDir();
  const store = new MemoryRecordStore();
  let down = true;
  const failing: RecordStore = Object.assign(Object.create(store) as RecordStore, {
    saveIncidents(batch: readonly Incident[]) {
      if (down) throw new Error('disk away');
      store.saveIncidents(batch);
    },
    getIncident: (reference: string) => store.getIncident(reference),
  });
  const errors: unknown[] = [];
  const recorder = createIncidentRecorder({
    store: failing,
    clock: manualClock(5_000),
    flushMs: 60_000,
    journal: openIncidentJournal(dir, DEAD),
    onError: (error) => errors.push(error),
  });
  const a = recorder.record('ip-block', { ip: '192.0.2.7' }, {});
  await recorder.flush();
  const b = recorder.record('ip-block', { ip: '192.0.2.8' }, {});
  await recorder.flush();
  assert.equal(errors.length, 2);
  assert.equal(journals(dir).length, 2, 'both files kept: their incidents are not saved');
  down = false;
  await recorder.flush();
  assert.ok(store.getIncident(a) && store.getIncident(b));
  assert.deepEqual(journals(dir), []);
  await recorder.close();
});

test('recorder: a store still down at close leaves the files for the next start', async () => {
  const dir = tempDir();
  const broken: RecordStore = Object.assign(new MemoryRecordStore(), {
    saveIncidents() {
      throw new Error('disk away');
    },
  });
  const recorder = createIncidentRecorder({
    store: broken,
    clock: manualClock(5_000),
    flushMs: 60_000,
    journal: openIncidentJournal(dir, DEAD),
    onError: () => {},
  });
  const reference = recorder.record('ip-block', { ip: '192.0.2.7' }, {});
  await recorder.close();
  const store = new MemoryRecordStore();
  await replayIncidentJournals(dir, store, { alive: notAlive });
  assert.equal(store.getIncident(reference)?.rule, 'ip-block');
});

test('recorder: a journal that cannot be written reports once and still answers', async () => {
  const store = new MemoryRecordStore();
  const reported: unknown[] = [];
  const recorder = createIncidentRecorder({
    store,
    clock: manualClock(5_000),
    flushMs: 60_000,
    journal: openIncidentJournal(join(tempDir(), 'no', 'such', 'dir'), DEAD),
    onError: (error) => assert.fail(String(error)),
    onJournalError: (error) => reported.push(error),
  });
  const a = recorder.record('ip-block', { ip: '192.0.2.7' }, {});
  const b = recorder.record('ip-block', { ip: '192.0.2.8' }, {});
  assert.equal(reported.length, 1, 'one report for a streak of failures');
  assert.match(String((reported[0] as Error).message), /cannot open the incident journal/);
  await recorder.close();
  assert.ok(store.getIncident(a) && store.getIncident(b), 'the flush still saves them');
});
