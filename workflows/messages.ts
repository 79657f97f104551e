/**
 * The goal workflow's messages, defined once: what operators and the dispatcher send it, and what
 * they can ask it. Imported by the workflows and by clients alike.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';
import type { GoalHealth, HealPolicy } from './types';

export interface HealRequest {
  /** Why a heal was asked for: "operator", "task_failed", "fleet check: …" (kept ≤ 200 chars). */
  reason: string;
  /** An operator's heal gives every task whose retry budget is spent a fresh one; a heal sent
   * because of a change event (or the fleet check) only asks for a cycle, so automation never
   * lifts an exhaustion that is waiting for a human. */
  origin: 'operator' | 'event';
}

export interface TaskRetryState {
  /** Retries spent from the current budget (an operator's heal gives a spent budget a fresh one). */
  used: number;
  /** Retries made of this task in all, across budgets. */
  total: number;
  exhausted: boolean;
  /** When the next retry is due, while a heal that cut its backoff short is being served (the
   * backoff is not restarted: the next cycle waits only what is left). Absent otherwise. */
  retryDueAt?: string;
}

export interface CycleSummary {
  number: number;
  startedAt: string;
  finishedAt: string;
  /** What woke the cycle: heal reasons, or the timer that came due. */
  wokenBy: string[];
  /** One line per thing the cycle did or found, in order. */
  actions: string[];
  health: GoalHealth;
}

/** What will wake a resting goal workflow next, besides an event: the earliest timer it has set,
 * or none (`at` null: only an event or the fleet check wakes it). */
export interface NextWake {
  reason: string;
  at: string | null;
}

export interface GoalStatus {
  goalId: string;
  workspaceId: string | null;
  description: string | null;
  health: GoalHealth;
  taskId: string | null;
  agentId: string | null;
  retries: Record<string, TaskRetryState>;
  lastCycle: CycleSummary | null;
  /** When the goal last checked itself (the end of its last cycle). */
  lastCheckedAt: string | null;
  nextWake: NextWake;
  openAlerts: string[];
  /** Open alerts whose logs row could not be written yet (a later cycle writes it). */
  unwrittenAlerts: string[];
  cycles: number;
  closedReason: string | null;
  /** The healing settings in force (the worker's, as of the last cycle). */
  policy: HealPolicy | null;
}

export const healSignal = defineSignal<[HealRequest]>('heal');
export const statusQuery = defineQuery<GoalStatus>('status');
/**
 * An operator's heal that answers with the cycle that served it (`goalkeeper heal --wait`), sent
 * as Update-with-Start so one call reaches a goal whether or not its workflow runs.
 */
export const healAndWaitUpdate = defineUpdate<CycleSummary, [HealRequest]>('healAndWait');

/** Search attributes the goal workflow keeps current; `goalkeeper setup` and the worker register
 * them on the namespace. Plain objects (not defineSearchAttributeKey) keep this file free of
 * runtime imports beyond @temporalio/workflow. */
export const WorkspaceIdKey: SearchAttributeKey<'KEYWORD'> = { name: 'WorkspaceId', type: 'KEYWORD' };
export const GoalMetricTypeKey: SearchAttributeKey<'KEYWORD'> = { name: 'GoalMetricType', type: 'KEYWORD' };
export const GoalHealthKey: SearchAttributeKey<'KEYWORD'> = { name: 'GoalHealth', type: 'KEYWORD' };
export const GOAL_SEARCH_ATTRIBUTES = [WorkspaceIdKey, GoalMetricTypeKey, GoalHealthKey];

export const goalWorkflowId = (goalId: string): string => `goal-${goalId}`;

/** Goals one burst heal takes at most (workflows/burst-heal.ts): its workflow, its activity and
 * the dispatcher that fills it share this bound. 1,000 ids are about 40 kB of input. */
export const MAX_BURST_HEAL_GOALS = 1000;
