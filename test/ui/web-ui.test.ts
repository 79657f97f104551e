/**
 * The Web UI tells a goal's story: a real headless Chromium (Debian's, driven by playwright-core)
 * opens a healed goal's workflow page in the dev server's UI and finds the workflow id, its heal
 * steps by their summaries, its summary (the goal's description) and current details (health,
 * task, agent, the last cycle, what wakes it next), and the goal's search attributes and memo. The
 * goal arrives as the platform writes it: inserted with its tasks in one transaction, its NOTIFYs
 * carried by the real listener and dispatcher. Saves test/artifacts/goal-workflow.png,
 * goal-event-history.png, goal-user-metadata.png and goal-search-attributes.png.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Pool } from 'pg';
import { Dispatcher } from '../../src/dispatch';
import { startEmbeddedTemporal, type EmbeddedTemporalHandle } from '../../src/embedded/temporal';
import { PgStore } from '../../src/store/pg-store';
import { createGoalkeeperWorker } from '../../src/temporal/worker';
import { goalStatus } from '../../src/temporal/goal-client';
import { GoalEventListener } from '../../src/triggers/listener';
import { createTestDatabase, inTransaction, insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';
import { quietRuntime, testPolicy, workflowBundle } from '../support/workflow-env';

const CHROMIUM = '/usr/bin/chromium';
const artifacts = resolve(__dirname, '..', 'artifacts');
const tmp = mkdtempSync(join(tmpdir(), 'goalkeeper-ui-'));

let db: TestDatabase;
let temporal: EmbeddedTemporalHandle;
let store: PgStore;
let nativeConnection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let client: Client;
let listener: GoalEventListener;
let browser: BrowserContext;

beforeAll(async () => {
  quietRuntime();
  db = await createTestDatabase();
  temporal = await startEmbeddedTemporal({
    dbFilename: join(tmp, 'temporal.db'),
    searchAttributes: ['WorkspaceId', 'GoalMetricType', 'GoalHealth'],
  });
  store = new PgStore(db.url);
  nativeConnection = await NativeConnection.connect({ address: temporal.address });
  worker = await createGoalkeeperWorker({
    connection: nativeConnection,
    namespace: 'default',
    taskQueue: 'goalkeeper-ui-test',
    store,
    policy: testPolicy({ retryBackoffSeconds: 1 }),
    options: { workflowBundle: await workflowBundle() },
  });
  running = worker.run();
  client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
  listener = new GoalEventListener({ databaseUrl: db.url, dispatcher: new Dispatcher({ client, taskQueue: 'goalkeeper-ui-test' }), sweep: async () => undefined });
  await listener.start();
  browser = await chromium.launchPersistentContext(join(tmp, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1600, height: 1400 },
  });
});

afterAll(async () => {
  await browser?.close();
  await listener?.stop();
  await client?.connection.close();
  worker?.shutdown();
  await running;
  await nativeConnection?.close();
  await store?.close();
  await temporal?.stop();
  await db?.drop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Waits for text on the page, polling with a deadline (the UI loads history asynchronously).
 * The first visible match: a timer cut short at once has a label the timeline may hide. */
async function expectText(page: Page, text: string | RegExp, timeoutMs = 30_000): Promise<void> {
  await page.getByText(text).filter({ visible: true }).first().waitFor({ state: 'visible', timeout: timeoutMs });
}

/** Waits for text in any of the page's frames: the UI renders a summary's and the current
 * details' Markdown in sandboxed iframes of their own. */
async function expectTextInAnyFrame(page: Page, text: string | RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const frame of page.frames()) {
      if (await frame.getByText(text).first().isVisible().catch(() => false)) return;
    }
    if (Date.now() > deadline) throw new Error(`${String(text)} not shown in any frame within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test("a healed goal's page shows its summary, current details, heal steps, search attributes and memo", async () => {
  const ws = await insertWorkspace(db.pool, 'UI workspace');
  await insertAgent(db.pool, ws, { status: 'offline' });
  const agent = await insertAgent(db.pool, ws, { status: 'available' });
  const description = 'Publish the onboarding guide';
  // The goal and its tasks in one transaction, as the platform writes them: a task that failed
  // while an agent worked on it (retried after a backoff: a timer with its summary), and one with
  // no agent (given one by ensureTaskAgent). Their NOTIFYs arrive together, and whichever call
  // reaches Temporal first starts the workflow, with the description as its summary.
  const { goal, failed } = await inTransaction(db.pool, async (tx) => {
    const q = tx as unknown as Pool;
    const goal = await insertGoal(q, ws, { metricType: 'deliverables', description });
    const failed = await insertTask(q, ws, goal, { status: 'failed', agentId: agent });
    await insertTask(q, ws, goal, { status: 'pending' });
    return { goal, failed };
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const s = await goalStatus(client, goal).catch(() => undefined);
    if (s?.health === 'healthy' && (s.retries[failed]?.total ?? 0) >= 1 && s.nextWake.reason === 'safety recheck') break;
    if (Date.now() > deadline) throw new Error(`goal not healed within 60 s: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const status = await goalStatus(client, goal);
  const workflowId = `goal-${goal}`;
  expect(await (await client.workflow.getHandle(workflowId).describe()).staticSummary()).toBe(`goal: ${description}`);

  const page = await browser.newPage();
  await page.goto(`${temporal.uiUrl}/namespaces/default/workflows/${workflowId}`, { waitUntil: 'domcontentloaded' });
  await expectText(page, workflowId);

  // Heal steps. The steps every cycle runs are local activities, shown on the timeline by their
  // names (their summaries are in the event history, below); the backoff timer and the retry carry
  // the summaries the workflow gives them.
  await expectText(page, 'ensureGoalTask');
  await expectText(page, 'ensureTaskAgent');
  // The task events' heal may cut the first backoff short: the wait then goes on as "…s left of
  // the 1s backoff before retry 1/3", a timer of its own.
  await expectText(page, /(back off 1s|of the 1s backoff) before retry 1\/3/);
  await expectText(page, /retry failed task .* \(1\/3\)/);
  // Healed, the goal rests: its one timer is the safety recheck's, labelled so.
  await expectText(page, 'rest until an event, or safety recheck');

  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'goal-workflow.png'), fullPage: true });

  // The event history shows each local activity's summary in words.
  await page.getByRole('link', { name: /Event History/ }).or(page.getByRole('tab', { name: /Event History/ })).first().click();
  await expectText(page, 'make sure the goal has a task');
  await expectText(page, "read the worker's healing settings");
  await expectText(page, /give task .* an assignable agent/);
  await page.screenshot({ path: join(artifacts, 'goal-event-history.png'), fullPage: true });

  // User metadata: the summary is the goal's description; the current details (asked of the
  // running workflow) say how it is, its task and agent, and what wakes it next.
  await page.getByRole('link', { name: 'User Metadata' }).or(page.getByRole('tab', { name: 'User Metadata' })).first().click();
  await expectTextInAnyFrame(page, `goal: ${description}`);
  await expectTextInAnyFrame(page, /health:\s*healthy/);
  await expectTextInAnyFrame(page, `task: ${status.taskId}; agent: ${status.agentId}`);
  await expectTextInAnyFrame(page, /wakes next on: safety recheck at /);
  await page.screenshot({ path: join(artifacts, 'goal-user-metadata.png'), fullPage: true });

  // Search attributes: how operators list one workspace's goals, or the ones needing intervention.
  await page.getByRole('link', { name: 'Search Attributes' }).or(page.getByRole('tab', { name: 'Search Attributes' })).first().click();
  await expectText(page, 'WorkspaceId');
  await expectText(page, ws);
  await expectText(page, 'GoalHealth');
  await expectText(page, 'healthy');
  await expectText(page, 'GoalMetricType');
  await page.screenshot({ path: join(artifacts, 'goal-search-attributes.png'), fullPage: true });

  // The memo names the goal in words.
  await page.getByRole('link', { name: 'Memo' }).or(page.getByRole('tab', { name: 'Memo' })).first().click();
  await expectText(page, /Publish the onboarding guide/);
  await page.close();
});
