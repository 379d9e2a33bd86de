/**
 * The key-status service and the IP-block lift against the memory store, the SQLite
 * store and a store that answers every call with a promise on a later turn (as Redis
 * will): the same answers from all three.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import { asyncRecordStore } from '../helpers/async-record-store.ts';
import { runRecordStoreContract } from './record-store.contract.ts';
import { runRecordsServiceContract } from './records-service.contract.ts';

const dirs: string[] = [];
process.on('exit', () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

runRecordsServiceContract('memory record store', () => {
  const store = new MemoryRecordStore();
  return { store, inner: store };
});

runRecordsServiceContract('sqlite record store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-records-'));
  dirs.push(dir);
  const store = openSqliteRecordStore(dir);
  return { store, inner: store };
});

runRecordsServiceContract('async memory record store', () => {
  const inner = new MemoryRecordStore();
  return { store: asyncRecordStore(inner), inner };
});

// The wrapper itself keeps the store's contract, so what the service sees through it is a store.
runRecordStoreContract('async memory record store', () =>
  asyncRecordStore(new MemoryRecordStore()),
);
