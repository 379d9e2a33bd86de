/**
 * sluice-client: a client for APIs behind sluice that follows every fair-use rule by
 * construction. See README.md.
 *
 * @example
 * import { createClient } from 'sluice-client';
 * const api = createClient({ baseUrl: 'http://127.0.0.1:8080', key: process.env.KEY! });
 * await api.sync('jobs', { onRecords: (jobs) => save(jobs) });
 */
export { type CheckpointStore, fileCheckpoint, memoryCheckpoint } from './checkpoint.ts';
export { type ClientOptions, type ClientStats, createClient, type SluiceClient, type SluiceRequestInit, } from './client.ts';
export { type Problem, SluiceClientError, SluiceHaltedError, SluiceLocalRefusal, SluiceRefusal, } from './errors.ts';
export type { PublishedPolicy, PublishedRoute } from './published-policy.ts';
export { matchRoute } from './published-policy.ts';
export type { SyncOptions, SyncProgress, SyncResult } from './sync.ts';
export { type ClientClock, realClock } from './time.ts';
