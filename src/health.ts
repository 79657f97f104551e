/**
 * Workspace health, as the platform already scores it: 100, minus 10 per active goal without a
 * task, minus 5 per task the executor will not run for want of an assignable agent, minus 3 per
 * failed task, floored at 0. Stuck tasks (in progress, untouched past TASK_STUCK_AFTER_SECONDS) are
 * listed beside them but do not change the score: the platform's formula has no term for them.
 * The database facts come from one SQL function (a consistent read)
 * through the store, so a Supabase deployment gets them over .rpc() like a pg one;
 * each goal's workflow health comes from Temporal's visibility (the GoalHealth search attribute
 * the workflow keeps current), so no worker needs to be up to answer.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { textTable } from './table';
import { withTimeout } from './concurrency';
import type { HealingStore } from '../activities/store-port';
import { GoalHealthKey, goalWorkflowId } from '../workflows/messages';

export interface GoalHealthRow {
  id: string;
  metricType: string;
  description: string | null;
  hasTask: boolean;
  /** The goal workflow: its execution status and last reported health. */
  workflow: { status: string; health: string | null };
}

export interface WorkspaceHealthReport {
  workspaceId: string;
  workspaceExists: boolean;
  score: number;
  goals: GoalHealthRow[];
  goalsWithoutTasks: string[];
  unassignedTasks: Array<{ id: string; goalId: string | null; status: string; agentId: string | null; agentStatus: string | null }>;
  failedTasks: Array<{ id: string; goalId: string | null; agentId: string | null }>;
  /** In progress and untouched for over `stuckAfterSeconds`: the fleet check puts them back. */
  stuckTasks: Array<{ id: string; goalId: string | null; agentId: string | null; updatedAt: string }>;
  stuckAfterSeconds: number;
}

export function healthScore(counts: { goalsWithoutTasks: number; unassignedTasks: number; failedTasks: number }): number {
  return Math.max(0, 100 - 10 * counts.goalsWithoutTasks - 5 * counts.unassignedTasks - 3 * counts.failedTasks);
}

/** How long one goal's workflow description may take before it is reported as unknown. */
const DESCRIBE_TIMEOUT_MS = 3_000;

async function workflowHealth(client: Client | null, goalId: string): Promise<GoalHealthRow['workflow']> {
  if (!client) return { status: 'unknown', health: null };
  try {
    const d = await withTimeout(client.workflow.getHandle(goalWorkflowId(goalId)).describe(), DESCRIBE_TIMEOUT_MS);
    return { status: d.status.name.toLowerCase(), health: d.typedSearchAttributes.get(GoalHealthKey) ?? null };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { status: 'missing', health: null };
    return { status: 'unknown', health: null };
  }
}

/** The database facts through the store (either adapter), each goal's workflow from Temporal. */
export async function workspaceHealth(
  store: Pick<HealingStore, 'workspaceHealth'>,
  client: Client | null,
  workspaceId: string,
  policy: { assignableStatuses: string[]; taskStuckAfterSeconds: number },
): Promise<WorkspaceHealthReport> {
  const r = await store.workspaceHealth(workspaceId, policy.assignableStatuses, policy.taskStuckAfterSeconds);
  const goals: GoalHealthRow[] = [];
  // A few at a time: a workspace with hundreds of goals must not open hundreds of calls at once.
  for (let i = 0; i < r.goals.length; i += 16) {
    const chunk = r.goals.slice(i, i + 16);
    const workflows = await Promise.all(chunk.map((g) => workflowHealth(client, g.id)));
    chunk.forEach((g, j) =>
      goals.push({ id: g.id, metricType: g.metric_type, description: g.description, hasTask: g.has_task, workflow: workflows[j] }),
    );
  }
  const goalsWithoutTasks = goals.filter((g) => !g.hasTask).map((g) => g.id);
  const unassignedTasks = r.unassigned_tasks.map((t) => ({
    id: t.id,
    goalId: t.goal_id,
    status: t.status,
    agentId: t.agent_id,
    agentStatus: t.agent_status,
  }));
  const failedTasks = r.failed_tasks.map((t) => ({ id: t.id, goalId: t.goal_id, agentId: t.agent_id }));
  const stuckTasks = r.stuck_tasks.map((t) => ({ id: t.id, goalId: t.goal_id, agentId: t.agent_id, updatedAt: t.updated_at }));
  return {
    workspaceId,
    workspaceExists: r.workspace_exists,
    score: healthScore({ goalsWithoutTasks: goalsWithoutTasks.length, unassignedTasks: unassignedTasks.length, failedTasks: failedTasks.length }),
    goals,
    goalsWithoutTasks,
    unassignedTasks,
    failedTasks,
    stuckTasks,
    stuckAfterSeconds: policy.taskStuckAfterSeconds,
  };
}

export function formatWorkspaceHealth(report: WorkspaceHealthReport, { colour = false }: { colour?: boolean } = {}): string {
  const lines = [
    `workspace ${report.workspaceId}${report.workspaceExists ? '' : ' (not found)'}`,
    `score ${report.score}/100: ${report.goalsWithoutTasks.length} goal(s) without tasks (−10 each), ` +
      `${report.unassignedTasks.length} task(s) without an assignable agent (−5 each), ${report.failedTasks.length} failed task(s) (−3 each)`,
  ];
  const goals = textTable(['goal', 'metric', 'task', 'workflow', 'health'], { colour });
  for (const g of report.goals) {
    goals.push([g.id, g.metricType, g.hasTask ? 'yes' : 'NONE', g.workflow.status, g.workflow.health ?? '-']);
  }
  lines.push(report.goals.length ? goals.toString() : '(no active goals)');
  if (report.unassignedTasks.length) {
    const t = textTable(['task without assignable agent', 'goal', 'status', 'agent', 'agent status'], { colour });
    for (const u of report.unassignedTasks) t.push([u.id, u.goalId ?? '-', u.status, u.agentId ?? '-', u.agentStatus ?? '-']);
    lines.push(t.toString());
  }
  if (report.failedTasks.length) {
    const t = textTable(['failed task', 'goal', 'agent'], { colour });
    for (const f of report.failedTasks) t.push([f.id, f.goalId ?? '-', f.agentId ?? '-']);
    lines.push(t.toString());
  }
  if (report.stuckTasks.length) {
    const t = textTable([`stuck task (in progress, untouched over ${report.stuckAfterSeconds}s)`, 'goal', 'agent', 'last update'], { colour });
    for (const s of report.stuckTasks) t.push([s.id, s.goalId ?? '-', s.agentId ?? '-', s.updatedAt]);
    lines.push(t.toString());
  }
  return lines.join('\n');
}
