/**
 * `sluice serve`: runs the gateway. `--demo` puts it in front of the bundled demo API
 * with a fresh demo key, and prints a curl line to try.
 *
 * stdout carries JSON log lines only (one format for a log shipper, with a `listening`
 * line); the words for a person (where it listens, the demo key) go to stderr.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../app.ts';
import { generateApiKey } from '../core/api-key.ts';
import { systemClock } from '../core/clock.ts';
import { SluiceError } from '../core/errors.ts';
import { withServerOverrides } from '../core/policy/override.ts';
import { parseThreads } from '../core/policy/values.ts';
import { startDemoUpstream } from '../demo/demo-upstream.ts';
import { createLogger } from '../gateway/logger.ts';
import { changeKeyStatus } from '../records/key-status.ts';
import {
  type IncidentJournal,
  openIncidentJournal,
  replayIncidentJournals,
} from '../store/incident-journal.ts';
import { openRecordStore } from '../store/open-record-store.ts';
import type { RecordStore } from '../store/types.ts';
import { buildThreadedApp } from '../threads/supervisor.ts';
import { parseCli, policyFromArgs } from './common.ts';
import type { CliIo } from './io.ts';
import { watchParent } from './parent-watch.ts';

const HELP = `usage: sluice serve [--config FILE] [--listen HOST:PORT] [--upstream URL] [--data DIR] [--demo]
                    [--admin HOST:PORT] [--threads N|auto]

  --config FILE       policy file (default: the built-in policy)
  --listen HOST:PORT  where the gateway listens (default: server.listen, 127.0.0.1:8080)
  --upstream URL      the API sluice protects (default: server.upstream)
  --data DIR          directory of the embedded database (default: server.data, ./data)
  --demo              run in front of the bundled demo API, with a demo key that is
                      revoked on exit; its database is DIR/demo (./data/demo) unless
                      --data is given, so demo keys never reach a real API's database
  --admin HOST:PORT   also serve /metrics and the admin API there; needs SLUICE_ADMIN_TOKEN
  --threads N|auto    worker threads serving requests, one set of limits in shared memory
                      (default: server.threads, 1; auto: one per core)
  --log-level LEVEL   trace, debug, info (default), warn, error
`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCli(
    args,
    {
      listen: { type: 'string' },
      upstream: { type: 'string' },
      demo: { type: 'boolean' },
      admin: { type: 'string' },
      'log-level': { type: 'string' },
      threads: { type: 'string' },
    },
    false,
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new SluiceError('SLUICE_ERR_CLI_USAGE', `unexpected argument "${positionals[0]}"`, {
      exitCode: 2,
    });
  }
  if (values.demo && values.upstream !== undefined) {
    throw new SluiceError('SLUICE_ERR_CLI_USAGE', '--demo and --upstream exclude each other', {
      exitCode: 2,
    });
  }
  const level = values['log-level'] ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level)) {
    throw new SluiceError(
      'SLUICE_ERR_CLI_USAGE',
      `--log-level must be one of trace, debug, info, warn, error; got "${level}"`,
      {
        exitCode: 2,
      },
    );
  }
  let admin: { host: string; port: number; token: string | undefined } | undefined;
  if (values.admin !== undefined) {
    const token = io.env.SLUICE_ADMIN_TOKEN;
    if (token === undefined || token.length < 16) {
      throw new SluiceError(
        'SLUICE_ERR_CLI_USAGE',
        '--admin needs SLUICE_ADMIN_TOKEN set to a secret of 16 characters or more',
        {
          exitCode: 2,
        },
      );
    }
    const probe = withServerOverrides(policyFromArgs({}), { listen: values.admin });
    admin = { ...probe.server.listen, token };
  }

  // The demo's database is its own: a key printed in a terminal must not be valid in
  // front of a real API that `serve --config` runs on the default ./data.
  const dataArg =
    values.demo && values.data === undefined
      ? join(policyFromArgs({ config: values.config }).server.dataDir, 'demo')
      : values.data;
  let policy = policyFromArgs({ config: values.config, data: dataArg });
  policy = withServerOverrides(policy, { listen: values.listen, upstream: values.upstream });
  const logger = createLogger({ level });

  if (!values.demo && policy.server.upstream === undefined) {
    throw new SluiceError(
      'SLUICE_ERR_CLI_USAGE',
      'no upstream: give --upstream URL or server.upstream in the policy',
      { exitCode: 2 },
    );
  }
  const demo = values.demo ? await startDemoUpstream({}) : undefined;
  if (demo !== undefined) policy = withServerOverrides(policy, { upstream: demo.url });

  let recordStore: RecordStore;
  let incidentJournal: IncidentJournal;
  try {
    // SQLite in the data directory, or Redis when the policy's store is (every node's).
    recordStore = (await openRecordStore(policy.store, policy.server.dataDir)).store;
  } catch (error) {
    await demo?.close();
    throw error;
  }
  try {
    // Before serving: codes handed out just before a crash are in the journal only.
    const replay = await replayIncidentJournals(policy.server.dataDir, recordStore);
    if (replay.files > 0) {
      logger.info({ event: 'journal-replayed', ...replay }, 'incident journal replayed');
    }
    incidentJournal = openIncidentJournal(policy.server.dataDir);
  } catch (error) {
    await recordStore.close();
    await demo?.close();
    throw error;
  }
  let demoKey: { id: string; secret: string } | undefined;
  try {
    demoKey = demo === undefined ? undefined : await createDemoKey(recordStore);
  } catch (error) {
    await recordStore.close();
    await demo?.close();
    throw error;
  }

  const threads = threadCount(values.threads, policy.server.threads);
  const app =
    threads > 1
      ? await buildThreadedApp({
          policy,
          recordStore,
          logger,
          admin,
          incidentJournal,
          threads,
          logLevel: level,
          debug: io.env.SLUICE_DEBUG_THREADS === '1',
        })
      : await buildApp({ policy, recordStore, logger, admin, incidentJournal });
  let urls: { url: string; adminUrl: string | undefined };
  try {
    urls = await app.listen();
  } catch (error) {
    await app.close();
    await demo?.close();
    throw error;
  }

  // SIGHUP rereads the policy file and swaps it in atomically; a file with mistakes is
  // reported and the running policy kept. Listen address and upstream stay as started.
  const reload = () => {
    try {
      let next = withServerOverrides(policyFromArgs(values), {
        listen: values.listen,
        upstream: values.upstream,
      });
      if (demo !== undefined) next = withServerOverrides(next, { upstream: demo.url });
      app.setPolicy(next);
      logger.info({ event: 'policy-reloaded', source: next.source }, 'policy reloaded');
    } catch (error) {
      const problems = (error as { problems?: unknown }).problems;
      logger.error(
        { event: 'policy-reload-failed', error: (error as Error).message, problems },
        'policy reload failed; the running policy is kept',
      );
    }
  };
  process.on('SIGHUP', reload);

  // Armed before anything says where it listens: whoever reads that may signal it at once.
  // A repeated signal is ignored while draining, not left to kill the process: Ctrl-C
  // under the launcher reaches sluice twice (from the terminal and passed on).
  let stopping = false;
  let unwatchParent = () => {};
  let onStopSignal: (signal: NodeJS.Signals) => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    const stop = (fields: { signal: string } | { parentGone: number }) => {
      if (stopping) return;
      stopping = true;
      unwatchParent();
      logger.info({ event: 'stopping', ...fields }, 'finishing in-flight requests');
      resolve();
    };
    onStopSignal = (signal) => stop({ signal });
    process.on('SIGINT', onStopSignal);
    process.on('SIGTERM', onStopSignal);
    unwatchParent = watchParent(io.env, (pid) => stop({ parentGone: pid }));
  });
  logger.info(
    {
      event: 'listening',
      url: urls.url,
      adminUrl: urls.adminUrl,
      upstream: policy.server.upstream,
      policy: policy.source,
      dataDir: policy.server.dataDir,
    },
    'listening',
  );
  // One write, so whoever reads the first line (a person, a test) has all of it.
  let banner = `sluice is listening on ${urls.url} in front of ${policy.server.upstream}\n`;
  banner += `policy: ${policy.source}; data: ${policy.server.dataDir}\n`;
  if (urls.adminUrl !== undefined) banner += `admin API and /metrics: ${urls.adminUrl}\n`;
  if (demoKey !== undefined) {
    banner +=
      `\nDemo API key (shown once; revoked when the demo stops: demo keys live in ${policy.server.dataDir}, never in a real API's database).\n` +
      `Try it in another terminal (the README's "Try the demo" walks on from here):\n` +
      `  export SLUICE=${urls.url} KEY=${demoKey.secret}\n` +
      `  curl -i -H "Authorization: Bearer $KEY" $SLUICE/api/companies/cmp-0001\n` +
      `Look up the reference of a refusal:\n  npx sluice incident RL-XXXX-XXXX --data ${policy.server.dataDir}\n\n`;
  }
  io.stderr.write(banner);

  await stopped;
  process.off('SIGHUP', reload);
  if (demoKey !== undefined) {
    await changeKeyStatus(
      { store: recordStore, now: systemClock.now() },
      { keyId: demoKey.id, to: 'revoked', reason: 'the demo stopped', actor: 'sluice' },
    );
  }
  await app.close();
  await demo?.close();
  // The stop handlers stay until the process ends: removing them would restore the
  // default action, and a repeated stop signal arriving late (Ctrl-C passed on by the
  // launcher after the terminal's own) would turn a clean exit 0 into a death by signal.
  logger.flush();
  return 0;
}

/**
 * The worker threads to run: `--threads` over `server.threads`; `auto` is one per core.
 *
 * @example
 * threadCount('auto', 1); // 2 on a machine with 2 cores
 */
function threadCount(flag: string | undefined, setting: number | 'auto'): number {
  let value = setting;
  if (flag !== undefined) {
    const parsed = parseThreads(/^\d+$/.test(flag) ? Number(flag) : flag);
    if (!parsed.ok) {
      throw new SluiceError('SLUICE_ERR_CLI_USAGE', `--threads: ${parsed.message}`, {
        exitCode: 2,
      });
    }
    value = parsed.value;
  }
  return value === 'auto' ? availableParallelism() : value;
}

/** A fresh demo account key, printed once; the store keeps only its hash. */
async function createDemoKey(store: RecordStore): Promise<{ id: string; secret: string }> {
  const now = systemClock.now();
  const key = generateApiKey();
  // Awaited: a store that answers later must hold the key before it is printed.
  await store.putAccount({ id: 'demo', size: 10, plan: 'standard', createdAt: now });
  await store.putKey({
    id: key.id,
    accountId: 'demo',
    hash: key.hash,
    status: 'active',
    suspendedUntil: undefined,
    createdAt: now,
    updatedAt: now,
    reason: 'demo key created by sluice serve --demo',
  });
  return { id: key.id, secret: key.secret };
}
