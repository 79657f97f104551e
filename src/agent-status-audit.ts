/**
 * Warns, never silently ignores, when agents hold a status the configuration does not know, or
 * when AGENT_ASSIGNABLE_STATUSES names a status no known component uses. The seed incident began
 * with two components disagreeing on which statuses count as assignable.
 */
import type { Logger } from 'pino';
import type { Config } from './config';
import type { HealingStore } from './store/port';

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

export async function warnAboutAgentStatuses(store: HealingStore, config: Config, log: Logger): Promise<AgentStatusAudit> {
  const audit = auditStatuses(await store.agentStatusCounts(), config);
  for (const [status, agents] of Object.entries(audit.unknownInUse)) {
    log.warn(
      { status, agents, assignable: config.policy.assignableStatuses },
      `agents hold status "${status}", which the configuration does not know: goalkeeper treats them as NOT assignable; add it to AGENT_ASSIGNABLE_STATUSES if the executor runs them`,
    );
  }
  for (const status of audit.unknownAssignable) {
    log.warn({ status }, `AGENT_ASSIGNABLE_STATUSES lists "${status}", which is not a status the platform is known to use (typo?)`);
  }
  return audit;
}
