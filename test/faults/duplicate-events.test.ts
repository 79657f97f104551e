/**
 * The same goal-created event five times through every path at once (the NOTIFY trigger, the
 * Supabase webhook, the dispatcher's startGoal, `goalkeeper heal` on the CLI): one workflow per
 * goal, one task per goal.
 */
import { insertGoal, countHealed } from '../../bench/lib/fixtures';
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
  const goals: Array<{ id: string; ws: string }> = [];
  for (let i = 0; i < GOALS; i++) {
    const ws = stack.workspaces.ids[i % stack.workspaces.ids.length];
    goals.push({ id: await insertGoal(stack.pool, ws), ws }); // path 1: the insert's own NOTIFY
  }
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
    // path 4: the CLI (one per goal per copy would be 40 node processes; two per goal suffice here)
    for (let copy = 0; copy < 2; copy++) {
      sends.push(stack.cli(['heal', g.id]).then((r) => expect(r.code).toBe(0)));
    }
  }
  await Promise.all(sends);
  const ids = goals.map((g) => g.id);
  await waitFor('every goal healed', async () => (await countHealed(stack.pool, ids)) === GOALS, { timeoutMs: 120_000 });
  // Every path's notification has been handled once the listener has logged as many dispatches
  // as were sent: the dispatcher dedupes or finds the workflow running.
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
