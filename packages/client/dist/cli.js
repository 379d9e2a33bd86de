#!/usr/bin/env node
/**
 * `sluice-sync`: syncs one collection through a sluice gateway into an NDJSON file,
 * with progress (records, requests, time spent waiting for the limits), resumable from
 * its checkpoint, and one clear final line.
 *
 * @example
 * SLUICE_KEY=sk_… npx sluice-sync jobs --url http://127.0.0.1:8080 --out jobs.ndjson
 */
import { appendFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { fileCheckpoint } from './checkpoint.js';
import { createClient } from './client.js';
import { SluiceClientError, SluiceHaltedError } from './errors.js';
const USAGE = `usage: sluice-sync COLLECTION --url URL [--out FILE] [--checkpoint FILE]
                   [--key-env NAME] [--page-size N] [--concurrency N] [--force]

Syncs COLLECTION (GET URL/api/COLLECTION) into FILE as NDJSON (default COLLECTION.ndjson):
the first run is a full sync, which waits for the gateway's off-hours window unless
--force; later runs fetch only what changed. The API key is read from the environment
variable SLUICE_KEY (or the one --key-env names), never from the command line.
Exit status: 0 done, 2 bad arguments, 3 halted by the gateway (401/403), 1 other failure.`;
class UsageError extends Error {
}
function wholeNumber(name, raw, fallback) {
    if (raw === undefined)
        return fallback;
    if (!/^\d{1,6}$/.test(raw) || Number(raw) < 1) {
        throw new UsageError(`--${name} must be a whole number of at least 1, got "${raw}"`);
    }
    return Number(raw);
}
function seconds(ms) {
    return `${(ms / 1000).toFixed(1)} s`;
}
async function main(argv) {
    let parsed;
    function parse() {
        return parseArgs({
            args: argv,
            allowPositionals: true,
            options: {
                url: { type: 'string' },
                out: { type: 'string' },
                checkpoint: { type: 'string' },
                'key-env': { type: 'string' },
                'page-size': { type: 'string' },
                concurrency: { type: 'string' },
                force: { type: 'boolean' },
                help: { type: 'boolean', short: 'h' },
            },
        });
    }
    try {
        parsed = parse();
    }
    catch (e) {
        throw new UsageError(e.message.split('\n')[0]);
    }
    const { values, positionals } = parsed;
    if (values.help === true) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
    }
    if (positionals.length !== 1) {
        throw new UsageError(positionals.length === 0
            ? 'name the collection to sync, e.g. sluice-sync jobs --url http://127.0.0.1:8080'
            : `sync one collection at a time, got ${positionals.length}: ${positionals.join(' ')}`);
    }
    const collection = positionals[0];
    if (!/^[A-Za-z0-9._-]+$/.test(collection)) {
        throw new UsageError(`the collection must be a name like "jobs", got "${collection}"`);
    }
    if (values.url === undefined)
        throw new UsageError('--url is required: the gateway, e.g. --url http://127.0.0.1:8080');
    let url;
    try {
        url = new URL(values.url);
    }
    catch {
        throw new UsageError(`--url must be an http:// or https:// URL, got "${values.url}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new UsageError(`--url must be an http:// or https:// URL, got "${values.url}"`);
    }
    const keyEnv = values['key-env'] ?? 'SLUICE_KEY';
    const key = process.env[keyEnv];
    if (key === undefined || key.length === 0) {
        throw new UsageError(`the environment variable ${keyEnv} must hold the API key (sk_…)`);
    }
    const pageSize = wholeNumber('page-size', values['page-size'], 100);
    const concurrency = wholeNumber('concurrency', values.concurrency, 1);
    const out = values.out ?? `${collection}.ndjson`;
    const checkpointPath = values.checkpoint ?? `${out}.checkpoint.json`;
    const started = Date.now();
    const tty = process.stderr.isTTY === true;
    let lastLine = 0;
    const client = createClient({
        baseUrl: values.url,
        key,
        concurrency,
        checkpoint: fileCheckpoint(checkpointPath),
    });
    try {
        const result = await client.sync(collection, {
            force: values.force === true,
            pageSize,
            onRecords: async (records) => {
                if (records.length === 0)
                    return;
                await appendFile(out, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
            },
            onProgress: (p) => {
                if (p.phase === 'waiting-window') {
                    process.stderr.write(`sluice-sync: ${collection}: a full sync waits for the off-hours window at ${p.until} (--force starts now)\n`);
                    return;
                }
                const line = `${collection} ${p.full ? 'full' : 'changes'}: ${p.records} records, ${p.requests} requests, ${seconds(p.waitedMs)} waiting for the limits`;
                if (tty)
                    process.stderr.write(`\r${line}\x1b[K`);
                else if (p.phase === 'done' || Date.now() - lastLine >= 2_000) {
                    lastLine = Date.now();
                    process.stderr.write(`${line}\n`);
                }
            },
        });
        if (tty)
            process.stderr.write('\n');
        const stats = client.stats;
        process.stdout.write(`sluice-sync: done: ${collection}, ${result.full ? 'full sync' : 'changes only'}: ` +
            `${result.records} records in ${stats.requests} requests, ${seconds(Date.now() - started)} ` +
            `(${seconds(stats.waitedMs)} waiting for the limits, ${stats.refused} answered 429); ` +
            `appended to ${out}; checkpoint ${result.since ?? 'none'} in ${checkpointPath}\n`);
        return 0;
    }
    catch (e) {
        if (tty)
            process.stderr.write('\n');
        if (e instanceof SluiceHaltedError) {
            process.stderr.write(`sluice-sync: stopped: ${e.message} [${e.code}]\nsluice-sync: the checkpoint in ${checkpointPath} is kept; run again once this is fixed\n`);
            return 3;
        }
        if (e instanceof SluiceClientError) {
            process.stderr.write(`sluice-sync: failed: ${e.message} [${e.code}]\n`);
            return 1;
        }
        throw e;
    }
}
main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
}, (e) => {
    if (e instanceof UsageError) {
        process.stderr.write(`sluice-sync: ${e.message} (sluice-sync --help for usage)\n`);
        process.exitCode = 2;
        return;
    }
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`sluice-sync: failed: ${message}\n`);
    process.exitCode = 1;
});
