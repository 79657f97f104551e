/**
 * The goal workflow's messages, defined once: what operators and the dispatcher send it, and what
 * they can ask it (and the burst heal's limit). Imported by the workflows and by clients alike.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';
import type { GoalHealth, HealPolicy } from './types';

export interface HealRequest {
  /** Why a heal was asked for: "operator", "task_failed", "goal_reopened", … (kept ≤ 200 chars). */
  reason: string;
  /** Lets `goalkeeper heal --wait` find the cycle that served its request. Operators' heals carry
   * one; event heals none (nobody waits for them, so a full queue makes room by dropping them). */
  requestId?: string;
  /** The sender's current policy: replaces the workflow's from the next cycle on (ignored, with a
   * warning, when invalid). Sent by the service's processes, and by `heal --apply-config`. */
  policy?: HealPolicy;
  /** Who asked: an operator's heal gives every task whose retry budget is spent a fresh one; a
   * heal sent because of a change event (task failed, agent lost, goal closed) only cuts the wait
   * short (between cycles, or a retry's backoff), so automation never lifts an exhaustion that is waiting for a human. Absent (senders
   * that predate this field): only tasks already marked exhausted get a fresh budget, the rule the
   * histories of those senders were recorded under. */
  origin?: 'operator' | 'event';
}

export interface TaskRetryState {
  /** Retries spent from the current budget (reset by a heal signal once the budget is spent). */
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
  /** One line per thing the cycle did or found, in order. */
  actions: string[];
  healRequestIds: string[];
  health: GoalHealth;
}

export interface GoalStatus {
  goalId: string;
  workspaceId: string | null;
  health: GoalHealth;
  taskId: string | null;
  agentId: string | null;
  retries: Record<string, TaskRetryState>;
  lastCycle: CycleSummary | null;
  openAlerts: string[];
  cycles: number;
  closedReason: string | null;
  /** Open alerts whose logs row could not be written yet (a later cycle writes it). Absent from
   * the answers of workers that predate it. */
  unwrittenAlerts?: string[];
  /** The latest cycles that served operator heals, newest last (`heal --wait` looks here when
   * later cycles ran since). Absent from the answers of workers that predate it. */
  servedHealCycles?: CycleSummary[];
  /** The healing settings in force. Absent from the answers of workers that predate it. */
  policy?: HealPolicy;
}

export const healSignal = defineSignal<[HealRequest]>('heal');
export const statusQuery = defineQuery<GoalStatus>('status');
/**
 * `heal --wait`: answers, with its summary, once a cycle has served the heal request of this id
 * (at once when one already has). The request must have come first, by the `heal` signal: the
 * update only waits, so a retried update neither queues a second heal nor resets a budget twice.
 * Rejected by its validator, which leaves no update event in the history, for an id the workflow
 * has not queued, is not serving and does not keep among the last cycles that served operator
 * heals.
 */
export const healServedUpdate = defineUpdate<CycleSummary, [string]>('healServed');

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
