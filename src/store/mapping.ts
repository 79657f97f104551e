/**
 * Maps the JSON the SQL functions return onto the typed results. Both adapters receive the same
 * jsonb, so both use these mappers: one shape, one place.
 */
import type {
  EnsureGoalTaskResult,
  EnsureTaskAgentResult,
  GoalTaskView,
  RecordEventInput,
  RecordEventResult,
  RequeueStuckTaskResult,
  RetryTaskResult,
  AgentRules,
  HealEpisodeInput,
  RecordHealEpisodeResult,
  ResolveAlertResult,
} from '../../workflows/types';
import { StoreError, type ActiveGoalRef, type CareCriteria, type CareReason, type DatabaseIdentity, type GoalsNeedingCarePage, type HealReportRow, type RecordTrimTotals, type WorkspaceHealthRow } from '../../activities/store-port';

type Json = Record<string, unknown>;

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function toEnsureGoalTask(raw: Json): EnsureGoalTaskResult {
  const goal = raw.goal as Json | null;
  return {
    outcome: raw.outcome as EnsureGoalTaskResult['outcome'],
    reason: str(raw.reason),
    goal: goal
      ? {
          id: String(goal.id),
          workspaceId: String(goal.workspace_id),
          status: String(goal.status),
          metricType: String(goal.metric_type),
          description: str(goal.description),
        }
      : null,
    createdTaskId: str(raw.created_task_id),
    provisionedAgent: raw.provisioned_agent === true,
    moreTasks: raw.more_tasks === true,
    tasks: ((raw.tasks as Json[] | undefined) ?? []).map(
      (t): GoalTaskView => ({
        id: String(t.id),
        status: String(t.status),
        agentId: str(t.agent_id),
        agentStatus: str(t.agent_status),
        role: str(t.role),
        needsAgent: t.needs_agent === true,
        stuck: t.stuck === true,
        retriesRecorded: Number(t.retries_recorded ?? 0),
      }),
    ),
  };
}

export function toEnsureTaskAgent(raw: Json): EnsureTaskAgentResult {
  return {
    outcome: raw.outcome as EnsureTaskAgentResult['outcome'],
    taskId: String(raw.task_id),
    agentId: str(raw.agent_id),
    provisioned: raw.provisioned === true,
  };
}

/** A retry's or a stuck task's put-back: both record one attempt against the task's budget and
 * answer alike, each with its own outcomes. */
export function toTaskAttempt<R extends RetryTaskResult | RequeueStuckTaskResult>(raw: Json): R {
  return {
    outcome: raw.outcome as R['outcome'],
    taskId: String(raw.task_id),
    agentId: str(raw.agent_id),
    attempt: typeof raw.attempt === 'number' ? raw.attempt : null,
  } as R;
}

export function toRecordEvent(raw: Json): RecordEventResult {
  return { logId: String(raw.log_id), created: raw.created === true };
}

export function toResolveAlert(raw: Json): ResolveAlertResult {
  return { found: raw.found === true, resolved: raw.resolved === true, resolvedAt: str(raw.resolved_at) };
}

export function toRecordHealEpisode(raw: Json): RecordHealEpisodeResult {
  return { created: raw.created === true };
}

export function toActiveGoals(raw: unknown): ActiveGoalRef[] {
  return ((raw as Json[] | null) ?? []).map((g) => ({
    id: String(g.id),
    workspaceId: String(g.workspace_id),
    needsHeal: g.needs_heal === true,
    // Absent only from a page function older than its migration: assume a task, heal nothing.
    hasTask: g.has_task !== false,
  }));
}

const CARE_REASONS: readonly CareReason[] = ['no_task', 'task_without_agent', 'failed_task', 'stuck_task', 'stalled', 'stall_over'];

export function toGoalsNeedingCare(raw: unknown): GoalsNeedingCarePage {
  const r = raw as { scanned?: unknown; next?: unknown; goals?: unknown } | null;
  if (!r || typeof r.scanned !== 'number' || !Array.isArray(r.goals)) {
    throw new StoreError(`goalkeeper_goals_needing_care returned an unexpected shape: ${JSON.stringify(raw)?.slice(0, 200)}`, false, null);
  }
  return {
    scanned: r.scanned,
    next: typeof r.next === 'string' ? r.next : null,
    goals: (r.goals as Json[]).map((g) => ({ id: String(g.id), why: CARE_REASONS.includes(g.why as CareReason) ? (g.why as CareReason) : 'no_task' })),
  };
}

/** The agent rules every healing function takes, as its named arguments. */
const agentRuleArgs = (r: AgentRules) => ({
  p_assignable_statuses: r.assignableStatuses,
  p_max_provisioned: r.maxAutoProvisionedAgents,
  p_workflow_id: r.workflowId,
  p_max_open_tasks: r.agentMaxOpenTasks ?? null,
});

/** Named arguments of each SQL function, shared so both adapters call them identically. */
export const rpcArgs = {
  ensureGoalTask: (goalId: string, r: AgentRules) => ({ p_goal_id: goalId, ...agentRuleArgs(r), p_stuck_seconds: r.taskStuckAfterSeconds ?? null }),
  ensureTaskAgent: (taskId: string, r: AgentRules) => ({ p_task_id: taskId, ...agentRuleArgs(r) }),
  retryTask: (taskId: string, requestKey: string, r: AgentRules) => ({ p_task_id: taskId, p_request_key: requestKey, ...agentRuleArgs(r) }),
  requeueStuckTask: (taskId: string, requestKey: string, r: AgentRules) => ({
    p_task_id: taskId,
    p_request_key: requestKey,
    ...agentRuleArgs(r),
    p_stuck_seconds: r.taskStuckAfterSeconds ?? null,
  }),
  recordEvent: (e: RecordEventInput) => ({
    p_idempotency_key: e.idempotencyKey,
    p_kind: e.kind,
    p_workspace_id: e.workspaceId,
    p_goal_id: e.goalId,
    p_task_id: e.taskId,
    p_issue_type: e.issueType,
    p_severity: e.severity,
    p_text: e.text,
    p_workflow_id: e.workflowId,
    p_details: e.details ?? {},
  }),
  resolveAlert: (idempotencyKey: string) => ({ p_idempotency_key: idempotencyKey }),
  recordHealEpisode: (e: HealEpisodeInput) => ({
    p_episode_key: e.episodeKey,
    p_workspace_id: e.workspaceId,
    p_goal_id: e.goalId,
    p_seen_at: e.seenAt,
    p_healed_at: e.healedAt,
  }),
  listActiveGoals: (after: string | null, limit: number) => ({ p_after: after, p_limit: limit }),
  goalsNeedingCare: (after: string | null, limit: number, c: CareCriteria) => ({
    p_after: after,
    p_limit: limit,
    p_assignable_statuses: c.assignableStatuses,
    p_max_retries: c.maxTaskRetries,
    p_stall_seconds: c.stallSeconds,
    p_interval_seconds: c.intervalSeconds,
    p_stuck_seconds: c.stuckSeconds ?? null,
  }),
  agentStatusCounts: () => ({}),
  workspaceHealth: (workspaceId: string, assignableStatuses: string[], stuckSeconds?: number) => ({
    p_workspace_id: workspaceId,
    p_assignable_statuses: assignableStatuses,
    p_stuck_seconds: stuckSeconds ?? null,
  }),
  instanceIdentity: () => ({}),
  goalInWorkspace: (goalId: string, workspaceId: string) => ({ p_goal_id: goalId, p_workspace_id: workspaceId }),
  healReport: (since: Date, workspaceId: string | null) => ({ p_since: since.toISOString(), p_workspace_id: workspaceId }),
  trimRecords: (keepDays: number, batch: number) => ({ p_keep_days: keepDays, p_batch: batch }),
} as const;

export type RpcFunction = keyof typeof rpcArgs;

/** SQL function name of each store call. */
export const rpcName: Record<RpcFunction, string> = {
  ensureGoalTask: 'goalkeeper_ensure_goal_task',
  ensureTaskAgent: 'goalkeeper_ensure_task_agent',
  retryTask: 'goalkeeper_retry_task',
  requeueStuckTask: 'goalkeeper_requeue_stuck_task',
  recordEvent: 'goalkeeper_record_event',
  resolveAlert: 'goalkeeper_resolve_alert',
  recordHealEpisode: 'goalkeeper_record_heal_episode',
  listActiveGoals: 'goalkeeper_list_active_goals',
  goalsNeedingCare: 'goalkeeper_goals_needing_care',
  agentStatusCounts: 'goalkeeper_agent_status_counts',
  workspaceHealth: 'goalkeeper_workspace_health',
  instanceIdentity: 'goalkeeper_instance_id',
  goalInWorkspace: 'goalkeeper_goal_in_workspace',
  healReport: 'goalkeeper_heal_report',
  trimRecords: 'goalkeeper_trim_records',
};

/** A function that answers true or false; anything else (null included) is not ours. */
export function toBoolean(fn: RpcFunction, raw: unknown): boolean {
  if (typeof raw !== 'boolean') {
    throw new StoreError(`${rpcName[fn]} returned ${JSON.stringify(raw)?.slice(0, 200)}, not true or false`, false, null);
  }
  return raw;
}

export function toDatabaseIdentity(raw: unknown): DatabaseIdentity {
  const r = raw as Record<string, unknown> | null;
  if (!r || typeof r.instance_id !== 'string' || typeof r.database_oid !== 'string' || typeof r.database_name !== 'string') {
    throw new Error(`goalkeeper_instance_id() returned ${JSON.stringify(raw)}: run \`goalkeeper migrate\` (the identity row may be missing)`);
  }
  return {
    instanceId: r.instance_id,
    systemIdentifier: typeof r.system_identifier === 'string' ? r.system_identifier : null,
    databaseOid: r.database_oid,
    databaseName: r.database_name,
  };
}

/** goalkeeper_trim_records' counts per table; bigint counts may arrive as numbers or numeric strings. */
export function toRecordTrim(raw: unknown): RecordTrimTotals {
  const r = raw as Record<string, unknown> | null;
  const keys = ['heal_actions', 'alerts', 'heal_episodes', 'task_completions', 'log_keys'] as const;
  if (!r || !keys.every((k) => Number.isInteger(Number(r[k])))) {
    throw new StoreError(`goalkeeper_trim_records returned an unexpected shape: ${JSON.stringify(raw)?.slice(0, 200)}`, false, null);
  }
  return {
    healActions: Number(r.heal_actions),
    alerts: Number(r.alerts),
    healEpisodes: Number(r.heal_episodes),
    taskCompletions: Number(r.task_completions),
    logKeys: Number(r.log_keys),
  };
}

/** The function always returns all five keys (empty lists as []); anything else is not ours. */
export function toWorkspaceHealth(raw: unknown): WorkspaceHealthRow {
  const r = raw as Partial<WorkspaceHealthRow> | null;
  if (!r || typeof r.workspace_exists !== 'boolean' || !Array.isArray(r.goals) || !Array.isArray(r.unassigned_tasks) || !Array.isArray(r.failed_tasks) || !Array.isArray(r.stuck_tasks)) {
    throw new StoreError(`goalkeeper_workspace_health returned an unexpected shape: ${JSON.stringify(raw)?.slice(0, 200)}`, false, null);
  }
  return r as WorkspaceHealthRow;
}

export function toStatusCounts(raw: unknown): Record<string, number> {
  return Object.fromEntries(Object.entries((raw as Record<string, unknown> | null) ?? {}).map(([k, v]) => [k, Number(v)]));
}

/** goalkeeper_heal_report's rows (snake_case jsonb) as HealReportRow; bigint counts may arrive as
 * numbers or numeric strings, whichever adapter carried them. */
export function toHealReport(raw: unknown): HealReportRow[] {
  if (!Array.isArray(raw)) {
    throw new StoreError(`goalkeeper_heal_report returned an unexpected shape: ${JSON.stringify(raw)?.slice(0, 200)}`, false, null);
  }
  const num = (v: unknown): number => Number(v ?? 0);
  const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  const counts = (v: unknown): Record<string, number> =>
    Object.fromEntries(Object.entries((v as Record<string, unknown> | null) ?? {}).map(([k, n]) => [k, num(n)]));
  return (raw as Json[]).map((r) => {
    const ttl = (r.time_to_heal_ms as Json | null) ?? {};
    const completions = (r.task_completion_ms as Record<string, Json> | null) ?? {};
    return {
      workspaceId: str(r.workspace_id),
      heals: counts(r.heals),
      alerts: { opened: counts(r.alerts_opened), resolved: counts(r.alerts_resolved) },
      timeToHealMs: { count: num(ttl.count), p50: numOrNull(ttl.p50), p95: numOrNull(ttl.p95), max: numOrNull(ttl.max) },
      taskCompletionMs: Object.fromEntries(Object.entries(completions).map(([role, c]) => [role, { count: num(c.count), p50: numOrNull(c.p50) }])),
      stuckTasks: num(r.stuck_tasks),
    };
  });
}
