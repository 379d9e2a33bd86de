/**
 * What a worker thread runs first: the SQLite warning filter (as the CLI's main.ts does),
 * then the thread itself (worker.ts), imported after it so that loading node:sqlite finds
 * the filter in place.
 *
 * @example
 * new Worker(new URL('./worker-entry.ts', import.meta.url), { workerData: setup });
 */
import '../cli/quiet-warnings.ts';

await import('./worker.ts');
