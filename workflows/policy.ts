/**
 * Whether a healing policy can be used. The worker's configuration is checked when it loads
 * (src/config.ts), and the workflow checks what its settings activity answers, so a worker whose
 * settings cannot be used fails its goals' cycles with a reason instead of healing under nonsense.
 * Pure code, so the workflow bundle can import it.
 */
import type { AgentRules, HealPolicy } from './types';

/** The agent rules of a policy: what the store calls need to pick or provision an agent. */
export function agentRulesOf(p: HealPolicy, workflowId: string | null): AgentRules {
  return {
    assignableStatuses: p.assignableStatuses,
    maxAutoProvisionedAgents: p.maxAutoProvisionedAgents,
    workflowId,
    agentMaxOpenTasks: p.agentMaxOpenTasks,
    taskStuckAfterSeconds: p.taskStuckAfterSeconds,
  };
}

/** The longest durable wait a policy may ask for: a year. A timer far beyond it is one the server
 * refuses (a protobuf Duration holds about 10,000 years, and 60 s doubled per retry passes that at
 * retry 33), and the goal's workflow task would fail on every attempt. */
export const MAX_WAIT_SECONDS = 365 * 24 * 60 * 60;

/** The longest backoff one task's retries sleep: the last of MAX_TASK_RETRIES doublings. */
export function longestBackoffSeconds(p: Pick<HealPolicy, 'retryBackoffSeconds' | 'maxTaskRetries'>): number {
  return p.maxTaskRetries > 0 ? p.retryBackoffSeconds * 2 ** (p.maxTaskRetries - 1) : 0;
}

/** Why a policy's waits are too long for a timer, or null. */
export function waitProblem(p: Pick<HealPolicy, 'retryBackoffSeconds' | 'maxTaskRetries' | 'healthCheckIntervalSeconds' | 'safetyRecheckHours'>): string | null {
  if (longestBackoffSeconds(p) > MAX_WAIT_SECONDS) {
    return `the longest retry backoff, retryBackoffSeconds × 2^(maxTaskRetries−1) = ${p.retryBackoffSeconds} × 2^${p.maxTaskRetries - 1}, must be at most ${MAX_WAIT_SECONDS} seconds (a year)`;
  }
  if (p.healthCheckIntervalSeconds > MAX_WAIT_SECONDS) return `healthCheckIntervalSeconds must be at most ${MAX_WAIT_SECONDS} seconds (a year)`;
  if (p.safetyRecheckHours * 3600 > MAX_WAIT_SECONDS) return `safetyRecheckHours must be at most ${MAX_WAIT_SECONDS / 3600} hours (a year)`;
  return null;
}

/** Why a policy cannot be used, or null when it can. */
export function policyProblem(p: unknown): string | null {
  const policy = p as Partial<HealPolicy> | null;
  if (typeof policy !== 'object' || policy === null) return 'not an object';
  const statuses = policy.assignableStatuses;
  if (!Array.isArray(statuses) || statuses.length === 0 || !statuses.every((s) => typeof s === 'string' && s.length > 0)) {
    return 'assignableStatuses must be a non-empty list of statuses';
  }
  const counts: Array<[keyof HealPolicy, number]> = [
    ['maxTaskRetries', 0],
    ['retryBackoffSeconds', 1],
    ['healthCheckIntervalSeconds', 1],
    ['maxAutoProvisionedAgents', 0],
    ['safetyRecheckHours', 0],
    ['maxHistoryEventsPerRun', 10],
    ['taskStuckAfterSeconds', 1],
  ];
  for (const [key, min] of counts) {
    const value = policy[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) return `${key} must be an integer ≥ ${min}`;
  }
  const limit = policy.agentMaxOpenTasks;
  if (limit !== null && (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1)) {
    return 'agentMaxOpenTasks must be an integer ≥ 1, or null for no limit';
  }
  if (typeof policy.alertDelivery !== 'boolean') return 'alertDelivery must be true or false';
  return waitProblem(policy as HealPolicy);
}
