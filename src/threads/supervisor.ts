/**
 * The gateway on N worker threads (`server.threads` > 1), from the main thread: it owns
 * what there must be one of (the record store's writes, the admin listener with
 * /metrics, the incident writer, the webhook queue, the safeguards and their enforcer)
 * and N worker threads (worker.ts) that each serve requests on the same port, enforcing
 * one set of limits kept in shared memory (SharedLimitStore, SharedCounters).
 *
 * A thread that dies (an uncaught error, `process.exit` in it, `terminate()`) is
 * replaced: what it held in the shared counters is given back, the incidents its journal
 * holds are saved, and a new thread takes its lane; the other threads' connections are
 * untouched. A reload is parsed and checked once, here, then sent to every thread.
 *
 * @example
 * const app = await buildThreadedApp({ policy, recordStore, threads: 2, logLevel: 'info' });
 * const { url } = await app.listen();
 * await app.close();
 */
import { Worker } from 'node:worker_threads';
import { AggregatorRegistry } from 'prom-client';
import { createAdminServer } from '../admin/admin-server.ts';
import { type App, type AppOptions, buildSharedServices, openSafeguardTally } from '../app.ts';
import { systemClock } from '../core/clock.ts';
import { SluiceError } from '../core/errors.ts';
import type { Policy } from '../core/policy/types.ts';
import type { IdentityCache } from '../gateway/identity-cache.ts';
import { createLogger } from '../gateway/logger.ts';
import { createMetrics } from '../gateway/metrics.ts';
import { replayIncidentJournals } from '../store/incident-journal.ts';
import { SharedCounters } from '../store/shared-counters.ts';
import { SharedLimitStore } from '../store/shared-limit-store.ts';
import type { MetricsJson, ToMain, ToWorker, WorkerSetup } from './messages.ts';

export interface ThreadedAppOptions extends AppOptions {
  /** Worker threads (2 or more). */
  threads: number;
  logLevel: string;
  /** Tests only: answers say their thread, and the admin API can crash one. */
  debug?: boolean;
  /**
   * Wait before trying again to start a replacement thread that failed to start (ms),
   * doubled at each failure up to RESTART_MAX_MS; 1,000 by default.
   */
  restartBackoffMs?: number;
  /** Tests only: the next `n` replacement threads fail to start, as one whose listen fails. */
  failReplacements?: number;
}

/** How long a scrape waits for a thread's metrics before leaving it out (ms). */
const METRICS_WAIT_MS = 2_000;
/** The longest wait between two tries at starting a replacement thread (ms). */
const RESTART_MAX_MS = 30_000;

interface Lane {
  readonly lane: number;
  worker: Worker;
  /** Resolves when the thread has exited. */
  exited: Promise<void>;
}

export async function buildThreadedApp(options: ThreadedAppOptions): Promise<App> {
  if (options.policy.server.upstream === undefined) {
    throw new TypeError('buildThreadedApp: policy.server.upstream is not set');
  }
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger();
  const metrics = createMetrics();
  const { recordStore } = options;
  const lanes: Lane[] = [];
  const broadcast = (message: ToWorker) => {
    for (const l of lanes) l.worker.postMessage(message);
  };
  // Key and IP changes made here (the enforcer, the admin API) reach every thread at
  // once; changes made elsewhere (the CLI) at each thread's next poll of the store.
  const wrapIdentities = (cache: IdentityCache): IdentityCache => ({
    ...cache,
    putKey(key) {
      cache.putKey(key);
      broadcast({ type: 'key', key });
    },
    putIpBlock(block) {
      cache.putIpBlock(block);
      broadcast({ type: 'ip-block', block });
    },
    async refresh() {
      await cache.refresh();
      broadcast({ type: 'refresh' });
    },
  });
  // On Redis the safeguards count there, with every other node's.
  const redisTally = await openSafeguardTally(options.policy, metrics);
  const shared = await buildSharedServices({
    ...options,
    clock,
    logger,
    metrics,
    wrapIdentities,
    tally: redisTally?.tally,
  });
  const limits = new SharedLimitStore();
  const counters = new SharedCounters({ lanes: options.threads });
  let policy = options.policy;
  let listenAt = policy.server.listen;
  /** No thread is replaced from now on. */
  let closing = false;
  let closed = false;

  let failReplacements = options.failReplacements ?? 0;
  let nextRequest = 1;
  const scrapes = new Map<number, (json: MetricsJson) => void>();

  function onMessage(lane: Lane, message: ToMain): void {
    switch (message.type) {
      case 'incidents': {
        const reply = (error: string | undefined) =>
          lane.worker.postMessage({ type: 'saved', id: message.id, error } satisfies ToWorker);
        Promise.resolve()
          .then(() => recordStore.saveIncidents(message.batch))
          .then(
            () => reply(undefined),
            (error: Error) => reply(error.message),
          );
        break;
      }
      case 'observe':
        for (const [kind, subject, at] of message.items) shared.enforcer.observe(kind, subject, at);
        break;
      case 'notify':
        shared.notifier.notify(message.event);
        break;
      case 'metrics':
        scrapes.get(message.id)?.(message.json);
        break;
      case 'stopped':
        void lane.worker.terminate();
        break;
      default:
        break;
    }
  }

  /** Starts the thread of `lane`; resolves to its URL once it listens. */
  function spawn(lane: number, replacing = false): Promise<string> {
    const failStart = replacing && failReplacements > 0;
    if (failStart) failReplacements--;
    const setup: WorkerSetup = {
      lane,
      pid: process.pid,
      // Listening where the first thread listens (its port, when the policy says 0).
      policy: { ...policy, server: { ...policy.server, listen: listenAt } },
      limits: limits.share(),
      counters: counters.share(),
      logLevel: options.logLevel,
      incidentFlushMs: options.incidentFlushMs ?? 250,
      keyPollMs: options.keyPollMs ?? 1000,
      shutdownGraceMs: options.shutdownGraceMs ?? 10_000,
      tagAnswers: options.debug === true,
      failStart,
    };
    const worker = new Worker(new URL('./worker-entry.ts', import.meta.url), { workerData: setup });
    const entry: Lane = {
      lane,
      worker,
      exited: new Promise((resolve) => worker.once('exit', () => resolve())),
    };
    lanes[lane] = entry;
    /** Only a thread that served is replaced when it exits; a failed start is retried by `replace`. */
    let served = false;
    const listening = new Promise<string>((resolve, reject) => {
      worker.on('message', (message: ToMain) => {
        if (message.type === 'listening') {
          served = true;
          resolve(message.url);
        } else if (message.type === 'failed') {
          // Whatever it opened before failing (a store, timers) goes with it.
          void worker.terminate();
          reject(
            new SluiceError('SLUICE_ERR_LISTEN', `thread ${lane}: ${message.message}`, {
              exitCode: 2,
            }),
          );
        } else onMessage(entry, message);
      });
      worker.once('exit', () =>
        reject(
          new SluiceError('SLUICE_ERR_LISTEN', `thread ${lane} exited before listening`, {
            exitCode: 2,
          }),
        ),
      );
    });
    worker.on('error', (error) =>
      logger.error({ event: 'thread-error', thread: lane, err: error }, 'a worker thread failed'),
    );
    worker.once('exit', (code) => {
      if (closing || lanes[lane] !== entry || !served) return;
      void replace(lane, code);
    });
    return listening;
  }

  /** A thread died: gives back what it held, saves its journal's incidents, starts another. */
  async function replace(lane: number, code: number): Promise<void> {
    const released = counters.releaseLane(lane);
    logger.error(
      { event: 'thread-died', thread: lane, exitCode: code, slotsReleased: released },
      'a worker thread died; starting another',
    );
    try {
      // Before the new thread opens its journal: its files must not be taken for the dead one's.
      await replayIncidentJournals(policy.server.dataDir, recordStore, { lane });
    } catch (error) {
      logger.error(
        { err: error, thread: lane },
        'replaying a dead thread’s incident journal failed',
      );
    }
    // A replacement that fails to start (the machine out of memory or threads, a store
    // that cannot be opened for now) is tried again, waiting longer each time, rather than
    // leaving the lane empty for the life of the process.
    let waitMs = options.restartBackoffMs ?? 1_000;
    for (let attempt = 1; !closing; attempt++) {
      try {
        await spawn(lane, true);
        logger.info({ event: 'thread-replaced', thread: lane, attempt }, 'worker thread replaced');
        return;
      } catch (error) {
        logger.error(
          { event: 'thread-start-failed', thread: lane, attempt, retryInMs: waitMs, err: error },
          'starting a replacement thread failed; trying again',
        );
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          stopWaits.delete(wake);
          resolve();
        };
        // A close ends the wait at once rather than after it.
        const timer = setTimeout(wake, waitMs);
        stopWaits.add(wake);
      });
      waitMs = Math.min(RESTART_MAX_MS, waitMs * 2);
    }
  }

  /** Wake-ups of replacements waiting to try again: a close ends their waits. */
  const stopWaits = new Set<() => void>();

  /** Every thread's metrics and main's, summed (prom-client's aggregation, as for a cluster). */
  async function metricsText(): Promise<string> {
    const own = await metrics.registry.getMetricsAsJSON();
    const theirs = await Promise.all(
      lanes.map(
        (l) =>
          new Promise<MetricsJson>((resolve) => {
            const id = nextRequest++;
            const timer = setTimeout(() => {
              scrapes.delete(id);
              resolve([]);
            }, METRICS_WAIT_MS);
            scrapes.set(id, (json) => {
              clearTimeout(timer);
              scrapes.delete(id);
              resolve(json);
            });
            l.worker.postMessage({ type: 'metrics', id } satisfies ToWorker);
          }),
      ),
    );
    return AggregatorRegistry.aggregate([own, ...theirs]).metrics();
  }

  const admin =
    options.admin === undefined
      ? undefined
      : await createAdminServer({
          token: options.admin.token,
          metrics,
          recordStore,
          identities: shared.identities,
          clock,
          logger,
          metricsText,
          debug:
            options.debug === true
              ? {
                  crashThread(lane) {
                    const l = lanes[lane];
                    if (l === undefined) return false;
                    l.worker.postMessage({ type: 'crash' } satisfies ToWorker);
                    return true;
                  },
                }
              : undefined,
        });

  async function stopThreads(): Promise<void> {
    const grace = (options.shutdownGraceMs ?? 10_000) + 5_000;
    await Promise.all(
      lanes.map(async (l) => {
        l.worker.postMessage({ type: 'stop' } satisfies ToWorker);
        const timer = setTimeout(() => void l.worker.terminate(), grace);
        await l.exited;
        clearTimeout(timer);
      }),
    );
  }

  return {
    async listen() {
      // The first thread finds the port (the policy may say 0); the others join it.
      const url = await spawn(0);
      const { port } = new URL(url);
      listenAt = { host: listenAt.host, port: Number(port) };
      try {
        await Promise.all(Array.from({ length: options.threads - 1 }, (_, i) => spawn(i + 1)));
      } catch (error) {
        closing = true;
        await stopThreads();
        throw error;
      }
      const adminUrl =
        options.admin === undefined
          ? undefined
          : await admin?.listen(options.admin.host, options.admin.port);
      return { url, adminUrl };
    },
    setPolicy(next: Policy) {
      policy = next;
      shared.setPolicy(next);
      broadcast({
        type: 'policy',
        policy: { ...next, server: { ...next.server, listen: listenAt } },
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      closing = true;
      for (const wake of stopWaits) wake();
      await stopThreads();
      await admin?.close();
      await shared.close();
      await redisTally?.close();
      limits.close();
      await recordStore.close();
      metrics.stop();
    },
  };
}
