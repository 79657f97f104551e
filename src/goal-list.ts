/**
 * The goals an operator looks for across workspaces, from Temporal's visibility: the goal
 * workflows by health (the ones that need intervention, say) and by workspace, with the goal's
 * description from the memo. No worker and no database needed: the search attributes the
 * workflows keep current answer it.
 */
import type { Client } from '@temporalio/client';
import { textTable } from './table';
import { GoalHealthKey, GoalMetricTypeKey, WorkspaceIdKey } from '../workflows/messages';
import { GOAL_HEALTHS, type GoalHealth } from '../workflows/types';
import { isUuid } from '../workflows/uuid';

/** The most goals one list returns (a page of visibility is at most 1,000; ten pages at most). */
export const MAX_GOAL_LIST_LIMIT = 10_000;
export const DEFAULT_GOAL_LIST_LIMIT = 100;

/** Why `raw` is not a health to list by, or null. The CLI and HTTP check with it, so a value
 * reaches the visibility query only when it is one of GOAL_HEALTHS. */
export function healthProblem(raw: string): string | null {
  return (GOAL_HEALTHS as readonly string[]).includes(raw) ? null : `must be one of ${GOAL_HEALTHS.join(', ')}, got ${JSON.stringify(raw)}`;
}

/** Why `raw` is not a list limit, or null. */
export function limitProblem(raw: string): string | null {
  const value = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  return Number.isSafeInteger(value) && value >= 1 && value <= MAX_GOAL_LIST_LIMIT
    ? null
    : `must be a whole number from 1 to ${MAX_GOAL_LIST_LIMIT}, got ${JSON.stringify(raw)}`;
}

export interface GoalListFilter {
  health?: GoalHealth;
  workspaceId?: string;
  /** At most this many rows (the list says when there were more). */
  limit: number;
}

export interface GoalListRow {
  goalId: string;
  workspaceId: string | null;
  health: string | null;
  metricType: string | null;
  description: string | null;
  /** When the goal's current run started (a run continued as new starts again). */
  runStartedAt: string;
  status: string;
}

export interface GoalList {
  query: string;
  goals: GoalListRow[];
  /** True when more goals matched than `limit`. */
  truncated: boolean;
}

/**
 * The visibility query of a filter. The CLI and HTTP check their values first, with messages of
 * their own; checked again here, so that nothing unchecked can ever be spliced into a query. A
 * goal's live run is the one that tells its health; `closed` goals are those whose workflow
 * completed (listGoals keeps each goal once, and only when it has no running run).
 */
export function goalListQuery(filter: Omit<GoalListFilter, 'limit'>): string {
  const healthIs = filter.health !== undefined ? healthProblem(filter.health) : null;
  if (healthIs) throw new Error(`goal list: health ${healthIs}`);
  if (filter.workspaceId !== undefined && !isUuid(filter.workspaceId)) {
    throw new Error(`goal list: workspace must be a UUID, got ${JSON.stringify(filter.workspaceId)}`);
  }
  const clauses = ['WorkflowType = "goalWorkflow"'];
  clauses.push(filter.health === 'closed' ? 'ExecutionStatus = "Completed"' : 'ExecutionStatus = "Running"');
  // A goal's workflow publishes its health after its first cycle: until then it has none.
  if (filter.health === 'starting') clauses.push(`${GoalHealthKey.name} IS NULL`);
  else if (filter.health && filter.health !== 'closed') clauses.push(`${GoalHealthKey.name} = "${filter.health}"`);
  if (filter.workspaceId) clauses.push(`${WorkspaceIdKey.name} = "${filter.workspaceId}"`);
  return clauses.join(' AND ');
}

export async function listGoals(client: Client, filter: GoalListFilter): Promise<GoalList> {
  const query = goalListQuery(filter);
  const closed = filter.health === 'closed';
  const goals: GoalListRow[] = [];
  // A closed list holds each goal once, and only while no run of it is live: a goal closed twice
  // has two completed runs (the latest is listed, visibility giving the latest closing first), and
  // a goal reopened since it closed is running again, so it is not closed.
  const seen = new Set<string>();
  let unchecked: GoalListRow[] = [];
  const keepStillClosed = async () => {
    const running = await runningGoalIds(client, unchecked.map((g) => g.goalId));
    goals.push(...unchecked.filter((g) => !running.has(g.goalId)));
    unchecked = [];
  };
  for await (const run of client.workflow.list({ query, pageSize: Math.min(filter.limit + 1, 1000) })) {
    if (goals.length > filter.limit) break;
    const description = run.memo?.goal;
    const row: GoalListRow = {
      goalId: run.workflowId.replace(/^goal-/, ''),
      workspaceId: run.typedSearchAttributes.get(WorkspaceIdKey) ?? null,
      health: run.typedSearchAttributes.get(GoalHealthKey) ?? null,
      metricType: run.typedSearchAttributes.get(GoalMetricTypeKey) ?? null,
      description: typeof description === 'string' ? description : null,
      runStartedAt: run.startTime.toISOString(),
      status: run.status.name.toLowerCase(),
    };
    if (!closed) {
      goals.push(row);
      continue;
    }
    if (seen.has(row.goalId)) continue;
    seen.add(row.goalId);
    unchecked.push(row);
    if (unchecked.length === RUNNING_CHECK_BATCH) await keepStillClosed();
  }
  if (unchecked.length > 0) await keepStillClosed();
  // One more than the limit was looked for, to say whether more match.
  const truncated = goals.length > filter.limit;
  return { query, goals: goals.slice(0, filter.limit), truncated };
}

/** How many goals one visibility query checks for a live run. */
const RUNNING_CHECK_BATCH = 100;

/** Which of these goals have a running goal workflow. The ids come from visibility itself; only
 * UUIDs go into the query all the same. */
async function runningGoalIds(client: Client, goalIds: string[]): Promise<Set<string>> {
  const ids = goalIds.filter(isUuid);
  const running = new Set<string>();
  if (ids.length === 0) return running;
  const query = `WorkflowType = "goalWorkflow" AND ExecutionStatus = "Running" AND WorkflowId IN (${ids.map((id) => `"goal-${id}"`).join(', ')})`;
  for await (const run of client.workflow.list({ query, pageSize: ids.length })) running.add(run.workflowId.replace(/^goal-/, ''));
  return running;
}

export function formatGoalList(list: GoalList, { colour = false }: { colour?: boolean } = {}): string {
  if (list.goals.length === 0) return `no goals match (${list.query})`;
  const table = textTable(['goal', 'workspace', 'health', 'metric', 'goal description', 'run started'], { colour });
  const short = (text: string | null, max: number) => (text === null ? '-' : text.length > max ? `${text.slice(0, max - 1)}…` : text);
  for (const g of list.goals) {
    table.push([g.goalId, g.workspaceId ?? '-', g.health ?? '-', g.metricType ?? '-', short(g.description, 40), g.runStartedAt]);
  }
  const count = list.truncated ? `the first ${list.goals.length} goal(s); more match (--limit shows more)` : `${list.goals.length} goal(s)`;
  return `${table.toString()}\n${count}`;
}
