/**
 * What the main thread and its worker threads tell each other (postMessage, structured
 * clone). Workers send what main owns once: incidents to save, safeguard observations
 * (batched), webhook events, their metrics when scraped. Main sends policies, key and IP
 * block changes (so every thread knows at once, not at its next poll), and stop.
 *
 * @example
 * port.postMessage({ type: 'observe', items: [['auth-failure', { ip: '192.0.2.1' }, now]] } satisfies ToMain);
 */
import type { Registry } from 'prom-client';
import type { Policy } from '../core/policy/types.ts';
import type { ApiKeyRecord, Incident, IpBlock, Subject } from '../core/records.ts';
import type { ObservationKind } from '../core/safeguard/index.ts';
import type { NotifyEvent } from '../notify/index.ts';
import type { SharedCountersBuffers } from '../store/shared-counters.ts';
import type { SharedLimitStoreBuffers } from '../store/shared-limit-store.ts';

/** A worker thread's start: its lane, the policy and the shared memory to attach to. */
export interface WorkerSetup {
  /** 0…threads − 1: its journal files and its column in the shared counters. */
  readonly lane: number;
  /** The process id: journal files are named by it (the worker's own `process.pid` is the same). */
  readonly pid: number;
  readonly policy: Policy;
  readonly limits: SharedLimitStoreBuffers;
  readonly counters: SharedCountersBuffers;
  readonly logLevel: string;
  readonly incidentFlushMs: number;
  readonly keyPollMs: number;
  readonly shutdownGraceMs: number;
  /** Tests only: answers carry `sluice-thread: <lane>`. */
  readonly tagAnswers: boolean;
  /** Tests only: the thread fails to start (reports `failed`), as one whose listen fails. */
  readonly failStart: boolean;
}

/** One safeguard observation: its kind, who, and when the request arrived. */
export type Observation = readonly [ObservationKind, Subject, number];

/** A thread's metrics as prom-client's JSON, merged by main on scrape. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export type ToMain =
  | { readonly type: 'listening'; readonly url: string }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'incidents'; readonly id: number; readonly batch: readonly Incident[] }
  | { readonly type: 'observe'; readonly items: readonly Observation[] }
  | { readonly type: 'notify'; readonly event: NotifyEvent }
  | { readonly type: 'metrics'; readonly id: number; readonly json: MetricsJson }
  | { readonly type: 'stopped' };

export type ToWorker =
  | { readonly type: 'policy'; readonly policy: Policy }
  | { readonly type: 'key'; readonly key: ApiKeyRecord }
  | { readonly type: 'ip-block'; readonly block: IpBlock }
  /** IP blocks changed in the store (admin API): reread them now. */
  | { readonly type: 'refresh' }
  | { readonly type: 'saved'; readonly id: number; readonly error: string | undefined }
  | { readonly type: 'metrics'; readonly id: number }
  | { readonly type: 'stop' }
  | { readonly type: 'crash' };
