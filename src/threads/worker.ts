/**
 * A worker thread's entry (`server.threads` > 1): builds one data path (app.ts
 * buildDataPath) over the limits and counters main shares, with its own HTTP server on
 * the gateway's port (SO_REUSEPORT: the kernel spreads connections over the threads).
 * On Redis (`store.redis`) the limits and the accounts' concurrency leases are Redis',
 * on this thread's own connection, as every node's are.
 *
 * What it keeps itself: its identity cache (its own SQLite connection, polled every
 * second, and told at once by main of changes main makes), its upstream pool, the runs of
 * its refusals and its journal (a new incident is appended to this thread's own journal
 * file before its code is sent, so a crash loses no code). What goes to main: incident
 * batches to save (main is the one writer), safeguard observations (batched), webhook
 * events, its metrics when /metrics is scraped.
 *
 * @example
 * new Worker(new URL('./worker.ts', import.meta.url), { workerData: setup });
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildDataPath, type DataPath, limitStoreHooks, redisLeaseQueues } from '../app.ts';
import { systemClock } from '../core/clock.ts';
import { deepFreeze } from '../core/policy/compile-context.ts';
import type { Policy } from '../core/policy/types.ts';
import type { Incident } from '../core/records.ts';
import { createIdentityCache } from '../gateway/identity-cache.ts';
import { incidentLog } from '../gateway/incident-log.ts';
import { createIncidentRecorder } from '../gateway/incident-recorder.ts';
import { createLogger } from '../gateway/logger.ts';
import { createMetrics } from '../gateway/metrics.ts';
import { openIncidentJournal } from '../store/incident-journal.ts';
import { openLimitStore } from '../store/open-limit-store.ts';
import { openRecordStore } from '../store/open-record-store.ts';
import { SharedAccountQueues, sharedSlotCounter } from '../store/shared-account-queues.ts';
import { SharedCounters } from '../store/shared-counters.ts';
import { SharedLimitStore } from '../store/shared-limit-store.ts';
import type { Observation, ToMain, ToWorker, WorkerSetup } from './messages.ts';

/** Observations are sent to main this long (ms) after the first of a batch, or when this many wait. */
const OBSERVE_EVERY_MS = 20;
const OBSERVE_BATCH = 512;

if (parentPort === null) throw new Error('src/threads/worker.ts runs as a worker thread only');
const port = parentPort;
const setup = workerData as WorkerSetup;
const send = (message: ToMain) => port.postMessage(message);

async function start(): Promise<void> {
  if (setup.failStart) throw new Error('failing to start on request (tests)');
  const clock = systemClock;
  const logger = createLogger({ level: setup.logLevel }).child({ thread: setup.lane });
  // Process-wide numbers (CPU, memory) are main's: each thread's would only repeat them.
  const metrics = createMetrics({ defaults: false });
  const policy = deepFreeze(setup.policy);
  const { store: recordStore } = await openRecordStore(policy.store, policy.server.dataDir);
  const identities = await createIdentityCache(recordStore, {
    pollMs: setup.keyPollMs,
    onError: (error) => {
      metrics.storeErrors.inc({ operation: 'keys' });
      logger.error({ err: error }, 'reading API keys from the store failed');
    },
  });

  // Incident batches are saved by main; each waits for main's answer, so the recorder
  // keeps a batch (and its journal files) until it is committed, as with a store.
  let nextId = 1;
  const saving = new Map<number, { resolve(): void; reject(error: Error): void }>();
  const saveIncidents = (batch: readonly Incident[]) =>
    new Promise<void>((resolve, reject) => {
      const id = nextId++;
      saving.set(id, { resolve, reject });
      send({ type: 'incidents', id, batch });
    });
  const incidents = createIncidentRecorder({
    store: { getIncident: (reference) => recordStore.getIncident(reference), saveIncidents },
    clock,
    flushMs: setup.incidentFlushMs,
    journal: openIncidentJournal(policy.server.dataDir, setup.pid, setup.lane),
    ...incidentLog(logger, metrics),
  });

  // Armed by the first observation of a batch, not an interval: a thread that sees no
  // refusals (the usual case) is not woken 50 times a second for nothing.
  let observed: Observation[] = [];
  let observeTimer: NodeJS.Timeout | undefined;
  const sendObserved = () => {
    clearTimeout(observeTimer);
    observeTimer = undefined;
    if (observed.length === 0) return;
    send({ type: 'observe', items: observed });
    observed = [];
  };

  const counters = SharedCounters.attach(setup.counters);
  // A full table lets takes through uncounted (shared-counters.ts): counted in a metric,
  // and logged at most once a minute per thread so that a flood does not flood the log.
  let loggedFullAt = Number.NEGATIVE_INFINITY;
  counters.onUncounted = (namespace) => {
    metrics.sharedUncounted.inc({ namespace: namespace.replace(/:$/, '') });
    const now = clock.now();
    if (now - loggedFullAt < 60_000) return;
    loggedFullAt = now;
    logger.warn(
      { event: 'shared-counts-full', namespace, uncounted: counters.uncounted() },
      'the shared table of counts is full: requests are let through without being counted against their cap',
    );
  };
  // On Redis every thread has its own connection (limits and accounts' concurrency
  // leases are shared through Redis, as between nodes); on memory the threads share one
  // table in shared memory.
  const limits =
    policy.store.kind === 'redis'
      ? await openLimitStore(policy.store, limitStoreHooks(logger, metrics))
      : undefined;
  const queues =
    redisLeaseQueues(policy, limits, clock, metrics) ??
    new SharedAccountQueues(counters, setup.lane);
  const path: DataPath = buildDataPath({
    policy,
    recordStore,
    limitStore: limits?.store ?? SharedLimitStore.attach(setup.limits),
    degraded: limits?.degraded,
    clock,
    logger,
    metrics,
    identities,
    incidents,
    queues,
    heldSlots: {
      ip: sharedSlotCounter(counters, 'ip:', setup.lane),
      keyless: sharedSlotCounter(counters, 'keyless:', setup.lane),
    },
    observe(kind, subject, arrivedAt) {
      observed.push([kind, subject, arrivedAt ?? clock.now()]);
      if (observed.length >= OBSERVE_BATCH) sendObserved();
      else if (observeTimer === undefined) {
        observeTimer = setTimeout(sendObserved, OBSERVE_EVERY_MS);
        observeTimer.unref();
      }
    },
    notify: (event) => send({ type: 'notify', event }),
    shutdownGraceMs: setup.shutdownGraceMs,
    reusePort: true,
    threadTag: setup.tagAnswers ? String(setup.lane) : undefined,
  });
  metrics.observeWaiting(path.waiting);

  let stopping = false;
  async function stop(): Promise<void> {
    if (stopping) return;
    stopping = true;
    await path.stop();
    queues.close();
    sendObserved();
    identities.close();
    await incidents.close();
    await path.close();
    await limits?.close();
    await recordStore.close();
    metrics.stop();
    logger.flush();
    send({ type: 'stopped' });
  }

  port.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'policy':
        path.setPolicy(deepFreeze(message.policy) as Policy);
        break;
      case 'key':
        identities.putKey(message.key);
        break;
      case 'ip-block':
        identities.putIpBlock(message.block);
        break;
      case 'refresh':
        identities
          .refresh()
          .catch((error) => logger.error({ err: error }, 'rereading IP blocks failed'));
        break;
      case 'saved': {
        const waiter = saving.get(message.id);
        saving.delete(message.id);
        if (message.error === undefined) waiter?.resolve();
        else waiter?.reject(new Error(message.error));
        break;
      }
      case 'metrics':
        void metrics.registry
          .getMetricsAsJSON()
          // Plain data only: prom-client's JSON carries functions postMessage cannot clone.
          .then((json) =>
            send({ type: 'metrics', id: message.id, json: JSON.parse(JSON.stringify(json)) }),
          );
        break;
      case 'stop':
        stop().catch((error) => {
          logger.error({ err: error }, 'stopping the thread failed');
          send({ type: 'stopped' });
        });
        break;
      case 'crash':
        // Tests only (SLUICE_DEBUG_THREADS): an uncaught error, as a bug would throw.
        setImmediate(() => {
          throw new Error(`thread ${setup.lane} crashed on request (/debug/threads)`);
        });
        break;
    }
  });

  const url = await path.listen();
  path.setReady();
  send({ type: 'listening', url });
}

start().catch((error: Error) => send({ type: 'failed', message: error.message }));
