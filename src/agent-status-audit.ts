/**
 * Warns, never silently ignores, when agents hold a status the configuration does not know, or
 * when AGENT_ASSIGNABLE_STATUSES names a status no known component uses. The seed incident began
 * with two components disagreeing on which statuses count as assignable.
 */
import type { Logger } from 'pino';
import type { Config } from './config';
import type { HealingStore } from '../activities/store-port';

export interface AgentStatusAudit {
  /** Statuses agents hold that are neither assignable nor among the platform's known statuses. */
  unknownInUse: Record<string, number>;
  /** Assignable statuses that are not among the known ones (often a typo). */
  unknownAssignable: string[];
}

export function auditStatuses(counts: Record<string, number>, config: Pick<Config, 'policy' | 'knownAgentStatuses'>): AgentStatusAudit {
  const known = new Set([...config.knownAgentStatuses, ...config.policy.assignableStatuses]);
  return {
    unknownInUse: Object.fromEntries(Object.entries(counts).filter(([status]) => !known.has(status))),
    unknownAssignable: config.policy.assignableStatuses.filter((s) => !config.knownAgentStatuses.includes(s)),
  };
}

/**
 * Warns about the audit's findings. With `seen` (the counts warned about before, updated here),
 * an unknown status is warned about again only when more agents hold it than last time; `typos:
 * false` skips the AGENT_ASSIGNABLE_STATUSES check (the configuration does not change while the
 * process runs, so once at start is enough).
 */
export async function warnAboutAgentStatuses(
  store: HealingStore,
  config: Config,
  log: Logger,
  { seen, typos = true }: { seen?: Map<string, number>; typos?: boolean } = {},
): Promise<AgentStatusAudit> {
  const audit = auditStatuses(await store.agentStatusCounts(), config);
  for (const [status, agents] of Object.entries(audit.unknownInUse)) {
    const before = seen?.get(status);
    seen?.set(status, agents);
    if (before !== undefined && agents <= before) continue;
    log.warn(
      { status, agents, assignable: config.policy.assignableStatuses },
      `agents hold status "${status}", which the configuration does not know: goalkeeper treats them as NOT assignable; add it to AGENT_ASSIGNABLE_STATUSES if the executor runs them`,
    );
  }
  // A status no agent holds any more is forgotten: should it come back, it is warned about again.
  if (seen) for (const status of [...seen.keys()]) if (!(status in audit.unknownInUse)) seen.delete(status);
  if (typos) {
    for (const status of audit.unknownAssignable) {
      log.warn({ status }, `AGENT_ASSIGNABLE_STATUSES lists "${status}", which is not a status the platform is known to use (typo?)`);
    }
  }
  return audit;
}

/**
 * The start-up audit, then the audit again every `intervalMs` while the process runs: an agent the
 * platform moves into a status nobody configured (a new "paused", say) is warned about within one
 * interval, not only at the next restart. Each status once, and again when more agents hold it.
 * Resolves, once the start-up audit has run, with a stop function.
 */
export async function watchAgentStatuses(store: HealingStore, config: Config, log: Logger, intervalMs: number): Promise<() => void> {
  const seen = new Map<string, number>();
  await warnAboutAgentStatuses(store, config, log, { seen });
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    warnAboutAgentStatuses(store, config, log, { seen, typos: false })
      .catch((err) => log.debug({ err: (err as Error).message }, 'agent status audit failed; trying again next interval'))
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
