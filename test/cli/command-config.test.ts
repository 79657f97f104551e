/**
 * Every command finds the running embedded stack the same way (src/command-config.ts): from the
 * record a live `goalkeeper up` keeps in GOALKEEPER_DATA_DIR, unless the environment names a
 * database or Temporal itself. Real `goalkeeper` processes against a real Postgres; this test
 * process stands in for the live `up` (the record names its pid).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveCommandConfig } from '../../src/command-config';
import { freePort } from '../../src/embedded/postgres';
import { writeRunningStack } from '../../src/embedded/stack';
import { runCli } from '../support/cli';
import { createTestDatabase, insertGoal, insertWorkspace, type TestDatabase } from '../support/db';

let db: TestDatabase;
let dataDir: string;
let removeRecord: () => void;
let temporalAddress: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'gk-command-config-'));
  // A Temporal address where nothing listens: `health` reports the database facts without it.
  temporalAddress = `127.0.0.1:${await freePort()}`;
  // As `up` records it: its services' login (goalkeeper_runtime only) and its admin.
  removeRecord = writeRunningStack(dataDir, { pid: process.pid, databaseUrl: db.url, adminDatabaseUrl: db.adminUrl, temporalAddress, uiUrl: 'http://localhost:8233' });
});

afterAll(async () => {
  removeRecord();
  rmSync(dataDir, { recursive: true, force: true });
  await db.drop();
});

test('with nothing set, the running stack supplies the database and Temporal', () => {
  const resolved = resolveCommandConfig({ GOALKEEPER_DATA_DIR: dataDir });
  expect(resolved.fromRunningStack).toEqual({ database: true, temporal: true });
  expect(resolved.config.env.DATABASE_URL).toBe(db.url);
  expect(resolved.config.env.TEMPORAL_ADDRESS).toBe(temporalAddress);
});

test('a database or Temporal named by the environment keeps the stack out entirely', () => {
  for (const env of [{ DATABASE_URL: 'postgres://u@db.example.com/app' }, { TEMPORAL_ADDRESS: 'temporal.example.com:7233' }]) {
    const resolved = resolveCommandConfig({ GOALKEEPER_DATA_DIR: dataDir, ...env });
    expect(resolved.fromRunningStack).toEqual({ database: false, temporal: false });
    expect(resolved.running).toBeUndefined();
  }
});

test('a record left by an `up` that is gone is not used', () => {
  const stale = mkdtempSync(join(tmpdir(), 'gk-command-config-'));
  try {
    // A pid no process has: the record of a crashed `up`.
    writeRunningStack(stale, { pid: 2 ** 22 + 1, databaseUrl: db.url, temporalAddress });
    expect(resolveCommandConfig({ GOALKEEPER_DATA_DIR: stale }).fromRunningStack).toEqual({ database: false, temporal: false });
  } finally {
    rmSync(stale, { recursive: true, force: true });
  }
});

test('`goalkeeper health` finds the running stack as `status` and `goals` do, and prints a plain table when piped', async () => {
  const workspaceId = await insertWorkspace(db.pool);
  await insertGoal(db.pool, workspaceId, { description: 'a goal with no task' });
  const table = await runCli(['health', workspaceId], { GOALKEEPER_DATA_DIR: dataDir });
  expect(table.stderr).toBe('');
  expect(table.code).toBe(0);
  expect(table.stdout).toContain(`workspace ${workspaceId}`);
  expect(table.stdout).toContain('1 goal(s) without tasks');
  expect(table.stdout).not.toContain('\x1b[');
  const json = await runCli(['health', workspaceId, '--json'], { GOALKEEPER_DATA_DIR: dataDir });
  expect(JSON.parse(json.stdout)).toMatchObject({ workspaceId, workspaceExists: true });
  // A workspace that is not there: the report, and exit 1 for scripts.
  const missing = await runCli(['health', '99999999-9999-4999-8999-999999999999'], { GOALKEEPER_DATA_DIR: dataDir });
  expect(missing.stdout).toContain('(not found)');
  expect(missing.code).toBe(1);
});

test('`goalkeeper env` prints the running stack\'s connection string, and says what to do when nothing runs', async () => {
  const found = await runCli(['env'], { GOALKEEPER_DATA_DIR: dataDir });
  expect(found.code).toBe(0);
  expect(found.stdout).toContain(`DATABASE_URL=${db.url}`);
  expect(found.stdout).toContain(`# admin, for migrate and your own SQL (DATABASE_URL reads no table): ${db.adminUrl}`);
  expect(found.stdout).toContain(`TEMPORAL_ADDRESS=${temporalAddress}`);
  const json = JSON.parse((await runCli(['env', '--json'], { GOALKEEPER_DATA_DIR: dataDir })).stdout);
  expect(json).toMatchObject({ source: 'running goalkeeper up', pid: process.pid, DATABASE_URL: db.url, adminDatabaseUrl: db.adminUrl, TEMPORAL_ADDRESS: temporalAddress });

  const empty = mkdtempSync(join(tmpdir(), 'gk-command-config-'));
  try {
    const none = await runCli(['env'], { GOALKEEPER_DATA_DIR: empty });
    expect(none.code).toBe(1);
    expect(none.stderr.trim().split('\n')).toEqual([
      `goalkeeper: no goalkeeper up is running on ${empty} and DATABASE_URL, SUPABASE_URL and TEMPORAL_ADDRESS are unset: start one with npm start (or set GOALKEEPER_DATA_DIR to its data directory)`,
    ]);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('`goalkeeper migrate` on the running stack migrates as its admin: the services\' login could not', async () => {
  const r = await runCli(['migrate'], { GOALKEEPER_DATA_DIR: dataDir });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(/^applied 0 migration\(s\); \d+ already applied/);
});
