/**
 * The real gateway built in this test process with `buildApp`, on a manual clock, with
 * memory stores, a silent logger and a real upstream on loopback. Time-dependent
 * behaviour (holds, queue timeouts, suspensions, windows, Retry-After) is then driven
 * by `clock.advance`, never by sleeping.
 *
 * @example
 * const upstream = await startDemoUpstream();
 * const gw = await startInProcessGateway({ upstream: upstream.url, policy: 'ip:\n  block: 5/min\n' });
 * const { key } = gw.addKey('acme');
 * const answer = await gw.call('/api/companies?limit=1', { key });
 * gw.clock.advance(60_000);
 * await gw.close();
 */

import { after, afterEach, before } from 'node:test';
import { type App, buildApp } from '../../src/app.ts';
import { generateApiKey } from '../../src/core/api-key.ts';
import { type ManualClock, manualClock } from '../../src/core/clock.ts';
import { withServerOverrides } from '../../src/core/policy/override.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import type { Policy } from '../../src/core/policy/types.ts';
import type { KeyStatus } from '../../src/core/records.ts';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger, type GatewayLogger } from '../../src/gateway/logger.ts';
import type { WebhookNotifier } from '../../src/notify/index.ts';
import { MemoryLimitStore } from '../../src/store/memory-limit-store.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import type { SqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import { type Answer, bearer, call } from './http.ts';

/**
 * Monday 2026-01-05 12:00:00 UTC (07:00 in New York: outside the default off-hours
 * windows), on a whole minute, so the per-IP window starts with the test.
 */
export const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

/** The record stores whose calls answer synchronously, as tests read them. */
export type SyncRecordStore = MemoryRecordStore | SqliteRecordStore;

export interface InProcessGateway {
  url: string;
  /** The admin listener's URL, when started with `adminToken`. */
  adminUrl?: string;
  clock: ManualClock;
  /** The record store (memory unless one was given). */
  records: SyncRecordStore;
  policy: Policy;
  app: App;
  /** Adds an account (size 0, the default plan unless given) and a key of it. */
  addKey(
    account: string,
    options?: { size?: number; plan?: string; status?: KeyStatus; suspendedUntil?: number },
  ): { key: string; id: string };
  /** A request to the gateway, with the key as a bearer token when given. */
  call(
    path: string,
    options?: {
      key?: string;
      method?: string;
      headers?: Record<string, string>;
      signal?: AbortSignal;
    },
  ): Promise<Answer>;
  close(): Promise<void>;
}

/** Builds and starts the gateway in front of `upstream` with `policy` (YAML; defaults when omitted). */
export async function startInProcessGateway(options: {
  upstream: string;
  policy?: string;
  start?: number;
  env?: Record<string, string>;
  notifier?: WebhookNotifier;
  /** Another record store (SQLite, for the CLI to read); memory by default. */
  recordStore?: SyncRecordStore;
  /** Another logger; silent by default. */
  logger?: GatewayLogger;
  /** Starts the admin listener on loopback with this token (`adminUrl`). */
  adminToken?: string;
}): Promise<InProcessGateway> {
  const clock = manualClock(options.start ?? T0);
  const parsed = parsePolicyText(options.policy ?? '', 'test-policy.yaml', options.env ?? {});
  const policy = withServerOverrides(parsed, { listen: '127.0.0.1:0', upstream: options.upstream });
  const records = options.recordStore ?? new MemoryRecordStore();
  const app = await buildApp({
    policy,
    recordStore: records,
    limitStore: new MemoryLimitStore(),
    clock,
    logger: options.logger ?? createLogger({ level: 'silent' }),
    notifier: options.notifier,
    // Incidents are flushed and keys polled on real timers: keep them quick and quiet.
    incidentFlushMs: 50,
    keyPollMs: 50,
    shutdownGraceMs: 1_000,
    ...(options.adminToken === undefined
      ? {}
      : { admin: { host: '127.0.0.1', port: 0, token: options.adminToken } }),
  });
  const { url, adminUrl } = await app.listen();
  return {
    url,
    adminUrl,
    clock,
    records,
    policy,
    app,
    addKey(account, o = {}) {
      if (records.getAccount(account) === undefined) {
        records.putAccount({
          id: account,
          size: o.size ?? 0,
          plan: o.plan ?? policy.defaultPlan,
          createdAt: clock.now(),
        });
      }
      const made = generateApiKey();
      records.putKey({
        id: made.id,
        accountId: account,
        hash: made.hash,
        status: o.status ?? 'active',
        suspendedUntil: o.suspendedUntil,
        createdAt: clock.now(),
        updatedAt: clock.now(),
        reason: undefined,
      });
      return { key: made.secret, id: made.id };
    },
    call(path, o = {}) {
      return call(`${url}${path}`, {
        method: o.method,
        headers: { ...(o.key === undefined ? {} : bearer(o.key)), ...o.headers },
        signal: o.signal,
      });
    },
    close: () => app.close(),
  };
}

/**
 * Waits until `check` holds: a bounded wait on something observable (a timer armed on
 * the manual clock, a request reaching the upstream), polled every few ms, never a
 * fixed sleep standing in for it.
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** What `inProcessSuite` gives a test file. */
export interface InProcessSuite {
  /** The real demo upstream, started once for the file. */
  upstream(): DemoUpstream;
  /** A fresh gateway for this test (closed after it), by default in front of the demo upstream. */
  start(
    policy?: string,
    options?: { startAt?: number; upstream?: string; env?: Record<string, string> },
  ): Promise<InProcessGateway>;
  /** Requests the demo upstream has answered on `path` (its `/_test/hits` counter). */
  hits(path: string): Promise<number>;
}

/**
 * The hooks a file of in-process gateway tests shares: one demo upstream for the file, a
 * fresh gateway per test, closed after it. Call at the top level of a test file.
 *
 * @example
 * const suite = inProcessSuite();
 * test('…', async () => {
 *   const gw = await suite.start('ip:\n  block: 5/min\n');
 *   assert.equal(await suite.hits('/_test/status/200'), 0);
 * });
 */
export function inProcessSuite(): InProcessSuite {
  let upstream: DemoUpstream | undefined;
  let gw: InProcessGateway | undefined;
  before(async () => {
    upstream = await startDemoUpstream();
  });
  after(() => upstream?.close());
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });
  const demo = () => {
    if (upstream === undefined) throw new Error('inProcessSuite: the upstream is not started yet');
    return upstream;
  };
  return {
    upstream: demo,
    async start(policy = '', options = {}) {
      gw = await startInProcessGateway({
        upstream: options.upstream ?? demo().url,
        policy,
        start: options.startAt ?? T0,
        env: options.env,
      });
      return gw;
    },
    async hits(path) {
      const h = (await call(`${demo().url}/_test/hits`)).json<{ paths: Record<string, number> }>();
      return h.paths[path] ?? 0;
    },
  };
}
