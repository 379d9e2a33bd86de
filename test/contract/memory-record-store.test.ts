import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { answeringLater } from '../helpers/async-store.ts';
import { runRecordStoreContract } from './record-store.contract.ts';

runRecordStoreContract('memory record store', () => new MemoryRecordStore());

// The same store answering with promises: every caller must be right for a Redis store.
runRecordStoreContract('memory record store, answering later', () =>
  answeringLater(new MemoryRecordStore()),
);
