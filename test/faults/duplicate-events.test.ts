/**
 * The same goal-created event five times through every path at once (the NOTIFY trigger, the
 * Supabase webhook, the dispatcher's startGoal, `goalkeeper heal` on the CLI): one workflow per
 * goal, one task per goal.
 */
import { countHealed } from '../support/fleet-fixtures';
import { startGoal } from '../../src/temporal/goal-client';
import { goalWorkflowId } from '../../workflows/messages';
import { startServices, startStack, waitFor, type ServicesProcess, type Stack } from './support/stack';

const GOALS = 8;
const SECRET = 'fault-test-secret';
let stack: Stack;
let services: ServicesProcess;

beforeAll(async () => {
  stack = await startStack({ workspaces: 4 });
  await stack.startWorker();
  services = await startServices(stack, { WEBHOOK_SECRET: SECRET });
});
afterAll(async () => {
  await stack?.stop();
});

function webhook(goalId: string, workspaceId: string) {
  return fetch(`http://127.0.0.1:${services.httpPort}/webhooks/supabase`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` },
    body: JSON.stringify({
      type: 'INSERT',
      table: 'workspace_goals',
      schema: 'public',
      record: { id: goalId, workspace_id: workspaceId, status: 'active', metric_type: 'deliverables' },
      old_record: null,
    }),
  });
}

test('five copies of goal-created through every path: one workflow, one task per goal', async () => {
  // One INSERT of every goal: its commit sends all their notifications at once (path 1), and the
  // other paths fire the moment it returns, so they race the listener's starts, as they would.
  const { rows: inserted } = await stack.pool.query(
    `insert into workspace_goals (workspace_id, metric_type, target_value, description, status)
     select ($1::uuid[])[1 + (i % cardinality($1::uuid[]))], 'deliverables', 10, 'duplicate events ' || i, 'active'
       from generate_series(0, $2::int - 1) i
     returning id, workspace_id`,
    [stack.workspaces.ids, GOALS],
  );
  const goals = inserted.map((r) => ({ id: r.id as string, ws: r.workspace_id as string }));
  const sends: Array<Promise<unknown>> = [];
  for (const g of goals) {
    for (let copy = 0; copy < 5; copy++) {
      // path 1 again: the trigger's notification, re-sent
      sends.push(stack.pool.query(`select pg_notify('goalkeeper_events', json_build_object('goal_id', $1::uuid, 'kind', 'goal_created')::text)`, [g.id]));
      // path 2: the webhook
      sends.push(webhook(g.id, g.ws).then(async (r) => expect([r.status, await r.text()]).toEqual([202, expect.stringContaining('"accepted":true')])));
      // path 3: the dispatcher's call, from another process
      sends.push(startGoal(stack.target, g.id));
    }
  }
  // path 4: the CLI, a node process per call: five copies for two of the goals, one for the rest
  // (five for every goal would be 40 processes on two cores).
  goals.forEach((g, i) => {
    for (let copy = 0; copy < (i < 2 ? 5 : 1); copy++) sends.push(stack.cli(['heal', g.id]).then((r) => expect(r.code).toBe(0)));
  });
  await Promise.all(sends);
  const ids = goals.map((g) => g.id);
  await waitFor('every goal healed', async () => (await countHealed(stack.pool, ids)) === GOALS, { timeoutMs: 120_000 });
  // One execution per goal: it runs, so no later start of any path can add another (USE_EXISTING).
  for (const id of ids) {
    const executions = await waitFor(
      `visibility of goal-${id}`,
      async () => {
        const n = (await stack.client.workflow.count(`WorkflowId = "${goalWorkflowId(id)}"`)).count;
        return n >= 1 ? n : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(executions).toBe(1);
    const d = await stack.client.workflow.getHandle(goalWorkflowId(id)).describe();
    expect(d.status.name).toBe('RUNNING');
  }
  const inv = await stack.invariants(ids);
  const { rows } = await stack.pool.query(`select count(*)::int n from tasks where goal_id = any($1::uuid[])`, [ids]);
  console.log(`duplicate-events: ${sends.length} sends for ${GOALS} goals → ${rows[0].n} tasks; ${JSON.stringify(inv)}`);
  expect(rows[0].n).toBe(GOALS);
  expect(inv).toMatchObject({ healed: GOALS, goalsWithMoreThanOneTask: 0, workspacesOverCap: 0, workspacesProvisionedTwice: 0 });
  expect(services.exited()).toBe(false);
});
