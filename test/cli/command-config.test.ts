/**
 * Every command finds the running embedded stack the same way (src/command-config.ts): from the
 * record a live `goalkeeper up` keeps in GOALKEEPER_DATA_DIR, unless the environment names a
 * database or Temporal itself. Real `goalkeeper` processes against a real Postgres; this test
 * process stands in for the live `up` (the record names its pid).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@temporalio/client';
import { resolveCommandConfig } from '../../src/command-config';
import { freePort } from '../../src/embedded/postgres';
import { writeRunningStack } from '../../src/embedded/stack';
import { readClaim } from '../../src/namespace-claim';
import { createStore } from '../../src/store';
import { PgStore } from '../../src/store/pg-store';
import { startAlertReceiver } from '../support/alert-receiver';
import { runCli } from '../support/cli';
import { createTestDatabase, insertGoal, insertWorkspace, type TestDatabase } from '../support/db';
import { startDevServer } from '../support/services-env';

/** The running stack's Web UI: not the default port, so a link to it cannot come from elsewhere. */
const UI_URL = 'http://localhost:18233';

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
  removeRecord = writeRunningStack(dataDir, { pid: process.pid, databaseUrl: db.url, adminDatabaseUrl: db.adminUrl, temporalAddress, uiUrl: UI_URL });
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
  // Alert messages link to its Web UI, unless TEMPORAL_UI_URL names another.
  expect(resolved.config.alerts.temporalUiUrl).toBe(UI_URL);
  const named = resolveCommandConfig({ GOALKEEPER_DATA_DIR: dataDir, TEMPORAL_UI_URL: 'https://temporal.example.com' });
  expect(named.config.alerts.temporalUiUrl).toBe('https://temporal.example.com');
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

test('`goalkeeper alerts test` links its message to the running stack\'s Web UI', async () => {
  const receiver = await startAlertReceiver();
  try {
    receiver.script([200]);
    const r = await runCli(['alerts', 'test'], { GOALKEEPER_DATA_DIR: dataDir, ALERT_WEBHOOK_URL: receiver.url });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0].body.workflow_url).toMatch(new RegExp(`^${UI_URL}/namespaces/default/workflows/goal-`));
  } finally {
    await receiver.close();
  }
});

test('`goalkeeper claim-namespace` claims the running stack\'s namespace for the running stack\'s database', async () => {
  // This record names a real dev server: the claim is written there.
  const temporal = await startDevServer();
  const stackDir = mkdtempSync(join(tmpdir(), 'gk-command-config-'));
  const remove = writeRunningStack(stackDir, { pid: process.pid, databaseUrl: db.url, temporalAddress: temporal.address });
  const store = new PgStore(db.url);
  try {
    const self = await store.instanceIdentity();
    const r = await runCli(['claim-namespace'], { GOALKEEPER_DATA_DIR: stackDir });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout.trim()).toBe(`namespace "default" serves database ${self.instanceId} (claimed now)`);
    const claim = await readClaim(new Client({ connection: temporal.connection, namespace: 'default' }));
    expect(claim?.instanceId).toBe(self.instanceId);
  } finally {
    await store.close();
    remove();
    rmSync(stackDir, { recursive: true, force: true });
    await temporal.teardown();
  }
});

test('from a subdirectory of the project a command finds the stack under the project\'s .goalkeeper, and says where it looked when none runs', async () => {
  // A copy of the built project (hard links, as postgres-start.test.ts makes one), so its default
  // .goalkeeper is this test's own and not the checkout's, where a real `npm start` may run.
  const scratch = realpathSync(mkdtempSync(join(tmpdir(), 'gk-command-config-')));
  try {
    const root = resolve(__dirname, '..', '..');
    const project = join(scratch, 'goalkeeper');
    mkdirSync(join(project, 'src'), { recursive: true });
    await promisify(execFile)('cp', ['-al', ...['package.json', 'bin', 'dist', 'node_modules'].map((f) => join(root, f)), project]);
    const fromSrc = { bin: join(project, 'bin', 'goalkeeper.js'), cwd: join(project, 'src') };
    const defaults = { GOALKEEPER_DATA_DIR: undefined };
    const workspaceId = await insertWorkspace(db.pool);

    const none = await runCli(['health', workspaceId], defaults, 90_000, fromSrc);
    expect(none.code).toBe(2);
    expect(none.stderr.trim().split('\n')).toEqual([
      'goalkeeper: no database configured: set DATABASE_URL (Postgres) or SUPABASE_URL with SUPABASE_SERVICE_ROLE_KEY; ' +
        `no goalkeeper up is running on ${join(project, '.goalkeeper')} (start one with npm start, or set GOALKEEPER_DATA_DIR to its data directory)`,
    ]);

    mkdirSync(join(project, '.goalkeeper'));
    writeRunningStack(join(project, '.goalkeeper'), { pid: process.pid, databaseUrl: db.url, temporalAddress });
    const found = await runCli(['health', workspaceId], defaults, 90_000, fromSrc);
    expect(found.stderr).toBe('');
    expect(found.code).toBe(0);
    expect(found.stdout).toContain(`workspace ${workspaceId}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

test('a running stack that serves no database of its own, or one not looked for, is named in the error', () => {
  const externalDb = mkdtempSync(join(tmpdir(), 'gk-command-config-'));
  try {
    // An `up` given DATABASE_URL: only its dev server is embedded.
    writeRunningStack(externalDb, { pid: process.pid, temporalAddress });
    const resolved = resolveCommandConfig({ GOALKEEPER_DATA_DIR: externalDb });
    expect(resolved.fromRunningStack).toEqual({ database: false, temporal: true });
    expect(() => createStore(resolved.config)).toThrow(
      `no database configured: set DATABASE_URL (Postgres) or SUPABASE_URL with SUPABASE_SERVICE_ROLE_KEY; the goalkeeper up running on ${externalDb} (pid ${process.pid}) uses the database its environment names, not an embedded one`,
    );
  } finally {
    rmSync(externalDb, { recursive: true, force: true });
  }
  const temporalOnly = resolveCommandConfig({ GOALKEEPER_DATA_DIR: dataDir, TEMPORAL_ADDRESS: temporalAddress });
  expect(() => createStore(temporalOnly.config)).toThrow(/; a running goalkeeper up is not looked for while TEMPORAL_ADDRESS is set$/);
});

test('`goalkeeper migrate` on the running stack migrates as its admin: the services\' login could not', async () => {
  const r = await runCli(['migrate'], { GOALKEEPER_DATA_DIR: dataDir });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(/^applied 0 migration\(s\); \d+ already applied/);
});
