/**
 * The 2025-09-04 incident, as data: one workspace, six deliverable goals at 0%, each with a task
 * that the executor failed at once because it had no agent, and agents none of which the executor
 * would run (idle, offline, created). The old health monitor saw nothing wrong here.
 * Beyond the incident, one more goal whose task has been in progress with a busy agent, untouched,
 * for longer than a task may be: stuck, which the platform's own recovery would put back silently.
 */
import { Client } from 'pg';

export const INCIDENT_GOALS = [
  { metricType: 'deliverables', description: 'Publish the onboarding guide' },
  { metricType: 'deliverables', description: 'Ship the pricing page copy' },
  { metricType: 'deliverables', description: 'Draft the Q4 launch email sequence' },
  { metricType: 'deliverables', description: 'Write three customer case studies' },
  { metricType: 'deliverables', description: 'Produce the API quick-start video script' },
  { metricType: 'deliverables', description: 'Prepare the investor update deck' },
];

const IDLE_AGENTS = [
  { name: 'Content strategist', role: 'writer', seniority: 'senior', status: 'idle' },
  { name: 'Research analyst', role: 'analyst', seniority: 'junior', status: 'offline' },
  { name: 'Project manager', role: 'manager', seniority: 'expert', status: 'created' },
];

export const STUCK_GOAL = { metricType: 'deliverables', description: 'Translate the help centre' };
const STUCK_AGENT = { name: 'Translator', role: 'writer', seniority: 'senior', status: 'busy' };

export interface SeededIncident {
  workspaceId: string;
  goals: Array<{ id: string; description: string; taskId: string }>;
}

/** Seeds the incident, and the stuck goal with its task untouched for `stuckForSeconds`. */
export async function seedIncident(databaseUrl: string, stuckForSeconds: number): Promise<SeededIncident> {
  const db = new Client({ connectionString: databaseUrl, application_name: 'goalkeeper-demo' });
  await db.connect();
  try {
    await db.query('begin');
    const ws = await db.query<{ id: string }>(
      `insert into workspaces (name, user_id, status) values ('Acme content team (incident 2025-09-04)', gen_random_uuid(), 'active') returning id`,
    );
    const workspaceId = ws.rows[0].id;
    for (const a of IDLE_AGENTS) {
      await db.query(`insert into agents (workspace_id, name, role, seniority, status) values ($1, $2, $3, $4, $5)`, [
        workspaceId, a.name, a.role, a.seniority, a.status,
      ]);
    }
    const goals: SeededIncident['goals'] = [];
    for (const g of INCIDENT_GOALS) {
      const goal = await db.query<{ id: string }>(
        `insert into workspace_goals (workspace_id, metric_type, target_value, current_value, description, goal_type, status, priority)
         values ($1, $2, 1, 0, $3, 'deliverable', 'active', 1) returning id`,
        [workspaceId, g.metricType, g.description],
      );
      // The task as the incident left it: failed by the executor, no agent.
      const task = await db.query<{ id: string }>(
        `insert into tasks (workspace_id, goal_id, name, description, status, priority, metric_type, updated_at)
         values ($1, $2, $3, $3, 'failed', 'high', $4, now()) returning id`,
        [workspaceId, goal.rows[0].id, g.description, g.metricType],
      );
      goals.push({ id: goal.rows[0].id, description: g.description, taskId: task.rows[0].id });
    }
    const stuckAgent = await db.query<{ id: string }>(
      `insert into agents (workspace_id, name, role, seniority, status) values ($1, $2, $3, $4, $5) returning id`,
      [workspaceId, STUCK_AGENT.name, STUCK_AGENT.role, STUCK_AGENT.seniority, STUCK_AGENT.status],
    );
    const stuckGoal = await db.query<{ id: string }>(
      `insert into workspace_goals (workspace_id, metric_type, target_value, current_value, description, goal_type, status, priority)
       values ($1, $2, 1, 0, $3, 'deliverable', 'active', 2) returning id`,
      [workspaceId, STUCK_GOAL.metricType, STUCK_GOAL.description],
    );
    const stuckTask = await db.query<{ id: string }>(
      `insert into tasks (workspace_id, goal_id, agent_id, name, description, status, priority, metric_type, created_at, updated_at)
       values ($1, $2, $3, $4, $4, 'in_progress', 'medium', $5, now() - make_interval(secs => $6), now() - make_interval(secs => $6))
       returning id`,
      [workspaceId, stuckGoal.rows[0].id, stuckAgent.rows[0].id, STUCK_GOAL.description, STUCK_GOAL.metricType, stuckForSeconds],
    );
    goals.push({ id: stuckGoal.rows[0].id, description: STUCK_GOAL.description, taskId: stuckTask.rows[0].id });
    await db.query('commit');
    return { workspaceId, goals };
  } catch (err) {
    await db.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    await db.end();
  }
}

export interface GoalRow {
  goalId: string;
  taskId: string | null;
  taskStatus: string | null;
  agentName: string | null;
  agentStatus: string | null;
}

/** What the platform's own tables say about each goal's task and agent right now. */
export async function readGoalRows(databaseUrl: string, workspaceId: string): Promise<Map<string, GoalRow>> {
  const db = new Client({ connectionString: databaseUrl, application_name: 'goalkeeper-demo' });
  await db.connect();
  try {
    const { rows } = await db.query(
      `select distinct on (g.id) g.id as goal_id, t.id as task_id, t.status as task_status, a.name as agent_name, a.status as agent_status
         from workspace_goals g
         left join tasks t on t.goal_id = g.id
         left join agents a on a.id = t.agent_id
        where g.workspace_id = $1
        order by g.id, (t.status = 'failed'), t.updated_at desc`,
      [workspaceId],
    );
    return new Map(
      rows.map((r) => [
        r.goal_id,
        { goalId: r.goal_id, taskId: r.task_id, taskStatus: r.task_status, agentName: r.agent_name, agentStatus: r.agent_status },
      ]),
    );
  } finally {
    await db.end();
  }
}
