/**
 * Plain data types shared by workflows, activities and the rest of the service. Types only: the
 * workflow bundle may import this file, so it must hold no runtime code.
 */

/** The healing policy: the worker's configuration, its one source. A goal workflow reads it at
 * the start of every cycle through a local activity, whose answer the history keeps, so replay is
 * deterministic and a configuration change reaches running goals at their next cycle. */
export interface HealPolicy {
  /** The one definition of which agent statuses count as assignable (AGENT_ASSIGNABLE_STATUSES). */
  assignableStatuses: string[];
  maxTaskRetries: number;
  retryBackoffSeconds: number;
  /** The fleet check's interval; also how long a goal whose tasks are all done may wait before
   * GOAL_STALLED, and how long a failed heal step waits before it is tried again. */
  healthCheckIntervalSeconds: number;
  maxAutoProvisionedAgents: number;
  /** The resting goal's last-resort self-check, jittered ±10 %; 0: none. */
  safetyRecheckHours: number;
  /** History events after which a run continues as new (the server may suggest it sooner). */
  maxHistoryEventsPerRun: number;
  /** A task in_progress untouched this long is stuck (TASK_STUCK_AFTER_SECONDS; SQL's
   * goalkeeper_task_is_stuck is the rule): put back to pending against the retry budget. */
  taskStuckAfterSeconds: number;
  /** Open (pending/in_progress) tasks an agent may hold before it is no longer picked
   * (AGENT_MAX_OPEN_TASKS); null: no limit. */
  agentMaxOpenTasks: number | null;
  /** Whether alerts and their resolutions are delivered to a webhook (ALERT_WEBHOOK_URL is set on
   * the worker). Only the fact: the URL is a secret and never enters a workflow or its history. */
  alertDelivery: boolean;
}

/** Every health a goal workflow reports (its status query and the GoalHealth search attribute). */
export const GOAL_HEALTHS = ['starting', 'healthy', 'healing', 'degraded', 'needs_intervention', 'closed'] as const;
export type GoalHealth = (typeof GOAL_HEALTHS)[number];

export type IssueType =
  | 'NO_TASKS_FOR_GOAL'
  | 'TASK_WITHOUT_AGENT'
  | 'NO_AGENTS_AVAILABLE'
  | 'RETRIES_EXHAUSTED'
  | 'HEAL_STEP_FAILED'
  /** Active goal whose every task is completed: nothing works towards it. */
  | 'GOAL_STALLED'
  /** A task in_progress and untouched past TASK_STUCK_AFTER_SECONDS, its retry budget spent. */
  | 'TASK_STUCK';

export type Severity = 'info' | 'warning' | 'critical';

export interface GoalView {
  id: string;
  workspaceId: string;
  status: string;
  metricType: string;
  description: string | null;
}

export interface GoalTaskView {
  id: string;
  status: string;
  agentId: string | null;
  agentStatus: string | null;
  role: string | null;
  needsAgent: boolean;
  /** In progress and untouched past the policy's taskStuckAfterSeconds (computed in SQL). Absent
   * from answers recorded before the rule existed: read as false. */
  stuck?: boolean;
  /** Retries goalkeeper has made of this task in all runs (stuck tasks put back included). */
  retriesRecorded: number;
}

export interface EnsureGoalTaskResult {
  outcome: 'closed' | 'exists' | 'created' | 'no_agent';
  /** Why the goal is closed: goal_not_found, goal_completed, goal_archived, … */
  reason: string | null;
  goal: GoalView | null;
  createdTaskId: string | null;
  provisionedAgent: boolean;
  /** The goal's tasks needing care first, at most one heal step's window of them. */
  tasks: GoalTaskView[];
  /** More of the goal's tasks are in play than `tasks` holds. */
  moreTasks: boolean;
}

export interface EnsureTaskAgentResult {
  outcome: 'not_found' | 'ok' | 'assigned' | 'no_agent';
  taskId: string;
  agentId: string | null;
  provisioned: boolean;
}

export interface RetryTaskResult {
  outcome: 'not_found' | 'not_failed' | 'goal_closed' | 'already_retried' | 'retried' | 'no_agent';
  taskId: string;
  agentId: string | null;
  /** The attempt number recorded for this retry (1 for the first retry ever of the task). */
  attempt: number | null;
}

export interface RequeueStuckTaskResult {
  outcome: 'not_found' | 'not_stuck' | 'goal_closed' | 'already_requeued' | 'requeued' | 'no_agent';
  taskId: string;
  agentId: string | null;
  /** The attempt number recorded (shared with failed retries: one budget per task). */
  attempt: number | null;
}

export interface RecordEventInput {
  idempotencyKey: string;
  kind: 'alert' | 'healing';
  workspaceId: string | null;
  goalId: string | null;
  taskId: string | null;
  issueType: IssueType | string;
  severity: Severity;
  text: string;
  workflowId: string | null;
  details?: Record<string, unknown>;
}

/** What the workflow hands the recordEvent activity: the event, and the key its write is
 * idempotent by when the workflow picks one (the activity's identity otherwise). */
export type RecordEventCall = Omit<RecordEventInput, 'idempotencyKey' | 'workflowId'> & { idempotencyKey?: string };

export interface RecordEventResult {
  logId: string;
  created: boolean;
}

/** What goalkeeper_resolve_alert found: `found` false for a key no alert was recorded under;
 * `resolved` true only for the call that set resolved_at. */
export interface ResolveAlertResult {
  found: boolean;
  resolved: boolean;
  resolvedAt: string | null;
}

/** A goal's heal episode, recorded when it ends (goalkeeper_record_heal_episode). */
export interface HealEpisodeInput {
  /** `${workflowId}/${firstExecutionRunId}/heal/<cycle it opened in>`: the same for every write. */
  episodeKey: string;
  workspaceId: string | null;
  goalId: string;
  /** The start of the first cycle that found a problem. */
  seenAt: string;
  /** The end of the first cycle that found the goal healthy again. */
  healedAt: string;
}

export interface RecordHealEpisodeResult {
  /** False when the key was recorded already (a retried or repeated write). */
  created: boolean;
}

/** What every healing store call needs besides its subject: the worker's agent rules, and the
 * workflow it acts for. */
export interface AgentRules {
  assignableStatuses: string[];
  maxAutoProvisionedAgents: number;
  workflowId: string | null;
  /** AGENT_MAX_OPEN_TASKS; null or absent: no limit. */
  agentMaxOpenTasks?: number | null;
  /** TASK_STUCK_AFTER_SECONDS, for the tasks' `stuck` flag and the requeue's look again; absent:
   * no task is judged stuck. */
  taskStuckAfterSeconds?: number | null;
}

/** One alert as its delivery carries it (workflows/alert-delivery.ts): the facts a human and a
 * machine need, never where it goes (the worker's secret). */
export interface AlertNotice {
  /** The alert's idempotency key (its logs row's); its resolution's is this + `/resolved`. */
  idempotencyKey: string;
  issueType: IssueType | string;
  severity: Severity;
  goalId: string;
  workspaceId: string | null;
  taskId: string | null;
  message: string;
  raisedAt: string;
  /** The goal workflow's id (the Web UI link, when TEMPORAL_UI_URL is set). */
  workflowId: string;
}

/** One message to the alert webhook: the alert opening, or its resolution. */
export interface AlertDeliveryCall {
  notice: AlertNotice;
  status: 'open' | 'resolved';
  resolvedAt?: string | null;
}

/** A burst heal's input: goals whose first heal is done in bulk (workflows/burst-heal.ts). */
export interface BurstHealInput {
  goalIds: string[];
}

/** What a burst heal did, by ensure-goal-task outcome. */
export interface BurstHealTotals {
  goals: number;
  created: number;
  exists: number;
  closed: number;
  noAgent: number;
}
