/**
 * sluice-client: a client for APIs behind sluice that follows every fair-use rule by
 * construction. See README.md.
 *
 * @example
 * import { createClient } from 'sluice-client';
 * const api = createClient({ baseUrl: 'http://127.0.0.1:8080', key: process.env.KEY! });
 * await api.sync('jobs', { onRecords: (jobs) => save(jobs) });
 */
export { fileCheckpoint, memoryCheckpoint } from './checkpoint.js';
export { createClient, } from './client.js';
export { SluiceClientError, SluiceHaltedError, SluiceLocalRefusal, SluiceRefusal, } from './errors.js';
export { matchRoute } from './published-policy.js';
export { realClock } from './time.js';
