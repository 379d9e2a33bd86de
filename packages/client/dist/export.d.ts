/**
 * One bulk export, within the allowance the gateway publishes (`bulk.allow`, default
 * one per dataset every 30 days). The dates of the exports made are kept in the
 * checkpoint (key `export:<dataset>`); one more within the period is refused locally,
 * with the date of the next allowed export, instead of being sent to earn a 429.
 */
import type { SluiceClient } from './client.ts';
/**
 * @example
 * const res = await client.exportOnce('devices'); // a streamed NDJSON answer
 * for await (const chunk of res.body!) process.stdout.write(chunk);
 */
export declare function runExport(client: SluiceClient, dataset: string): Promise<Response>;
