/**
 * Carries out what the safeguard rules decide: blocks an IP, suspends or revokes a key.
 * Each action — and each dry-run action, which changes nothing — becomes an incident
 * with a reference, an audit entry (actor `sluice`), a metric, a log line and, for real
 * actions, a signed webhook to the operator. Key and IP changes go to the record store,
 * so they survive restarts and reach every gateway process.
 */
import type { Clock } from '../core/clock.ts';
import { dryRunFlag, type SafeguardFacts } from '../core/incident-facts.ts';
import { whenReady } from '../core/maybe-async.ts';
import { type IpBlock, type Subject, safeguardAuditAction } from '../core/records.ts';
import type { Action, ObservationKind, Safeguards } from '../core/safeguard/index.ts';
import type { WebhookNotifier } from '../notify/index.ts';
import { changeKeyStatus } from '../records/key-status.ts';
import type { RecordStore } from '../store/types.ts';
import type { IdentityCache } from './identity-cache.ts';
import type { IncidentRecorder } from './incident-recorder.ts';
import type { GatewayLogger } from './logger.ts';
import type { GatewayMetrics } from './metrics.ts';

/** How long an ended IP block stays listed (`sluice ips list`) before it is pruned. */
const ENDED_BLOCKS_KEPT_MS = 7 * 24 * 3_600_000;

export interface EnforcerDeps {
  safeguards: Safeguards;
  recordStore: RecordStore;
  identities: IdentityCache;
  incidents: IncidentRecorder;
  notifier: WebhookNotifier;
  metrics: GatewayMetrics;
  logger: GatewayLogger;
  clock: Clock;
  /**
   * Whether the subject's limits are in shadow mode (the policy's `mode`, or its account's
   * plan's): its safeguard actions are then dry runs, recorded and never carried out.
   */
  shadowed?(subject: Subject): boolean;
}

const EVENT = { 'block-ip': 'block', suspend: 'suspension', revoke: 'revocation' } as const;

/** Counts what the gateway observes and carries out what the rules decide. */
export interface SafeguardEnforcer {
  observe(kind: ObservationKind, subject: Subject, arrivedAt?: number): void;
}

export function createSafeguardEnforcer(deps: EnforcerDeps): SafeguardEnforcer {
  async function apply(decided: Action): Promise<void> {
    const action =
      !decided.dryRun && deps.shadowed?.(decided.observed) === true
        ? { ...decided, dryRun: true }
        : decided;
    const iso = action.until === undefined ? undefined : new Date(action.until).toISOString();
    const facts: SafeguardFacts = {
      ...action.counters,
      action: action.kind,
      dryRun: dryRunFlag(action.dryRun),
      ...(iso === undefined ? {} : { until: iso }),
    };
    const reference = deps.incidents.record(
      action.rule,
      action.observed,
      facts,
      action.dryRun ? `dry run: ${action.reason}` : action.reason,
    );
    deps.metrics.safeguardActions.inc({
      rule: action.rule,
      action: action.kind,
      dry_run: String(action.dryRun),
    });
    deps.logger.warn(
      {
        event: 'safeguard',
        rule: action.rule,
        action: action.kind,
        dryRun: action.dryRun,
        reference,
        until: iso,
        ...action.subject,
      },
      action.dryRun ? `safeguard would ${action.kind} (dry run)` : `safeguard: ${action.kind}`,
    );
    // A key's change is audited by changeKeyStatus, only when it changes something.
    if (action.dryRun || action.kind === 'block-ip') {
      await deps.recordStore.appendAudit({
        at: action.at,
        actor: 'sluice',
        action: safeguardAuditAction(action.kind, action.dryRun),
        subject: action.subject,
        reason: action.reason,
        reference,
      });
    }
    if (action.dryRun) return;
    if (action.kind === 'block-ip' && action.subject.ip !== undefined) {
      // A key's behaviour blocks that key's account and keyless callers at the IP, never
      // the other partners behind the same address.
      const { keyId, accountId } = action.observed;
      const earnedBy =
        keyId === undefined
          ? undefined
          : accountId === undefined
            ? { keyId }
            : { keyId, accountId };
      const block: IpBlock = {
        ip: action.subject.ip,
        until: action.until,
        createdAt: action.at,
        reason: action.reason,
        reference,
        actor: 'sluice',
        ...(earnedBy === undefined ? {} : { earnedBy }),
      };
      deps.identities.putIpBlock(block);
      await deps.recordStore.putIpBlock(block);
      // Ended blocks would otherwise pile up (a botnet leaves one per address) and be
      // reread by every gateway's cache; the audit log keeps their history.
      await deps.recordStore.pruneIpBlocks(action.at - ENDED_BLOCKS_KEPT_MS);
    } else if (action.subject.keyId !== undefined) {
      const changed = await changeKeyStatus(
        {
          store: deps.recordStore,
          now: action.at,
          keyChanged: (key) => deps.identities.putKey(key),
        },
        {
          keyId: action.subject.keyId,
          to: action.kind === 'revoke' ? 'revoked' : 'suspended',
          until: action.until,
          reason: action.reason,
          actor: 'sluice',
          reference,
        },
      );
      if (changed.outcome !== 'changed') return;
    }
    deps.notifier.notify({
      type: EVENT[action.kind],
      at: action.at,
      reference,
      subject: action.observed,
      rule: action.rule,
      detail: action.reason,
      until: action.until,
      counters: action.counters,
    });
  }

  return {
    observe(kind, subject, arrivedAt) {
      // Counts shared in Redis answer later; a failure there is decided by its insurance.
      void whenReady(
        deps.safeguards.observe(kind, subject, arrivedAt),
        (actions) => {
          for (const action of actions) {
            apply(action).catch((error) =>
              deps.logger.error(
                { err: error, rule: action.rule },
                'carrying out a safeguard action failed',
              ),
            );
          }
        },
        (error) => deps.logger.error({ err: error }, 'counting a safeguard observation failed'),
      );
    },
  };
}
