/**
 * `start` and `worker` launched before their servers answer: they wait (STARTUP_WAIT_SECONDS),
 * say what they wait for, and run once the servers come; a failure no wait can fix stops them at
 * once. Real processes, a real Postgres (behind a loopback forwarder the test opens when it
 * chooses: a closed port until then) and a real Temporal dev server started late on the port the
 * process was given.
 */
import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server } from 'node:net';
import { freePort } from '../../src/embedded/postgres';
import { runCli, spawnCli } from '../support/cli';
import { createTestDatabase, goalTasks, insertGoal, insertWorkspace, type TestDatabase } from '../support/db';
import { startDevServer, stopProcess, type DevServer } from '../support/dev-server';
import { eventually } from '../support/services-env';

let db: TestDatabase;
const servers: DevServer[] = [];
const forwarders: Server[] = [];
const children: Array<ReturnType<typeof spawnCli>> = [];

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  for (const child of children) await stopProcess(child);
  for (const server of servers) await server.stop();
  for (const f of forwarders) await new Promise((resolve) => f.close(resolve));
  await db?.drop();
});

/** DATABASE_URL with its port swapped for `port`. */
function urlOnPort(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
}

/** From now on, connections to `port` reach the test Postgres. */
async function openForwarder(port: number): Promise<void> {
  const target = new URL(db.url);
  const server = createServer((socket) => {
    const upstream = connect(Number(target.port), target.hostname);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  forwarders.push(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
}

function logLines(output: string): Array<{ msg?: string; [key: string]: unknown }> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

const waitingFor = (output: string, what: string) => logLines(output).filter((l) => l.msg === `${what} is not reachable yet; retrying`);

async function assignedAgentStatus(goalId: string): Promise<string | false> {
  const tasks = await goalTasks(db.pool, goalId);
  return tasks.length === 1 && tasks[0].agent_status ? tasks[0].agent_status : false;
}

test('start launched before Postgres and Temporal waits for both, then heals a goal inserted by SQL', async () => {
  const dbPort = await freePort();
  const temporalPort = await freePort();
  const start = spawnCli(['start', '--no-schedule'], {
    DATABASE_URL: urlOnPort(db.url, dbPort),
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    TEMPORAL_TASK_QUEUE: `startup-${randomUUID()}`,
    HTTP_PORT: '0',
    STARTUP_WAIT_SECONDS: '120',
  });
  children.push(start);

  // Postgres first: nothing else is tried while the database does not answer.
  await eventually(async () => waitingFor(start.output(), 'Postgres (DATABASE_URL)').length >= 2, 'two waits for Postgres');
  expect(waitingFor(start.output(), `Temporal at 127.0.0.1:${temporalPort} (TEMPORAL_ADDRESS)`)).toHaveLength(0);
  await openForwarder(dbPort);

  await eventually(async () => waitingFor(start.output(), `Temporal at 127.0.0.1:${temporalPort} (TEMPORAL_ADDRESS)`).length >= 1, 'a wait for Temporal');
  expect(logLines(start.output()).some((l) => l.msg === 'Postgres (DATABASE_URL) reachable')).toBe(true);
  servers.push(await startDevServer({ port: temporalPort }));

  await eventually(async () => logLines(start.output()).some((l) => l.msg === 'http server listening'), 'start to be up', 60_000);
  const goalId = await insertGoal(db.pool, await insertWorkspace(db.pool));
  expect(['available', 'active']).toContain(await eventually(() => assignedAgentStatus(goalId), 'the goal to be healed', 60_000));

  expect(await stopProcess(start)).toBe(0);
});

test('worker launched before Temporal waits for it, then heals', async () => {
  const temporalPort = await freePort();
  const env = { DATABASE_URL: db.url, TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`, TEMPORAL_TASK_QUEUE: `startup-${randomUUID()}`, STARTUP_WAIT_SECONDS: '120' };
  const worker = spawnCli(['worker'], env);
  children.push(worker);
  const temporal = `Temporal at 127.0.0.1:${temporalPort} (TEMPORAL_ADDRESS)`;
  await eventually(async () => waitingFor(worker.output(), temporal).length >= 1, 'a wait for Temporal');
  servers.push(await startDevServer({ port: temporalPort }));
  await eventually(async () => logLines(worker.output()).some((l) => String(l.msg).startsWith('worker running')), 'the worker to run', 60_000);

  const goalId = await insertGoal(db.pool, await insertWorkspace(db.pool));
  const heal = await runCli(['heal', goalId, '--wait'], env);
  expect({ code: heal.code, stderr: heal.stderr }).toEqual({ code: 0, stderr: '' });
  expect(['available', 'active']).toContain(await assignedAgentStatus(goalId));
  expect(await stopProcess(worker)).toBe(0);
});

test('a database that never answers: the wait ends with the setting named, and no secret printed', async () => {
  const closedPort = await freePort();
  const url = new URL(urlOnPort(db.url, closedPort));
  url.password = 'a-password-that-must-not-be-printed';
  const result = await runCli(['worker'], { DATABASE_URL: url.toString(), TEMPORAL_ADDRESS: '127.0.0.1:1', STARTUP_WAIT_SECONDS: '1' });
  expect(result.code).toBe(1);
  expect(result.stderr).toContain('goalkeeper: Postgres (DATABASE_URL) could not be reached within STARTUP_WAIT_SECONDS (1 s)');
  expect(result.stderr).toContain('ECONNREFUSED');
  expect(waitingFor(result.stdout + result.stderr, 'Postgres (DATABASE_URL)').length).toBeGreaterThanOrEqual(1);
  expect(result.stdout + result.stderr).not.toContain('a-password-that-must-not-be-printed');
});

test('a failure no wait can fix (a database that does not exist) stops the process at once', async () => {
  const url = new URL(db.url);
  url.pathname = '/no_such_database';
  const result = await runCli(['worker'], { DATABASE_URL: url.toString(), TEMPORAL_ADDRESS: '127.0.0.1:1', STARTUP_WAIT_SECONDS: '600' });
  expect(result.code).toBe(1);
  expect(result.stderr).toContain('database "no_such_database" does not exist');
  expect(waitingFor(result.stdout + result.stderr, 'Postgres (DATABASE_URL)')).toHaveLength(0);
});

test('STARTUP_WAIT_SECONDS must be a whole number', async () => {
  const result = await runCli(['worker'], { DATABASE_URL: db.url, STARTUP_WAIT_SECONDS: 'soon' });
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('STARTUP_WAIT_SECONDS must be a whole number ≥ 0, got "soon"');
});
