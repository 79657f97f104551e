/**
 * The Web UI tells a goal's story: a real headless Chromium (Debian's, driven by playwright-core)
 * opens a healed goal's workflow page in the dev server's UI and finds the workflow id, the goal's
 * search attributes and its heal steps by their summaries. Saves test/artifacts/goal-workflow.png.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startEmbeddedTemporal, type EmbeddedTemporalHandle } from '../../src/embedded/temporal';
import { PgStore } from '../../src/store/pg-store';
import { createGoalkeeperWorker } from '../../src/temporal/worker';
import { goalStatus, healGoal } from '../../src/temporal/goal-client';
import { createTestDatabase, insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';
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
  browser = await chromium.launchPersistentContext(join(tmp, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1600, height: 1400 },
  });
});

afterAll(async () => {
  await browser?.close();
  await client?.connection.close();
  worker?.shutdown();
  await running;
  await nativeConnection?.close();
  await store?.close();
  await temporal?.stop();
  await db?.drop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Waits for text on the page, polling with a deadline (the UI loads history asynchronously). */
async function expectText(page: Page, text: string | RegExp, timeoutMs = 30_000): Promise<void> {
  await page.getByText(text).first().waitFor({ state: 'visible', timeout: timeoutMs });
}

test("a healed goal's page shows its workflow, search attributes and heal steps", async () => {
  const ws = await insertWorkspace(db.pool, 'UI workspace');
  await insertAgent(db.pool, ws, { status: 'offline' });
  const agent = await insertAgent(db.pool, ws, { status: 'available' });
  const goal = await insertGoal(db.pool, ws, { metricType: 'deliverables', description: 'Publish the onboarding guide' });
  // A task that failed while an agent worked on it (retried after a backoff: a timer with its
  // summary), and one with no agent (given one by ensureTaskAgent).
  await insertTask(db.pool, ws, goal, { status: 'failed', agentId: agent });
  await insertTask(db.pool, ws, goal, { status: 'pending' });
  await healGoal({ client, taskQueue: 'goalkeeper-ui-test' }, goal, 'ui test');
  const deadline = Date.now() + 60_000;
  while ((await goalStatus(client, goal).catch(() => undefined))?.health !== 'healthy') {
    if (Date.now() > deadline) throw new Error('goal not healed within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }

  const page = await browser.newPage();
  const workflowId = `goal-${goal}`;
  await page.goto(`${temporal.uiUrl}/namespaces/default/workflows/${workflowId}`, { waitUntil: 'domcontentloaded' });
  await expectText(page, workflowId);

  // Heal steps. The two steps every cycle runs are local activities, shown by their names (the UI
  // shows no summary on a local activity's marker); the backoff timer and the retry carry the
  // summaries the workflow gives them.
  await expectText(page, 'ensureGoalTask');
  await expectText(page, 'ensureTaskAgent');
  await expectText(page, /back off 1s before retry 1\/3/);
  await expectText(page, /retry failed task .* \(1\/3\)/);
  // Healed, the goal rests: its one timer is the safety recheck's, labelled so.
  await expectText(page, 'rest until an event, or safety recheck');

  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'goal-workflow.png'), fullPage: true });

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
