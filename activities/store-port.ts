/**
 * The store port: every database effect goalkeeper has, each one call of an atomic, idempotent
 * SQL function (supabase/migrations). It lives with the activities, which call it, so that
 * dependencies point one way (src/store implements it): two adapters, pg (DATABASE_URL) and
 * supabase-js .rpc() (SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY).
 */
import type {
  AgentRules,
  EnsureGoalTaskResult,
  EnsureTaskAgentResult,
  HealEpisodeInput,
  RecordEventInput,
  RecordEventResult,
  RecordHealEpisodeResult,
  RequeueStuckTaskResult,
  ResolveAlertResult,
  RetryTaskResult,
} from '../workflows/types';

export interface ActiveGoalRef {
  id: string;
  workspaceId: string;
  /** A task of the goal is failed, or open with no agent: what the change triggers announce. */
  needsHeal: boolean;
  /** A task that is not cancelled works towards the goal: ensureGoalTask would answer `exists`. */
  hasTask: boolean;
}

/** Why the fleet check names a goal (goalkeeper_goals_needing_care). */
export type CareReason = 'no_task' | 'task_without_agent' | 'failed_task' | 'stuck_task' | 'stalled' | 'stall_over';

export interface GoalsNeedingCarePage {
  /** Active goals this page read. */
  scanned: number;
  goals: Array<{ id: string; why: CareReason }>;
  /** Where the next page starts; null when the fleet is done. */
  next: string | null;
}

/** What the fleet check asks of each goal, from the worker's settings. */
export interface CareCriteria {
  assignableStatuses: string[];
  maxTaskRetries: number;
  /** A goal whose tasks are all completed is stalled once this long has passed. */
  stallSeconds: number;
  /** The fleet check's interval: a stalled goal is named in the two checks after its window. */
  intervalSeconds: number;
  /** TASK_STUCK_AFTER_SECONDS: a goal with a stuck task is named (stuck_task); absent: stuck
   * tasks are not looked for. */
  stuckSeconds?: number;
}

/** A workspace's health facts in one consistent read (goalkeeper_workspace_health): active goals
 * and whether each has a task in play, open tasks the executor will not run, failed tasks, stuck
 * tasks (in progress and untouched past the threshold given; none without one). */
export interface WorkspaceHealthRow {
  workspace_exists: boolean;
  goals: Array<{ id: string; metric_type: string; description: string | null; has_task: boolean }>;
  unassigned_tasks: Array<{ id: string; goal_id: string | null; status: string; agent_id: string | null; agent_status: string | null }>;
  failed_tasks: Array<{ id: string; goal_id: string | null; agent_id: string | null }>;
  stuck_tasks: Array<{ id: string; goal_id: string | null; agent_id: string | null; updated_at: string }>;
}

/** Rows goalkeeper_trim_records deleted, per table. */
export interface RecordTrimTotals {
  healActions: number;
  alerts: number;
  healEpisodes: number;
  taskCompletions: number;
  logKeys: number;
}

/** One workspace's recorded heal figures over a window (goalkeeper_heal_report): what the heal
 * report shows beside the goals by health. Durations in whole milliseconds; percentiles
 * interpolated (percentile_cont); null where the window holds nothing to measure. */
export interface HealReportRow {
  /** Null for rows recorded without a workspace. */
  workspaceId: string | null;
  heals: Record<string, number>;
  alerts: { opened: Record<string, number>; resolved: Record<string, number> };
  timeToHealMs: { count: number; p50: number | null; p95: number | null; max: number | null };
  taskCompletionMs: Record<string, { count: number; p50: number | null }>;
  stuckTasks: number;
}

export interface HealingStore {
  readonly kind: 'pg' | 'supabase';
  ensureGoalTask(goalId: string, rules: AgentRules): Promise<EnsureGoalTaskResult>;
  ensureTaskAgent(taskId: string, rules: AgentRules): Promise<EnsureTaskAgentResult>;
  /** requestKey makes the retry idempotent: the same key twice retries once. */
  retryTask(taskId: string, requestKey: string, rules: AgentRules): Promise<RetryTaskResult>;
  /** Puts a stuck task back to pending (rules.taskStuckAfterSeconds is the threshold, required);
   * requestKey makes it idempotent, as for retryTask. */
  requeueStuckTask(taskId: string, requestKey: string, rules: AgentRules): Promise<RequeueStuckTaskResult>;
  recordEvent(input: RecordEventInput): Promise<RecordEventResult>;
  /** Marks the alert recorded under `idempotencyKey` resolved, once. */
  resolveAlert(idempotencyKey: string): Promise<ResolveAlertResult>;
  /** Records a heal episode that has ended, once per key. */
  recordHealEpisode(input: HealEpisodeInput): Promise<RecordHealEpisodeResult>;
  /** Active goals with id greater than `after`, in id order: keyset pagination for the sweep. */
  listActiveGoals(after: string | null, limit: number): Promise<ActiveGoalRef[]>;
  /** One page of the fleet check: the active goals after `after` that need care, and why. */
  goalsNeedingCare(after: string | null, limit: number, criteria: CareCriteria): Promise<GoalsNeedingCarePage>;
  /** How many agents hold each status, across workspaces. */
  agentStatusCounts(): Promise<Record<string, number>>;
  /** Read only: what `goalkeeper health` and GET /workspaces/:id/health report. */
  workspaceHealth(workspaceId: string, assignableStatuses: string[], stuckSeconds?: number): Promise<WorkspaceHealthRow>;
  /** Read only: the heal report's recorded figures since `since`, per workspace (one, or all when
   * null) that has any; what `goalkeeper report` and GET /report show. */
  healReport(since: Date, workspaceId: string | null): Promise<HealReportRow[]>;
  /** Deletes at most `batch` rows older than `keepDays` days from each of goalkeeper's record
   * tables (never an open alert, a retry budget or a provisioned agent); how many went from each. */
  trimRecords(keepDays: number, batch: number): Promise<RecordTrimTotals>;
  /** This database's identity, for the Temporal namespace claim (src/namespace-claim.ts). */
  instanceIdentity(): Promise<DatabaseIdentity>;
  /** Read only: whether the goal exists and is in this workspace. The webhook asks before it tells
   * a goal of a task's change, as the NOTIFY trigger does: another workspace's task naming the
   * goal is not the goal's. */
  goalInWorkspace(goalId: string, workspaceId: string): Promise<boolean>;
  close(): Promise<void>;
}

/** A store failure, typed for Temporal: retryable (connection lost, deadlock, server restarting)
 * or not (the database refused the input, or goalkeeper's functions are missing or forbidden). */
export class StoreError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly code: string | null,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/** SQLSTATE classes that a retry can fix: connection exceptions, resource limits, operator
 * intervention (shutdown, restart), transaction rollbacks (serialization failure, deadlock). */
const RETRYABLE_SQLSTATE_CLASSES = ['08', '53', '57', '40', '58'];
/** Retryable codes of classes that are not: lock_not_available (55P03, a lock_timeout expiring
 * while another transaction holds the row) passes once that transaction ends. */
const RETRYABLE_SQLSTATES = ['55P03'];

/** A store call's deadline, below the healing calls' start-to-close timeout
 * (workflows/store-calls.ts) with room for the round trip: the pg adapter's statement_timeout and
 * the Supabase adapter's request timeout. The longest calls, a 1,000-goal burst heal and a sweep
 * page, take 2–8 s here. */
export const STATEMENT_TIMEOUT_MS = 25_000;

/** Whether a code has a SQLSTATE's shape (five digits or upper-case letters): an error Postgres
 * raised, whichever adapter carried it (pg hands it over as is, PostgREST forwards it in `code`). */
export function isSqlState(code: string | null | undefined): boolean {
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/** The one SQLSTATE verdict both adapters use, so a failure is typed the same whichever way the
 * call travelled (the Supabase adapter consults it before PostgREST's HTTP status). */
export function isRetryableSqlState(code: string | null | undefined): boolean {
  if (!code || !isSqlState(code)) return true; // not from Postgres: network, timeout
  return RETRYABLE_SQLSTATE_CLASSES.includes(code.slice(0, 2)) || RETRYABLE_SQLSTATES.includes(code);
}

/** goalkeeper_instance_id(): what tells this database from any other, copies included. */
export interface DatabaseIdentity {
  instanceId: string;
  /** The cluster's (pg_control_system()); null where the host refuses to say. */
  systemIdentifier: string | null;
  databaseOid: string;
  databaseName: string;
}
