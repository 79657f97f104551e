/**
 * The heal report end to end: goal workflows healed on a real Temporal dev server by runServices'
 * worker over a real Postgres, then `goalkeeper report` (the built CLI, as a child process) and
 * GET /report (real HTTP) read goals by health from visibility and the heals recorded meanwhile.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Config } from '../../src/config';
import { healGoal } from '../../src/temporal/goal-client';
import { runCli } from '../support/cli';
import { createTestDatabase, insertAgent, insertGoal, insertWorkspace, type TestDatabase } from '../support/db';
import { eventually, servicesConfig, startDevServer, startServices, type RunningServices } from '../support/services-env';

const OPERATOR = 'test-operator-token-report-0123';
const WORKSPACE_KEYS = ['workspaceId', 'goals', 'heals', 'alerts', 'timeToHealMs', 'taskCompletionMs', 'stuckTasks'];

let db: TestDatabase;
let env: TestWorkflowEnvironment;
let config: Config;
let services: RunningServices;
let base: string;
/** A workspace whose goal was healed (a task created): healthy. */
let healthyWs: string;
/** A workspace with no assignable agent and its provisioning cap spent: its goal is degraded. */
let degradedWs: string;

interface Report {
  since: string;
  workspaces: Array<Record<string, unknown> & { workspaceId: string; goals: Record<string, number> }>;
}

const auth = { headers: { authorization: `Bearer ${OPERATOR}` } };
const getReport = (query: string, init: RequestInit = auth) => fetch(`${base}/report${query ? `?${query}` : ''}`, init);

beforeAll(async () => {
  db = await createTestDatabase();
  env = await startDevServer();
  config = servicesConfig(env, db.url, { OPERATOR_TOKEN: OPERATOR, MAX_AUTO_PROVISIONED_AGENTS: '1' });
  services = await startServices(config, { listener: false, schedule: false });
  base = `http://127.0.0.1:${services.info.httpPort}`;

  healthyWs = await insertWorkspace(db.pool, 'report healthy');
  await insertAgent(db.pool, healthyWs);
  const healthyGoal = await insertGoal(db.pool, healthyWs);
  degradedWs = await insertWorkspace(db.pool, 'report degraded');
  // The workspace's one provisioned agent is offline: the cap (1) is spent and nobody is assignable.
  const spent = await insertAgent(db.pool, degradedWs, { status: 'offline' });
  await db.pool.query('insert into goalkeeper_provisioned_agents (agent_id, workspace_id) values ($1, $2)', [spent, degradedWs]);
  const degradedGoal = await insertGoal(db.pool, degradedWs);
  const target = { client: env.client, taskQueue: config.temporal.taskQueue };
  await healGoal(target, healthyGoal, 'report test');
  await healGoal(target, degradedGoal, 'report test');
  // Both goals in visibility with the health their first cycle published.
  await eventually(async () => {
    const body = (await (await getReport('')).json()) as Report;
    const goalsOf = (ws: string) => body.workspaces.find((w) => w.workspaceId === ws)?.goals;
    return goalsOf(healthyWs)?.healthy === 1 && goalsOf(degradedWs)?.degraded === 1;
  }, 'both goals by health in visibility');
});
afterAll(async () => {
  await services?.stop();
  await env?.teardown();
  await db?.drop();
});

test('GET /report: refused without the operator token, the report with it, in the documented shape', async () => {
  expect((await getReport('', {})).status).toBe(401);
  expect((await getReport('', { headers: { authorization: 'Bearer not-the-token' } })).status).toBe(401);

  const res = await getReport(`workspace=${healthyWs}&since=1h`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as Report;
  expect(Object.keys(body)).toEqual(['since', 'workspaces']);
  const since = Date.parse(body.since);
  expect(Date.now() - since).toBeGreaterThanOrEqual(3_600_000);
  expect(Date.now() - since).toBeLessThan(3_600_000 + 60_000);
  expect(body.workspaces).toHaveLength(1);
  expect(Object.keys(body.workspaces[0])).toEqual(WORKSPACE_KEYS);
  // Alerts and heal episodes are recorded by the goal workflow's own steps: their exact figures are
  // test/sql/heal-report.test.ts's; here their shape.
  const [w] = body.workspaces;
  expect(w).toMatchObject({
    workspaceId: healthyWs,
    goals: { healthy: 1, healing: 0, degraded: 0, needs_intervention: 0 },
    heals: { task_created: 1 },
    alerts: { opened: expect.any(Object), resolved: expect.any(Object) },
    taskCompletionMs: {},
    stuckTasks: 0,
  });
  expect(Object.keys(w.timeToHealMs as object)).toEqual(['count', 'p50', 'p95', 'max']);

  const degraded = (await (await getReport(`workspace=${degradedWs}`)).json()) as Report;
  expect(degraded.workspaces).toEqual([
    expect.objectContaining({ workspaceId: degradedWs, goals: { healthy: 0, healing: 0, degraded: 1, needs_intervention: 0 }, heals: {} }),
  ]);
});

test('GET /report names each bad parameter', async () => {
  const refused: Array<[string, string]> = [
    ['since=yesterday', 'since must be a duration back from now (30m, 24h, 7d) or an ISO time (2026-12-01 or 2026-12-01T08:00:00Z), got "yesterday"'],
    ['since=0h', 'since must be at least one hour back, got "0h"'],
    ['since=2999-01-01T00:00:00Z', 'since must not be in the future, got "2999-01-01T00:00:00Z"'],
    ['workspace=nope', 'workspace must be a UUID, got "nope"'],
    ['sinse=1h', 'unknown parameter "sinse": use workspace or since'],
    ['since=1h&since=2h', 'since is given more than once'],
  ];
  for (const [query, message] of refused) {
    const res = await getReport(query);
    expect({ query, status: res.status, message: ((await res.json()) as { message: string }).message }).toEqual({ query, status: 400, message });
  }
});

describe('goalkeeper report', () => {
  const cliEnv = () => ({ DATABASE_URL: db.url, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', NO_COLOR: '1' });

  test('--json: every workspace with a goal or a heal, in the documented shape', async () => {
    const { code, stdout, stderr } = await runCli(['report', '--json', '--since', '7d'], cliEnv());
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const report = JSON.parse(stdout) as Report;
    expect(Object.keys(report)).toEqual(['since', 'workspaces']);
    expect(Date.now() - Date.parse(report.since)).toBeGreaterThanOrEqual(7 * 86_400_000);
    const ids = report.workspaces.map((w) => w.workspaceId);
    expect(ids).toEqual(expect.arrayContaining([healthyWs, degradedWs]));
    for (const w of report.workspaces) expect(Object.keys(w)).toEqual(WORKSPACE_KEYS);
    expect(report.workspaces.find((w) => w.workspaceId === healthyWs)).toMatchObject({ goals: { healthy: 1 }, heals: { task_created: 1 } });
  });

  test('--workspace: that workspace only; without --json, a table with no escape codes under NO_COLOR', async () => {
    const json = await runCli(['report', '--json', '--workspace', degradedWs], cliEnv());
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as Report).workspaces.map((w) => w.workspaceId)).toEqual([degradedWs]);

    const text = await runCli(['report', '--workspace', healthyWs], cliEnv());
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^heal report since \d{4}-\d{2}-\d{2}T/);
    expect(text.stdout).toContain(healthyWs);
    expect(text.stdout).toContain('task_created 1');
    expect(text.stdout).not.toContain(degradedWs);
    expect(text.stdout).not.toContain('\x1b[');
  });

  test('a bad --since or --workspace exits 2 naming it, before connecting to anything', async () => {
    const since = await runCli(['report', '--since', '24 hours'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(since.code).toBe(2);
    expect(since.stderr).toContain('--since must be a duration back from now (30m, 24h, 7d) or an ISO time');
    expect(since.stderr).toContain('got "24 hours"');
    const ws = await runCli(['report', '--workspace', 'x'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(ws.code).toBe(2);
    expect(ws.stderr).toContain('workspace id must be a UUID, got "x"');
  });
});
