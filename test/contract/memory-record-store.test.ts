import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { runRecordStoreContract } from './record-store.contract.ts';

runRecordStoreContract('memory record store', () => new MemoryRecordStore());
