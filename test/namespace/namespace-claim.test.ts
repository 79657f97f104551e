/**
 * One Temporal namespace serves one database: two real databases (and a clone of one) against one
 * real Temporal dev server. The first to start claims the namespace; another database, or a copy
 * of the first, is refused with one line naming both (by `start`, `worker`, `reconcile` and `heal`
 * alike, before any goal workflow is signalled or started); a namespace of its own works; `goalkeeper
 * claim-namespace --force` hands a namespace over; two databases claiming at once get one claim.
 */
import { randomUUID } from 'node:crypto';
import { Client as PgClient } from 'pg';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { ensureNamespaceClaim, NamespaceClaimError, readClaim } from '../../src/namespace-claim';
import { PgStore } from '../../src/store/pg-store';
import { goalWorkflowId } from '../../workflows/messages';
import { runCli } from '../support/cli';
import { createTestDatabase, insertGoal, insertWorkspace, type TestDatabase } from '../support/db';
import { startDevServer } from '../support/services-env';

let env: TestWorkflowEnvironment;
let a: TestDatabase;
let b: TestDatabase;
const stores: PgStore[] = [];

beforeAll(async () => {
  env = await startDevServer();
  [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()]);
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await env?.teardown();
  await Promise.all([a?.drop(), b?.drop()]);
});

async function newNamespace(): Promise<string> {
  const namespace = `gk-claim-${randomUUID().slice(0, 8)}`;
  await env.connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  return namespace;
}

function clientFor(namespace: string): Client {
  return new Client({ connection: env.connection, namespace });
}

async function identityOf(url: string) {
  const store = new PgStore(url);
  stores.push(store);
  return store.instanceIdentity();
}

function cli(args: string[], databaseUrl: string, namespace: string) {
  return runCli(args, { DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: namespace, HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', METRICS_PORT: '0', STARTUP_WAIT_SECONDS: '5' });
}

test('each database has its own identity, and it stays the same', async () => {
  const [ia, ib] = [await identityOf(a.url), await identityOf(b.url)];
  expect(ia.instanceId).not.toBe(ib.instanceId);
  expect(ia.databaseOid).not.toBe(ib.databaseOid);
  expect(ia.systemIdentifier).toMatch(/^\d+$/);
  expect(await identityOf(a.url)).toEqual(ia);
});

test('the first database claims the namespace; another is refused with one line naming both and the way out', async () => {
  const namespace = await newNamespace();
  const client = clientFor(namespace);
  const [ia, ib] = [await identityOf(a.url), await identityOf(b.url)];
  expect(await ensureNamespaceClaim(client, namespace, ia, 'q')).toBe('claimed');
  expect(await ensureNamespaceClaim(client, namespace, ia, 'q')).toBe('already_ours');
  const refused = await ensureNamespaceClaim(client, namespace, ib, 'q').catch((err) => err);
  expect(refused).toBeInstanceOf(NamespaceClaimError);
  const line = (refused as Error).message;
  expect(line).not.toContain('\n');
  for (const part of [namespace, ia.instanceId, ib.instanceId, 'TEMPORAL_NAMESPACE', 'goalkeeper claim-namespace --force']) expect(line).toContain(part);
  expect(line).not.toContain('copy');
  // The claim still names the first.
  expect((await readClaim(client))?.instanceId).toBe(ia.instanceId);
});

test('`goalkeeper start` on a namespace that serves another database exits with that one line, having started nothing', async () => {
  const namespace = await newNamespace();
  expect(await ensureNamespaceClaim(clientFor(namespace), namespace, await identityOf(a.url), 'q')).toBe('claimed');
  const goal = await insertGoal(b.pool, await insertWorkspace(b.pool));
  const result = await cli(['start'], b.url, namespace);
  expect(result.code).toBe(1);
  const lines = result.stderr.trim().split('\n');
  expect(lines.filter((l) => l.startsWith('goalkeeper: '))).toEqual([expect.stringContaining(`Temporal namespace "${namespace}" already serves database ${(await identityOf(a.url)).instanceId}`)]);
  await expect(clientFor(namespace).workflow.getHandle(goalWorkflowId(goal)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  // `goalkeeper worker` refuses the same way.
  const worker = await cli(['worker'], b.url, namespace);
  expect(worker.code).toBe(1);
  expect(worker.stderr).toContain(`already serves database ${(await identityOf(a.url)).instanceId}`);
}, 120_000);

test('`goalkeeper reconcile` and `heal` on a namespace that serves another database exit with that one line, having signalled and started nothing', async () => {
  const namespace = await newNamespace();
  const ia = await identityOf(a.url);
  expect(await ensureNamespaceClaim(clientFor(namespace), namespace, ia, 'q')).toBe('claimed');
  // A goal without a task: reconcile would start its workflow, and so would heal.
  const goal = await insertGoal(b.pool, await insertWorkspace(b.pool));
  for (const args of [['reconcile'], ['heal', goal], ['heal', goal, '--wait', '--timeout', '5']]) {
    const result = await cli(args, b.url, namespace);
    expect({ args, code: result.code, stdout: result.stdout, stderr: result.stderr.trim().split('\n') }).toEqual({
      args,
      code: 1,
      stdout: '',
      stderr: [expect.stringMatching(new RegExp(`^goalkeeper: Temporal namespace "${namespace}" already serves database ${ia.instanceId} .*claim-namespace --force\`\\.$`))],
    });
  }
  await expect(clientFor(namespace).workflow.getHandle(goalWorkflowId(goal)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  // The database the namespace serves passes the same check.
  const owner = await cli(['reconcile'], a.url, namespace);
  expect({ code: owner.code, stderr: owner.stderr }).toEqual({ code: 0, stderr: '' });
  expect(owner.stdout).toMatch(/^goals checked: /);
  // On an unclaimed namespace, heal claims it for its database, as start would, then signals.
  const own = await newNamespace();
  const healed = await cli(['heal', goal], b.url, own);
  expect({ code: healed.code, stdout: healed.stdout.trim() }).toEqual({ code: 0, stdout: `heal signalled to goal-${goal}` });
  expect((await readClaim(clientFor(own)))?.instanceId).toBe((await identityOf(b.url)).instanceId);
}, 120_000);

test('a clone of the claiming database (same instance row, another database) is refused and told it is a copy', async () => {
  const namespace = await newNamespace();
  const ia = await identityOf(a.url);
  expect(await ensureNamespaceClaim(clientFor(namespace), namespace, ia, 'q')).toBe('claimed');
  const admin = new PgClient({ connectionString: process.env.GK_TEST_PG_URL });
  await admin.connect();
  const source = new URL(a.url).pathname.slice(1);
  const clone = `${source}_clone`;
  try {
    // `create database … template` needs the source idle: its pool reconnects on next use.
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [source]);
    await admin.query(`create database ${clone} template ${source}`);
    const cloneIdentity = await identityOf(a.url.replace(/\/[^/]*$/, `/${clone}`));
    expect(cloneIdentity.instanceId).toBe(ia.instanceId);
    expect(cloneIdentity.databaseOid).not.toBe(ia.databaseOid);
    const refused = await ensureNamespaceClaim(clientFor(namespace), namespace, cloneIdentity, 'q').catch((err) => err);
    expect(refused).toBeInstanceOf(NamespaceClaimError);
    expect((refused as Error).message).toContain('This database is a copy (clone or restore) of that one.');
    // On a namespace of its own, the clone runs.
    const own = await newNamespace();
    expect(await ensureNamespaceClaim(clientFor(own), own, cloneIdentity, 'q')).toBe('claimed');
  } finally {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await admin.query(`drop database if exists ${clone} with (force)`);
    await admin.end();
  }
});

test('claim-namespace --force hands the namespace over: the new database runs, the old one is refused', async () => {
  const namespace = await newNamespace();
  const [ia, ib] = [await identityOf(a.url), await identityOf(b.url)];
  expect(await ensureNamespaceClaim(clientFor(namespace), namespace, ia, 'q')).toBe('claimed');
  const refused = await cli(['claim-namespace'], b.url, namespace);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain('claim-namespace --force');
  const forced = await cli(['claim-namespace', '--force'], b.url, namespace);
  expect({ code: forced.code, stdout: forced.stdout.trim() }).toEqual({
    code: 0,
    stdout: `namespace "${namespace}" now serves database ${ib.instanceId} (it served database ${ia.instanceId} before)`,
  });
  expect(await ensureNamespaceClaim(clientFor(namespace), namespace, ib, 'q')).toBe('already_ours');
  await expect(ensureNamespaceClaim(clientFor(namespace), namespace, ia, 'q')).rejects.toBeInstanceOf(NamespaceClaimError);
}, 60_000);

test('two databases claiming an unclaimed namespace at once: exactly one claim, the other refused', async () => {
  const namespace = await newNamespace();
  const [ia, ib] = [await identityOf(a.url), await identityOf(b.url)];
  const results = await Promise.allSettled([
    ensureNamespaceClaim(clientFor(namespace), namespace, ia, 'q'),
    ensureNamespaceClaim(clientFor(namespace), namespace, ib, 'q'),
  ]);
  expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<string>).value)).toEqual(['claimed']);
  const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  expect(rejected.reason).toBeInstanceOf(NamespaceClaimError);
  const winner = results[0].status === 'fulfilled' ? ia : ib;
  expect((await readClaim(clientFor(namespace)))?.instanceId).toBe(winner.instanceId);
});
