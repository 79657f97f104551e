/**
 * `goalkeeper up` (what `npm start` runs) as a real process on the embedded default: a goal
 * inserted by plain SQL heals with no command run; Ctrl-C (SIGINT) stops every server it started
 * and exits 0; started again on the same data directory it resumes the same database and the same
 * goal workflow run.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Pool } from 'pg';
import { waitFor } from '../../bench/lib/servers';
import { freePort } from '../../src/embedded/postgres';
import type { RunningStackInfo } from '../../src/embedded/stack';
import { goalWorkflowId } from '../../workflows/messages';
import { spawnCli } from '../support/cli';
import { goalTasks, insertAgent, insertGoal, insertWorkspace } from '../support/db';

const dataDir = mkdtempSync(join(tmpdir(), 'goalkeeper-up-'));
// As root, embedded Postgres runs initdb as a user of its own, which must reach the data directory.
chmodSync(dataDir, 0o755);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

type UpProcess = ReturnType<typeof spawnCli>;

async function startUp(): Promise<{ up: UpProcess; info: RunningStackInfo }> {
  const up = spawnCli(['up'], { GOALKEEPER_DATA_DIR: dataDir, HTTP_PORT: String(await freePort()), HTTP_HOST: '127.0.0.1' });
  const state = await waitFor(
    'goalkeeper up to be ready',
    () => (up.exitCode !== null ? 'exited' : up.output().includes('Temporal Web UI:') && 'ready'),
    { timeoutMs: 90_000, intervalMs: 200 },
  );
  if (state === 'exited') throw new Error(`goalkeeper up exited ${up.exitCode}:\n${up.output().slice(-5000)}`);
  const info = JSON.parse(readFileSync(join(dataDir, 'up.json'), 'utf8')) as RunningStackInfo;
  expect(info.pid).toBe(up.pid);
  return { up, info };
}

/** SIGINT, as a terminal's Ctrl-C sends it; resolves with the exit code. */
function interrupt(up: UpProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
  up.kill('SIGINT');
  return exited;
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

test('npm start heals a goal inserted by plain SQL, stops every server on Ctrl-C, and resumes on the next start', async () => {
  const first = await startUp();
  let pool = new Pool({ connectionString: first.info.databaseUrl });
  let goal: string;
  let runId: string;
  try {
    const ws = await insertWorkspace(pool);
    const agent = await insertAgent(pool, ws, { status: 'available' });
    goal = await insertGoal(pool, ws);
    const tasks = await waitFor('the goal healed', async () => {
      const rows = await goalTasks(pool, goal);
      return rows.length === 1 && rows[0].agent_id === agent && rows;
    });
    expect(tasks[0].status).toBe('pending');
    const run = await goalRun(first.info.temporalAddress!, goal);
    expect(run.status.name).toBe('RUNNING');
    runId = run.runId;
  } finally {
    await pool.end();
  }

  expect(await interrupt(first.up)).toBe(0);
  expect(first.up.output()).toContain('"msg":"stopped"');
  expect(existsSync(join(dataDir, 'up.json'))).toBe(false);
  // Every server it started is gone: Postgres, the dev server's frontend and its Web UI.
  expect(await portRefuses(first.info.databaseUrl!)).toBe(true);
  expect(await portRefuses(first.info.temporalAddress!)).toBe(true);
  expect(await portRefuses(first.info.uiUrl!)).toBe(true);

  const second = await startUp();
  pool = new Pool({ connectionString: second.info.databaseUrl });
  try {
    // The same database (the goal and its one task are there) and the same workflow run, resumed.
    expect(await goalTasks(pool, goal)).toHaveLength(1);
    const run = await goalRun(second.info.temporalAddress!, goal);
    expect({ status: run.status.name, runId: run.runId }).toEqual({ status: 'RUNNING', runId });
  } finally {
    await pool.end();
    expect(await interrupt(second.up)).toBe(0);
  }
});
