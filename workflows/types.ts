/**
 * Plain data types shared by workflows, activities and the rest of the service. Types only: the
 * workflow bundle may import this file, so it must hold no runtime code.
 */

/** The healing policy a goal workflow runs under. It travels in the workflow's input (and through
 * continueAsNew), so a workflow's decisions never depend on the environment of whichever worker
 * happens to replay it; a start from a shell takes the worker's instead, read once through a
 * local activity whose answer the history keeps (GoalWorkflowInput.adoptWorkerPolicy). */
export interface HealPolicy {
  /** The one definition of which agent statuses count as assignable (AGENT_ASSIGNABLE_STATUSES). */
  assignableStatuses: string[];
  maxTaskRetries: number;
  retryBackoffSeconds: number;
  healthCheckIntervalSeconds: number;
  maxAutoProvisionedAgents: number;
  maxCyclesPerRun: number;
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
  | 'GOAL_STALLED';

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
  /** Retries goalkeeper has made of this task in all runs (absent in results recorded before
   * the database returned it: read as 0, the rule those histories were made under). */
  retriesRecorded?: number;
}

export interface EnsureGoalTaskResult {
  outcome: 'closed' | 'exists' | 'created' | 'no_agent';
  /** Why the goal is closed: goal_not_found, goal_completed, goal_archived, … */
  reason: string | null;
  goal: GoalView | null;
  createdTaskId: string | null;
  provisionedAgent: boolean;
  tasks: GoalTaskView[];
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

/** What every healing store call needs besides its subject. */
export interface AgentRules {
  assignableStatuses: string[];
  maxAutoProvisionedAgents: number;
  workflowId: string | null;
}

/** The agent rules an activity's input carries (AgentRules without the workflow id, which the
 * activity reads from its own context). */
export type RulesInput = Omit<AgentRules, 'workflowId'>;

/** A burst heal's input: goals whose first heal is done in bulk (workflows/burst-heal.ts). */
export interface BurstHealInput {
  goalIds: string[];
  rules: RulesInput;
}

/** What a burst heal did, by ensure-goal-task outcome. */
export interface BurstHealTotals {
  goals: number;
  created: number;
  exists: number;
  closed: number;
  noAgent: number;
}
