/**
 * Data in the platform's shape for benchmarks and fault tests, plus the invariants every run must
 * keep: one open task per goal, no workspace over its provisioning cap, every goal healed.
 */
import { loadConfig } from '../../src/config';
import { Pool } from 'pg';
import { Client, Connection } from '@temporalio/client';
import { startGoal, type GoalTarget } from '../../src/temporal/goal-client';
import { forEachConcurrently } from '../../activities/concurrency';
import type { HealPolicy } from '../../workflows/types';

export interface Workspaces {
  ids: string[];
}

/**
 * `count` workspaces; every other one gets `agentsPerWorkspace` available agents, the rest have
 * none (goalkeeper provisions, bounded by the cap) or only agents in statuses that are not
 * assignable (the seed incident).
 */
export async function seedWorkspaces(pool: Pool, count: number, agentsPerWorkspace = 2): Promise<Workspaces> {
  const { rows } = await pool.query(
    `insert into workspaces (name, user_id)
     select 'bench ws ' || i, gen_random_uuid() from generate_series(1, $1::int) i returning id`,
    [count],
  );
  const ids = rows.map((r) => r.id as string);
  const withAgents = ids.filter((_, i) => i % 2 === 0);
  const idleOnly = ids.filter((_, i) => i % 4 === 1);
  if (withAgents.length) {
    await pool.query(
      `insert into agents (workspace_id, name, role, seniority, status)
       select w, 'agent ' || n, case when n % 2 = 0 then 'writer' else 'researcher' end, 'senior', 'available'
         from unnest($1::uuid[]) w, generate_series(1, $2::int) n`,
      [withAgents, agentsPerWorkspace],
    );
  }
  if (idleOnly.length) {
    await pool.query(
      `insert into agents (workspace_id, name, role, seniority, status)
       select w, 'idle agent', 'writer', 'senior', 'idle' from unnest($1::uuid[]) w`,
      [idleOnly],
    );
  }
  return { ids };
}

/** Inserts goals spread over the workspaces in one statement; returns their ids. */
export async function insertGoals(pool: Pool, workspaces: Workspaces, count: number, offset = 0): Promise<string[]> {
  const { rows } = await pool.query(
    `insert into workspace_goals (workspace_id, metric_type, target_value, description, status)
     select ($1::uuid[])[1 + ((i + $3::int) % cardinality($1::uuid[]))], 'deliverables', 10, 'bench goal ' || i, 'active'
       from generate_series(1, $2::int) i
     returning id`,
    [workspaces.ids, count, offset],
  );
  return rows.map((r) => r.id as string);
}

export async function insertGoal(pool: Pool, workspaceId: string): Promise<string> {
  const { rows } = await pool.query(
    `insert into workspace_goals (workspace_id, metric_type, target_value, description, status)
     values ($1, 'deliverables', 10, 'bench goal', 'active') returning id`,
    [workspaceId],
  );
  return rows[0].id;
}

/** Goals among `goalIds` whose task has an assignable agent (healed), counted in the database. */
export async function countHealed(pool: Pool, goalIds: string[] | null, statuses = ['available', 'active']): Promise<number> {
  const { rows } = await pool.query(
    `select count(distinct t.goal_id)::int n from tasks t join agents a on a.id = t.agent_id
      where a.status = any($2::text[]) and t.status not in ('completed', 'cancelled', 'failed')
        and ($1::uuid[] is null or t.goal_id = any($1::uuid[]))`,
    [goalIds, statuses],
  );
  return rows[0].n;
}

export interface Invariants {
  goals: number;
  healed: number;
  goalsWithMoreThanOneTask: number;
  workspacesOverCap: number;
  maxProvisionedInAWorkspace: number;
  /** Workspaces goalkeeper gave more than one agent. These fixtures' tasks have no role, so one
   * provisioned agent serves all of a workspace's tasks: a second means two healers both saw
   * the workspace without one (a race under the cap that the cap alone would not catch). */
  workspacesProvisionedTwice: number;
}

export async function checkInvariants(pool: Pool, goalIds: string[], cap: number): Promise<Invariants> {
  const healed = await countHealed(pool, goalIds);
  const dup = await pool.query(
    `select count(*)::int n from (select goal_id from tasks where goal_id = any($1::uuid[]) group by goal_id having count(*) > 1) d`,
    [goalIds],
  );
  const over = await pool.query(
    `select coalesce(max(n), 0)::int max_n, count(*) filter (where n > $1)::int over_n,
            count(*) filter (where n > 1)::int twice_n
       from (select workspace_id, count(*) n from goalkeeper_provisioned_agents group by workspace_id) p`,
    [cap],
  );
  return {
    goals: goalIds.length,
    healed,
    goalsWithMoreThanOneTask: dup.rows[0].n,
    workspacesOverCap: over.rows[0].over_n,
    maxProvisionedInAWorkspace: over.rows[0].max_n,
    workspacesProvisionedTwice: over.rows[0].twice_n,
  };
}

export async function temporalClient(address: string): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace: 'default' });
}

/** The service's default policy (src/config.ts is its one definition) with a run's overrides. */
export function benchPolicy(overrides: Partial<HealPolicy> = {}): HealPolicy {
  return { ...loadConfig({}).policy, ...overrides };
}

/** Starts goal workflows directly (what the dispatcher does per event), `concurrency` at a time. */
export async function startGoals(target: GoalTarget, goalIds: string[], concurrency = 50): Promise<void> {
  await forEachConcurrently(goalIds, concurrency, async (id) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await startGoal(target, id);
        return;
      } catch (err) {
        if (attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    }
  });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export function summarize(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? NaN,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN,
  };
}

export async function xactCommits(pool: Pool): Promise<number> {
  const { rows } = await pool.query(`select xact_commit::bigint n from pg_stat_database where datname = current_database()`);
  return Number(rows[0].n);
}

/** Calls of goalkeeper's SQL functions so far in this database (needs track_functions = all,
 * which createDatabase sets): what goalkeeper itself asked of the database. */
export async function goalkeeperFunctionCalls(pool: Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ funcname: string; calls: string }>(
    `select funcname, calls from pg_stat_user_functions where funcname like 'goalkeeper\\_%'`,
  );
  return Object.fromEntries(rows.map((r) => [r.funcname, Number(r.calls)]));
}

/** after − before, per function, only those called; and their total. */
export function functionCallsBetween(before: Record<string, number>, after: Record<string, number>): { total: number; byFunction: Record<string, number> } {
  const byFunction: Record<string, number> = {};
  for (const [name, n] of Object.entries(after)) {
    const calls = n - (before[name] ?? 0);
    if (calls > 0) byFunction[name] = calls;
  }
  return { total: Object.values(byFunction).reduce((a, b) => a + b, 0), byFunction };
}
