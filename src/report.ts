/**
 * The heal report (`goalkeeper report`, GET /report): per workspace, how its goals stand now and
 * how goalkeeper healed them since a moment. Two sources, each the one that knows:
 * - the goals by health come from Temporal's visibility (the GoalHealth and WorkspaceId search
 *   attributes every goal workflow keeps current; the same query `goalkeeper goals` runs), so no
 *   worker and no database read is needed for them;
 * - everything counted over the window (heals by kind, alerts opened and resolved, time to heal,
 *   task completion times, stuck tasks) comes from goalkeeper's own tables, recorded as it
 *   happened, in one read (goalkeeper_heal_report, through the store: either adapter).
 */
import type { Client } from '@temporalio/client';
import { textTable } from './table';
import { goalListQuery } from './goal-list';
import type { HealingStore, HealReportRow } from '../activities/store-port';
import { GoalHealthKey, WorkspaceIdKey } from '../workflows/messages';
import { isUuid } from '../workflows/uuid';

/** The window `report` covers when --since is not given. */
export const DEFAULT_REPORT_SINCE = '24h';

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const UNIT_NAME = { m: 'minute', h: 'hour', d: 'day' } as const;
/** A date (midnight UTC) or a date and time with its zone: a time without one would be read in
 * whatever zone the machine is in. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

/**
 * The moment `raw` names: a duration back from `now` (30m, 24h, 7d) or an ISO time
 * (2026-12-01, 2026-12-01T08:00:00Z). Throws an Error naming the problem; the CLI and HTTP both
 * check with it before anything is read.
 */
export function parseSince(raw: string, now: Date = new Date()): Date {
  const text = raw.trim();
  const duration = /^(\d+)([mhd])$/.exec(text);
  if (duration) {
    const n = Number(duration[1]);
    const unit = duration[2] as keyof typeof UNIT_MS;
    const since = new Date(now.getTime() - n * UNIT_MS[unit]);
    if (n < 1) throw new Error(`since must be at least one ${UNIT_NAME[unit]} back, got ${JSON.stringify(raw)}`);
    if (!Number.isFinite(since.getTime())) throw new Error(`since reaches back past any date, got ${JSON.stringify(raw)}`);
    return since;
  }
  if (ISO_TIME.test(text)) {
    const since = new Date(text);
    if (!Number.isFinite(since.getTime())) throw new Error(`since is not a real date and time, got ${JSON.stringify(raw)}`);
    if (since.getTime() > now.getTime()) throw new Error(`since must not be in the future, got ${JSON.stringify(raw)}`);
    return since;
  }
  throw new Error(
    `since must be a duration back from now (30m, 24h, 7d) or an ISO time (2026-12-01 or 2026-12-01T08:00:00Z), got ${JSON.stringify(raw)}`,
  );
}

/** Running goal workflows by their published health (a goal still starting has none yet). */
export interface GoalHealthCounts {
  healthy: number;
  healing: number;
  degraded: number;
  needs_intervention: number;
}

const emptyCounts = (): GoalHealthCounts => ({ healthy: 0, healing: 0, degraded: 0, needs_intervention: 0 });

/** How many running goal workflows each workspace has in each health, from visibility: one list
 * query (`goalkeeper goals`' own, for running goals), read page by page. */
export async function goalsByHealth(client: Client, workspaceId?: string): Promise<Map<string, GoalHealthCounts>> {
  const byWorkspace = new Map<string, GoalHealthCounts>();
  for await (const run of client.workflow.list({ query: goalListQuery({ workspaceId }), pageSize: 1000 })) {
    const ws = run.typedSearchAttributes.get(WorkspaceIdKey);
    const health = run.typedSearchAttributes.get(GoalHealthKey);
    if (!ws || !health || !(health in emptyCounts())) continue;
    const counts = byWorkspace.get(ws) ?? emptyCounts();
    counts[health as keyof GoalHealthCounts] += 1;
    byWorkspace.set(ws, counts);
  }
  return byWorkspace;
}

export interface WorkspaceReport {
  workspaceId: string | null;
  /** Null only when Temporal could not be asked (the report says why beside it). */
  goals: GoalHealthCounts | null;
  heals: Record<string, number>;
  alerts: { opened: Record<string, number>; resolved: Record<string, number> };
  timeToHealMs: HealReportRow['timeToHealMs'];
  taskCompletionMs: HealReportRow['taskCompletionMs'];
  stuckTasks: number;
}

export interface HealReport {
  since: string;
  workspaces: WorkspaceReport[];
}

export interface HealReportResult {
  report: HealReport;
  /** Why the goals by health are missing (Temporal unreachable), or null. */
  goalsProblem: string | null;
}

const quiet = (workspaceId: string | null): HealReportRow => ({
  workspaceId,
  heals: {},
  alerts: { opened: {}, resolved: {} },
  timeToHealMs: { count: 0, p50: null, p95: null, max: null },
  taskCompletionMs: {},
  stuckTasks: 0,
});

/**
 * The report over [since, now]: every workspace with a running goal or anything recorded in the
 * window (just `workspaceId` when one is asked for, listed even when quiet). Without a Temporal
 * client, or when visibility fails, the recorded figures are still reported and `goals` is null.
 */
export async function buildHealReport(
  store: Pick<HealingStore, 'healReport'>,
  client: Client | null,
  options: { since: Date; workspaceId?: string },
): Promise<HealReportResult> {
  if (options.workspaceId !== undefined && !isUuid(options.workspaceId)) {
    throw new Error(`report: workspace must be a UUID, got ${JSON.stringify(options.workspaceId)}`);
  }
  const [rows, goals] = await Promise.all([
    store.healReport(options.since, options.workspaceId ?? null),
    client
      ? goalsByHealth(client, options.workspaceId).then(
          (counts) => ({ counts, problem: null }),
          (err: Error) => ({ counts: null, problem: `goals by health unknown: Temporal's visibility did not answer (${err.message})` }),
        )
      : Promise.resolve({ counts: null, problem: 'goals by health unknown: Temporal is not reachable' }),
  ]);
  const recorded = new Map(rows.map((r) => [r.workspaceId, r]));
  const ids = new Set<string | null>([...recorded.keys(), ...(goals.counts?.keys() ?? [])]);
  if (options.workspaceId) ids.add(options.workspaceId);
  const ordered = [...ids].sort((a, b) => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1));
  const workspaces = ordered.map((id): WorkspaceReport => {
    const r = recorded.get(id) ?? quiet(id);
    return {
      workspaceId: id,
      goals: goals.counts ? (id !== null && goals.counts.get(id)) || emptyCounts() : null,
      heals: r.heals,
      alerts: r.alerts,
      timeToHealMs: r.timeToHealMs,
      taskCompletionMs: r.taskCompletionMs,
      stuckTasks: r.stuckTasks,
    };
  });
  return { report: { since: options.since.toISOString(), workspaces }, goalsProblem: goals.problem };
}

/** A duration for people: 850 ms, 12.3 s, 4.5 min, 2.1 h; '-' when there is none. */
export function formatMs(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
const byName = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || '-';

export function formatHealReport(result: HealReportResult, { colour = false }: { colour?: boolean } = {}): string {
  const { report, goalsProblem } = result;
  const lines = [`heal report since ${report.since}`];
  if (goalsProblem) lines.push(goalsProblem);
  if (report.workspaces.length === 0) {
    lines.push('(no running goals and nothing recorded in the window)');
    return lines.join('\n');
  }
  const summary = textTable(
    ['workspace', 'goals healthy/healing/degraded/needs int.', 'heals', 'alerts opened/resolved', 'time to heal: n, p50/p95/max', 'stuck tasks'],
    { colour },
  );
  for (const w of report.workspaces) {
    const g = w.goals;
    const t = w.timeToHealMs;
    summary.push([
      w.workspaceId ?? '(none)',
      g ? `${g.healthy}/${g.healing}/${g.degraded}/${g.needs_intervention}` : 'unknown',
      String(sum(w.heals)),
      `${sum(w.alerts.opened)}/${sum(w.alerts.resolved)}`,
      t.count === 0 ? '0' : `${t.count}, ${formatMs(t.p50)}/${formatMs(t.p95)}/${formatMs(t.max)}`,
      String(w.stuckTasks),
    ]);
  }
  lines.push(summary.toString());
  const details = textTable(['workspace', 'heals by kind', 'alerts opened', 'alerts resolved', 'tasks completed (count, median)'], { colour });
  let anyDetail = false;
  for (const w of report.workspaces) {
    const completions = Object.entries(w.taskCompletionMs)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([role, c]) => `${role} ${c.count}, ${formatMs(c.p50)}`)
      .join('; ');
    if (sum(w.heals) + sum(w.alerts.opened) + sum(w.alerts.resolved) === 0 && !completions) continue;
    anyDetail = true;
    details.push([w.workspaceId ?? '(none)', byName(w.heals), byName(w.alerts.opened), byName(w.alerts.resolved), completions || '-']);
  }
  if (anyDetail) lines.push(details.toString());
  return lines.join('\n');
}
