/**
 * Whether a healing policy can be used: a workflow's input and every heal signal carry one, and
 * a workflow must refuse a bad one with a reason instead of healing under nonsense. Pure code, so
 * the workflow bundle can import it.
 */
import type { HealPolicy } from './types';

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
    ['maxCyclesPerRun', 1],
  ];
  for (const [key, min] of counts) {
    const value = policy[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) return `${key} must be an integer ≥ ${min}`;
  }
  return null;
}
