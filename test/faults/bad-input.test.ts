/**
 * Bad input never writes and never crashes: ids that are not UUIDs or do not exist on the CLI,
 * garbage heal signals, and more than a thousand random and mutated webhook bodies.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { insertGoal, startGoals, countHealed } from '../support/fleet-fixtures';
import { goalWorkflowId, healAndWaitUpdate, healSignal, statusQuery } from '../../workflows/messages';
import { rowCounts, startServices, startStack, waitFor, type ServicesProcess, type Stack } from './support/stack';

const SECRET = 'fault-test-secret';
let stack: Stack;
let services: ServicesProcess;

beforeAll(async () => {
  stack = await startStack({ workspaces: 2 });
  await stack.startWorker();
  services = await startServices(stack, { WEBHOOK_SECRET: SECRET });
});
afterAll(async () => {
  await stack?.stop();
});

const goalWorkflows = async () => (await stack.client.workflow.count(`WorkflowType = "goalWorkflow"`)).count;

test('CLI: ids that are not UUIDs exit non-zero with a clear message and write nothing', async () => {
  const before = await rowCounts(stack.pool);
  for (const bad of ['not-a-uuid', "1'; drop table tasks; --", '', '00000000-0000-0000-0000-00000000000g', ' '.repeat(3)]) {
    for (const cmd of ['heal', 'status']) {
      const r = await stack.cli([cmd, bad]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/goal id must be a UUID|missing required argument/);
    }
  }
  expect(await rowCounts(stack.pool)).toEqual(before);
  expect(await goalWorkflows()).toBe(0);
});

test('CLI: a goal that does not exist: status fails clearly, heal ends its workflow without writing', async () => {
  const before = await rowCounts(stack.pool);
  const missing = randomUUID();
  const status = await stack.cli(['status', missing]);
  expect(status.code).not.toBe(0);
  expect(status.stderr).toContain(`no workflow for goal ${missing} (never started, or past the namespace's retention): \`goalkeeper heal ${missing}\` starts one`);
  const heal = await stack.cli(['heal', missing, '--wait', '--timeout', '60']);
  expect(heal.code).toBe(0);
  expect(heal.stdout).toMatch(/goal_not_found/);
  const d = await stack.client.workflow.getHandle(goalWorkflowId(missing)).describe();
  expect(d.status.name).toBe('COMPLETED');
  const after = await rowCounts(stack.pool);
  expect({ ...after, logs: 0 }).toEqual({ ...before, logs: 0 });
});

test('heal signals with garbage payloads: the workflow stays alive and keeps healing; healAndWait updates with garbage are refused and leave no update event', async () => {
  const goalId = await insertGoal(stack.pool, stack.workspaces.ids[0]);
  await startGoals(stack.target, [goalId]);
  await waitFor('goal healed', async () => (await countHealed(stack.pool, [goalId])) === 1, { timeoutMs: 60_000 });
  const handle = stack.client.workflow.getHandle(goalWorkflowId(goalId));
  const garbage: unknown[] = [
    null,
    42,
    'heal',
    [],
    {},
    { reason: {} },
    { reason: 'x'.repeat(100_000) },
    { requestId: 7 },
    { reason: null, origin: [1] },
    { reason: 'not an operator', origin: 'OPERATOR' },
    { origin: { toString: 1 } },
  ];
  for (const payload of garbage) await handle.signal(healSignal, payload as never);
  const status = await waitFor(
    'the garbage-triggered cycles to finish',
    async () => {
      const s = await handle.query(statusQuery);
      return (s.lastCycle?.number ?? 0) >= 2 ? s : undefined; // finished, not just begun
    },
    { timeoutMs: 60_000 },
  );
  expect((await handle.describe()).status.name).toBe('RUNNING');
  expect(status.health).toBe('healthy');
  expect(status.lastCycle!.actions.join(' ').length).toBeLessThan(10_000); // the long reason was cut
  const { rows } = await stack.pool.query(`select count(*)::int n from tasks where goal_id = $1`, [goalId]);
  expect(rows[0].n).toBe(1);

  // `heal --wait`'s update with garbage: refused by its validator, naming the problem, and no
  // update event written (the cycles the garbage signals asked for may still be writing theirs).
  for (const payload of [42, '', null, {}, { reason: '' }, { reason: '   ' }, { reason: 7 }, { origin: 'operator' }]) {
    await expect(handle.executeUpdate(healAndWaitUpdate, { args: [payload as never] })).rejects.toMatchObject({
      cause: { message: 'a heal needs a reason' },
    });
  }
  const updateEvents = ((await handle.fetchHistory()).events ?? []).filter(
    (e) => e.workflowExecutionUpdateAcceptedEventAttributes || e.workflowExecutionUpdateCompletedEventAttributes || e.workflowExecutionUpdateAdmittedEventAttributes,
  );
  expect(updateEvents).toEqual([]);
  expect((await handle.describe()).status.name).toBe('RUNNING');
});

/** A valid Supabase webhook body, then ways to break it that no server may accept. */
function validBody() {
  return {
    type: 'INSERT',
    table: 'workspace_goals',
    schema: 'public',
    record: { id: randomUUID(), workspace_id: randomUUID(), status: 'active', metric_type: 'deliverables' },
    old_record: null,
  };
}

function rnd(n: number) {
  return Math.floor(Math.random() * n);
}

function randomJson(depth = 0): unknown {
  switch (rnd(depth > 2 ? 5 : 7)) {
    case 0: return null;
    case 1: return Math.random() * 1e9 - 5e8;
    case 2: return randomBytes(rnd(20)).toString('base64');
    case 3: return rnd(2) === 0;
    case 4: return '';
    case 5: return Array.from({ length: rnd(4) }, () => randomJson(depth + 1));
    default: return Object.fromEntries(Array.from({ length: rnd(4) }, () => [randomBytes(3).toString('hex'), randomJson(depth + 1)]));
  }
}

const BAD_IDS = ['', 'not-a-uuid', 42, null, {}, [], `${randomUUID()}x`, "'; drop table tasks; --", '00000000-0000-0000-0000-00000000000z'];
// A task's goal_id may be null (a task of no goal: accepted and ignored), so not among these.
const BAD_GOAL_IDS = BAD_IDS.filter((id) => id !== null);

function mutatedBody(i: number): string {
  const b: Record<string, any> = validBody();
  switch (i % 13) {
    case 0: b.type = [undefined, 'TRUNCATE', 'insert', 7, null, randomJson()][rnd(6)]; break;
    case 1: if (rnd(3) === 0) b.schema = ['auth', 'storage', '', null, 1][rnd(5)]; else b.table = [undefined, 'agents', 'logs', '', 1, randomJson()][rnd(6)]; break;
    case 2: b.record = [undefined, null, 'record', 5, [b.record]][rnd(5)]; break;
    case 3: b.record.id = BAD_IDS[rnd(BAD_IDS.length)]; break;
    case 4: delete b.record.id; break;
    case 5: return JSON.stringify(b).slice(0, 1 + rnd(JSON.stringify(b).length - 2)); // truncated JSON
    case 6: return randomBytes(1 + rnd(200)).toString(['latin1', 'base64', 'hex'][rnd(3)] as BufferEncoding);
    case 7: { const j = randomJson(); return JSON.stringify(j && typeof j === 'object' && !Array.isArray(j) ? { ...j, type: 'bogus' } : j ?? 0); }
    case 8: b.table = 'tasks'; b.record = { id: BAD_IDS[rnd(BAD_IDS.length)], goal_id: randomUUID(), status: 'failed' }; break;
    case 9: b.table = 'tasks'; b.record = { id: randomUUID(), goal_id: BAD_GOAL_IDS[rnd(BAD_GOAL_IDS.length)], status: 'pending' }; break;
    case 10: b.type = 'DELETE'; b.old_record = [null, 'x', 3, { id: BAD_IDS[rnd(BAD_IDS.length)] }][rnd(4)]; break;
    case 11: b.table = 'tasks'; b.record = { id: randomUUID(), status: 'pending' }; break; // goal_id missing
    default: { // a status no row can hold: an object that cannot be printed, a list, a number
      const status = ([{ toString: 1 }, ['failed'], 7, false, {}] as unknown[])[rnd(5)];
      if (rnd(2) === 0) b.record.status = status;
      else { b.table = 'tasks'; b.record = { id: randomUUID(), goal_id: randomUUID(), status, agent_id: null }; }
      break;
    }
  }
  return JSON.stringify(b);
}

test('1,200 random and mutated webhook bodies: all 4xx, no crash, nothing written, no workflow', async () => {
  const before = await rowCounts(stack.pool);
  const workflowsBefore = await goalWorkflows();
  const url = `http://127.0.0.1:${services.httpPort}/webhooks/supabase`;
  const statuses = new Map<number, number>();
  const unexpected: Array<{ status: number; body: string }> = [];
  const send = async (body: string, auth = `Bearer ${SECRET}`, type = 'application/json') => {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': type, authorization: auth }, body });
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    if (r.status < 400 || r.status >= 500) unexpected.push({ status: r.status, body: body.slice(0, 200) });
  };
  for (let batch = 0; batch < 60; batch++) {
    await Promise.all(Array.from({ length: 20 }, (_, k) => send(mutatedBody(batch * 20 + k))));
  }
  // Authentication and framing: no secret, a wrong one, a huge body, a non-JSON content type.
  await send(JSON.stringify(validBody()), '');
  await send(JSON.stringify(validBody()), 'Bearer wrong');
  await send(JSON.stringify(validBody()), SECRET);
  // An oversized body: the server answers 413 and may close the socket before the client has
  // written it all (EPIPE on our side). Either is a refusal.
  try {
    await send(JSON.stringify({ ...validBody(), pad: 'x'.repeat(5_000_000) }));
  } catch (err) {
    expect(String((err as { cause?: unknown }).cause)).toMatch(/EPIPE|ECONNRESET|other side closed/);
  }
  await send('type=INSERT', `Bearer ${SECRET}`, 'application/x-www-form-urlencoded');
  const health = await fetch(`http://127.0.0.1:${services.httpPort}/healthz`);
  console.log(`webhook fuzz: status counts ${JSON.stringify(Object.fromEntries(statuses))}; unexpected ${unexpected.length}`);
  expect(unexpected).toEqual([]);
  expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1000);
  expect(services.exited()).toBe(false);
  expect(health.status).toBeLessThan(500);
  expect(await rowCounts(stack.pool)).toEqual(before);
  expect(await goalWorkflows()).toBe(workflowsBefore);
});

test('an agent status the configuration does not know: a new worker warns about it at start, never silence', async () => {
  await stack.pool.query(
    `insert into agents (workspace_id, name, role, seniority, status) values ($1, 'paused agent', 'writer', 'senior', 'paused')`,
    [stack.workspaces.ids[1]],
  );
  const worker = await stack.startWorker();
  const line = await waitFor(
    'the unknown-status warning in the worker output',
    () => worker.output().split('\n').find((l) => l.includes('"paused"') && l.includes('does not know')),
    { timeoutMs: 60_000 },
  );
  const entry = JSON.parse(line.slice(line.indexOf('{')));
  expect(entry).toMatchObject({ level: 40, status: 'paused', agents: 1 });
  // Unknown means not assignable: the warning says so, and says how to change it.
  expect(entry.msg).toMatch(/NOT assignable.*AGENT_ASSIGNABLE_STATUSES/);
});
