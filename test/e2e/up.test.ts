/**
 * `goalkeeper up` (what `npm start` runs) as a real process on the embedded default: a goal
 * inserted by plain SQL heals with no command run. It runs as a terminal's foreground job does, in
 * a process group of its own, and is stopped the way a terminal stops it: Ctrl-C is SIGINT to that
 * whole group, closing the terminal is SIGHUP to it. Either way it drains the worker, then stops
 * every server it started (both run outside that group, so neither signal reaches them first),
 * logs its stop and exits 0; started again on the same data directory it resumes the same
 * database and the same goal workflow run. Also in a real terminal (a pty, util-linux `script`):
 * Ctrl-C typed into it, and the terminal itself going away under it.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Client as PgClient, Pool } from 'pg';
import { waitFor } from '../support/servers';
import { freePort } from '../../src/embedded/postgres';
import type { RunningStackInfo } from '../../src/embedded/stack';
import { goalWorkflowId } from '../../workflows/messages';
import { BIN } from '../support/cli';
import { goalTasks, insertAgent, insertGoal, insertWorkspace } from '../support/db';

const dataDir = mkdtempSync(join(tmpdir(), 'goalkeeper-up-'));
// As root, embedded Postgres runs initdb as a user of its own, which must reach the data directory.
chmodSync(dataDir, 0o755);

type UpProcess = ChildProcess & { output: () => string };
const started: Array<{ up: UpProcess; info?: RunningStackInfo }> = [];

afterAll(() => {
  // Whatever a failed test left running, by the process ids it started.
  for (const { up, info } of started) {
    for (const pid of [up.pid, info?.pid, info?.postgresPid, info?.temporalPid]) if (pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/** util-linux `script`: runs a command in a pty of its own, relaying its stdin and stdout. */
const hasScript = process.platform === 'linux' && /util-linux/.test(spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout ?? '');

/**
 * `goalkeeper up` in a process group of its own (it leads it), as a shell runs a foreground job;
 * with `terminal`, inside a pty (`script`), as the session leader whose foreground group gets what
 * the terminal sends (its logs then are the pretty ones a person sees).
 */
function spawnUp(env: NodeJS.ProcessEnv, { terminal = false } = {}): UpProcess {
  // As test/support/cli.ts does: none of this process's goalkeeper settings, only the test's own.
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(childEnv)) {
    if (/^(DATABASE_URL|SUPABASE_|TEMPORAL_(ADDRESS|NAMESPACE|TASK_QUEUE|API_KEY|TLS)|WEBHOOK_SECRET|MAX_|TASK_RETRY|GOAL_TASK|AGENT_ASSIGNABLE)/.test(key)) delete childEnv[key];
  }
  Object.assign(childEnv, { LOG_FORMAT: terminal ? 'pretty' : 'json' }, env);
  const child = terminal
    ? spawn('script', ['-qfec', `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} up`, '/dev/null'], {
        env: childEnv,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      })
    : spawn(process.execPath, [BIN, 'up'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout?.on('data', (c) => (output += c));
  child.stderr?.on('data', (c) => (output += c));
  return Object.assign(child, { output: () => output });
}

async function startUp({ terminal = false, env = {} as NodeJS.ProcessEnv } = {}): Promise<{ up: UpProcess; info: RunningStackInfo }> {
  const up = spawnUp({ GOALKEEPER_DATA_DIR: dataDir, HTTP_PORT: String(await freePort()), HTTP_HOST: '127.0.0.1', ...env }, { terminal });
  const entry: { up: UpProcess; info?: RunningStackInfo } = { up };
  started.push(entry);
  const state = await waitFor(
    'goalkeeper up to be ready',
    () => (up.exitCode !== null ? 'exited' : up.output().includes('goalkeeper is up') && 'ready'),
    { timeoutMs: 90_000, intervalMs: 200 },
  );
  if (state === 'exited') throw new Error(`goalkeeper up exited ${up.exitCode}:\n${up.output().slice(-5000)}`);
  const info = JSON.parse(readFileSync(join(dataDir, 'up.json'), 'utf8')) as RunningStackInfo;
  entry.info = info;
  // In a terminal, goalkeeper is the command `script` runs; otherwise the process started here.
  if (!terminal) expect(info.pid).toBe(up.pid);
  // The servers' process ids as recorded, Postgres' the same as in its own lock file.
  expect(info.postgresPid).toBe(Number(readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]));
  expect(info.temporalPid).toEqual(expect.any(Number));
  // Neither server is in the group a terminal's Ctrl-C and hangup go to.
  expect(processGroup(info.pid)).toBe(info.pid);
  expect(processGroup(info.postgresPid!)).not.toBe(info.pid);
  expect(processGroup(info.temporalPid!)).not.toBe(info.pid);
  return { up, info };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resolves once none of `pids` is alive; fails after `timeoutMs` naming those that still are. */
async function allExited(pids: Record<string, number | undefined>, timeoutMs = 60_000): Promise<void> {
  await waitFor(`${Object.keys(pids).join(', ')} to exit`, () => Object.values(pids).every((pid) => !pid || !isAlive(pid)), {
    timeoutMs,
    intervalMs: 100,
  }).catch((err: Error) => {
    const left = Object.entries(pids).filter(([, pid]) => pid && isAlive(pid));
    throw new Error(`${err.message}; still running: ${left.map(([name, pid]) => `${name} (${pid})`).join(', ')}`);
  });
}

function processGroup(pid: number): number {
  return Number(execFileSync('ps', ['-o', 'pgid=', '-p', String(pid)], { encoding: 'utf8' }).trim());
}

/** Sends `signal` to the whole process group (a terminal's Ctrl-C: SIGINT; its hangup: SIGHUP),
 * and with `forwarded` the same signal to the process as well, as npm forwards the SIGINT it got
 * to its script (which is node itself where `sh -c` execs it); resolves with how it exited, or
 * fails with its output if it has not exited in `timeoutMs`. */
function signalGroup(
  up: UpProcess,
  signal: NodeJS.Signals,
  { forwarded = false, timeoutMs = 60_000 } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`goalkeeper up did not exit within ${timeoutMs} ms of ${signal} to its process group:\n${up.output().slice(-5000)}`)),
      timeoutMs,
    );
    up.once('exit', (code, sig) => {
      clearTimeout(timer);
      resolve({ code, signal: sig });
    });
    process.kill(-up.pid!, signal);
    if (forwarded) process.kill(up.pid!, signal);
  });
}

function logLines(up: UpProcess): Array<Record<string, unknown>> {
  return up
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Stopped as a terminal stops it: exit 0, its stop logged last, no warning or error on the way
 * (the database and the dev server stayed up while the worker drained), and every server gone. */
async function expectCleanStop(
  { up, info }: { up: UpProcess; info: RunningStackInfo },
  signal: NodeJS.Signals,
  options: { forwarded?: boolean } = {},
): Promise<void> {
  expect(await signalGroup(up, signal, options)).toEqual({ code: 0, signal: null });
  const lines = logLines(up);
  const from = lines.findIndex((l) => l.msg === 'stopping: draining the worker, then stopping embedded servers');
  expect(lines[from]).toMatchObject({ signal });
  expect(lines.slice(from).filter((l) => Number(l.level) >= 40)).toEqual([]);
  expect(lines.at(-1)).toMatchObject({ msg: 'goalkeeper stopped', postgres: 'stopped', temporal: 'stopped' });
  expect(existsSync(join(dataDir, 'up.json'))).toBe(false);
  // The servers' processes have exited (it waited for them), Postgres after a clean shutdown
  // (it removes its lock file then), and nothing listens on their ports.
  expect(isAlive(info.postgresPid!)).toBe(false);
  expect(isAlive(info.temporalPid!)).toBe(false);
  expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
  expect(await portRefuses(info.databaseUrl!)).toBe(true);
  expect(await portRefuses(info.temporalAddress!)).toBe(true);
  expect(await portRefuses(info.uiUrl!)).toBe(true);
}

function portRefuses(hostPort: string): Promise<boolean> {
  const { hostname, port } = new URL(hostPort.includes('://') ? hostPort : `tcp://${hostPort}`);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

async function goalRun(address: string, goalId: string) {
  const connection = await Connection.connect({ address });
  try {
    return await new Client({ connection }).workflow.getHandle(goalWorkflowId(goalId)).describe();
  } finally {
    await connection.close();
  }
}

/** The same database (the goal and its one task are there) and the same workflow run, resumed. */
async function expectResumed(info: RunningStackInfo, goal: string, runId: string): Promise<void> {
  const pool = new Pool({ connectionString: info.adminDatabaseUrl });
  try {
    expect(await goalTasks(pool, goal)).toHaveLength(1);
  } finally {
    await pool.end();
  }
  const run = await goalRun(info.temporalAddress!, goal);
  expect({ status: run.status.name, runId: run.runId }).toEqual({ status: 'RUNNING', runId });
}

/**
 * Every connection the running stack holds to its database is the service login's, which holds
 * goalkeeper_runtime and nothing else, and cannot read a platform table itself; the admin URL up.json
 * records (and the ready block prints) is another login.
 */
async function expectServicesAsServiceLogin(info: RunningStackInfo): Promise<void> {
  expect(new URL(info.databaseUrl!).username).toBe('goalkeeper_service');
  expect(new URL(info.adminDatabaseUrl!).username).toBe('postgres');
  const admin = new PgClient({ connectionString: info.adminDatabaseUrl });
  await admin.connect();
  try {
    const { rows: sessions } = await admin.query(
      `select distinct usename from pg_stat_activity
        where backend_type = 'client backend' and pid <> pg_backend_pid()`,
    );
    expect(sessions.map((r) => r.usename)).toEqual(['goalkeeper_service']);
    const { rows: login } = await admin.query(
      `select r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
              array(select g.rolname::text from pg_auth_members m join pg_roles g on g.oid = m.roleid where m.member = r.oid order by 1) as holds
         from pg_roles r where r.rolname = 'goalkeeper_service'`,
    );
    expect(login).toEqual([{ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false, holds: ['goalkeeper_runtime'] }]);
  } finally {
    await admin.end();
  }
  const service = new PgClient({ connectionString: info.databaseUrl });
  await service.connect();
  try {
    await expect(service.query('select id from tasks limit 1')).rejects.toMatchObject({ code: '42501' });
  } finally {
    await service.end();
  }
}

/** A goal inserted by plain SQL into the running stack heals: its one task, on the one agent. */
async function healGoal(info: RunningStackInfo): Promise<{ goal: string; runId: string }> {
  const pool = new Pool({ connectionString: info.adminDatabaseUrl });
  try {
    const ws = await insertWorkspace(pool);
    const agent = await insertAgent(pool, ws, { status: 'available' });
    const goal = await insertGoal(pool, ws);
    const tasks = await waitFor('the goal healed', async () => {
      const rows = await goalTasks(pool, goal);
      return rows.length === 1 && rows[0].agent_id === agent && rows;
    });
    expect(tasks[0].status).toBe('pending');
    const run = await goalRun(info.temporalAddress!, goal);
    expect(run.status.name).toBe('RUNNING');
    return { goal, runId: run.runId };
  } finally {
    await pool.end();
  }
}

/** The goal the first test healed; a test run alone heals one first. */
let healed: { goal: string; runId: string } | undefined;
async function healedGoal(): Promise<{ goal: string; runId: string }> {
  if (healed) return healed;
  const running = await startUp();
  healed = await healGoal(running.info);
  await expectCleanStop(running, 'SIGINT');
  return healed;
}

test('npm start heals a goal inserted by plain SQL, stops every server on Ctrl-C (SIGINT to its process group), and resumes on the next start', async () => {
  const first = await startUp();
  healed = await healGoal(first.info);
  await expectServicesAsServiceLogin(first.info);

  await expectCleanStop(first, 'SIGINT');

  const second = await startUp();
  await expectResumed(second.info, healed.goal, healed.runId);
  // `npm start`'s Ctrl-C: the terminal's SIGINT and npm's forwarded one together are one stop.
  await expectCleanStop(second, 'SIGINT', { forwarded: true });
});

test('closing the terminal (SIGHUP to its process group) stops every server as Ctrl-C does, and the next start resumes', async () => {
  const { goal, runId } = await healedGoal();
  const running = await startUp();
  await expectResumed(running.info, goal, runId);
  // Someone gives the service login more than it should hold: the next start puts it back.
  const admin = new PgClient({ connectionString: running.info.adminDatabaseUrl });
  await admin.connect();
  await admin.query('alter role goalkeeper_service superuser; grant pg_read_all_data to goalkeeper_service').finally(() => admin.end());
  await expectCleanStop(running, 'SIGHUP');

  // Nothing left holding the data directory: the next start gets the same state.
  const next = await startUp();
  await expectResumed(next.info, goal, runId);
  await expectServicesAsServiceLogin(next.info);
  await expectCleanStop(next, 'SIGTERM');
});

test('in a real terminal: Ctrl-C typed into it stops every server cleanly, and so does the terminal going away', async () => {
  if (!hasScript) throw new Error('this test runs goalkeeper in a pty with util-linux `script` (Debian: bsdutils, an essential package), which is missing');
  const { goal, runId } = await healedGoal();

  // Ctrl-C typed: the terminal's line discipline sends SIGINT to its foreground process group.
  const typed = await startUp({ terminal: true });
  await expectResumed(typed.info, goal, runId);
  const exited = new Promise<number | null>((resolve) => typed.up.once('exit', (code) => resolve(code)));
  typed.up.stdin!.write('\x03');
  await allExited({ goalkeeper: typed.info.pid, postgres: typed.info.postgresPid, temporal: typed.info.temporalPid });
  expect(await exited).toBe(0); // `script -e`: goalkeeper's own exit code
  expect(typed.up.output()).toContain('goalkeeper stopped');
  expect(existsSync(join(dataDir, 'up.json'))).toBe(false);
  expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);

  // The terminal goes away (its window closed: the pty's other end with it). goalkeeper gets
  // SIGHUP, and every write to the terminal fails from then on; it must still stop everything,
  // whichever way it logs (pretty lines through pino's worker thread, JSON lines written directly).
  for (const format of ['pretty', 'json']) {
    const closed = await startUp({ terminal: true, env: { LOG_FORMAT: format } });
    await expectResumed(closed.info, goal, runId);
    process.kill(closed.up.pid!, 'SIGKILL');
    await allExited({ goalkeeper: closed.info.pid, postgres: closed.info.postgresPid, temporal: closed.info.temporalPid });
    expect(existsSync(join(dataDir, 'up.json'))).toBe(false);
    expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false); // a clean Postgres shutdown
  }

  const next = await startUp();
  await expectResumed(next.info, goal, runId);
  await expectCleanStop(next, 'SIGINT');
});

test('in a terminal, the first screen is one line and the ready block, then a line per event; no colour with NO_COLOR', async () => {
  if (!hasScript) throw new Error('this test runs goalkeeper in a pty with util-linux `script` (Debian: bsdutils, an essential package), which is missing');
  // LOG_FORMAT auto, as `npm start` has it: a terminal gets the lines for people.
  const { up, info } = await startUp({ terminal: true, env: { LOG_FORMAT: 'auto', NO_COLOR: '1' } });
  const screen = up.output().split(/\r?\n/).filter((line) => line.trim() !== '');
  const blockAt = screen.findIndex((line) => line.startsWith('goalkeeper is up.'));
  expect(screen.slice(0, blockAt)).toEqual([expect.stringMatching(/INFO: starting \(state in .*\)$/)]);
  const block = screen.slice(blockAt).join('\n');
  // The admin's URL, for people's own SQL; the services connect as the service login.
  expect(block).toContain(`Database         ${info.adminDatabaseUrl}`);
  expect(block).not.toContain('goalkeeper_service');
  expect(block).toContain(`Temporal Web UI  ${info.uiUrl}/namespaces/default/workflows`);
  expect(block).toContain(`Webhook          ${info.webhookUrl}`);
  expect(block).toContain('npm run demo');
  expect(screen.length).toBeLessThanOrEqual(blockAt + 10);

  // A goal inserted now heals, and says so in lines of its own.
  await healGoal(info);
  const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
  up.stdin!.write('\x03');
  expect(await exited).toBe(0);
  const all = up.output();
  expect(all).toMatch(/INFO: AUTO-HEALING: \w+/);
  // Start-up noise stays at debug: webpack's report on the workflow bundle, the SDK worker's state
  // changes, the local-only webhook warning, a catch-up sweep that found nothing.
  for (const noise of ['webpack', 'Worker state changed', 'Nexus', 'WEBHOOK_SECRET is not set', 'nothing missed']) expect(all).not.toContain(noise);
  expect(all).not.toContain('\x1b[');
  // One line per event: no record spread over several lines.
  for (const line of all.split(/\r?\n/).filter((l) => /^\[\d\d:\d\d:\d\d\.\d+\]/.test(l))) expect(line).toMatch(/^\[[\d:.]+\] (INFO|WARN|ERROR|DEBUG): /);
});
