/**
 * Secrets never reach the logs. In process: the configuration is logged whole, nested, and with its
 * connection string made fit to log, the way the commands log it, and the Temporal SDK's messages go
 * through the same logger. As a real `goalkeeper worker` process with secrets in its environment:
 * every line it prints is JSON (its own, the SDK's, the workflows' and activities'), a heal shows as
 * AUTO-HEALING lines, and none of the secrets appears.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Client } from 'pg';
import { loadConfig } from '../../src/config';
import { freePort } from '../../src/embedded/postgres';
import { createLogger, redactUrl, refreshSecretValues, temporalLogger } from '../../src/log';
import { runCli, spawnCli } from '../support/cli';
import { createTestDatabase, insertAgent, insertGoal, insertTask, insertWorkspace, type TestDatabase } from '../support/db';
import { startDevServer, stopProcess, type DevServer } from '../support/dev-server';

const secrets = {
  password: 'pg-pass-9f3b2c7d',
  webhook: 'whsec-0a1b2c3d4e5f',
  serviceRole: 'eyJhbGciOiJIUzI1NiJ9.service-role-8c7d6e',
  apiKey: 'tmprl-api-key-5e4d3c2b',
};

function capture() {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

test('logs carry no secret, however the configuration is logged', () => {
  const config = loadConfig({
    DATABASE_URL: `postgres://goalkeeper:${secrets.password}@db.example.com:5432/app`,
    SUPABASE_URL: 'https://project.supabase.co',
    SUPABASE_SERVICE_ROLE_KEY: secrets.serviceRole,
    WEBHOOK_SECRET: secrets.webhook,
    TEMPORAL_ADDRESS: 'ns.a1b2c.tmprl.cloud:7233',
    TEMPORAL_API_KEY: secrets.apiKey,
  });
  const out = capture();
  const log = createLogger('debug', out.stream);
  log.info(config.env, 'environment');
  log.info({ config }, 'configuration');
  log.info({ settings: { nested: config } }, 'nested configuration');
  log.info({ temporal: config.temporal }, 'temporal');
  log.info({ database: redactUrl(config.env.DATABASE_URL) }, 'database');
  log.info({ headers: { authorization: `Bearer ${secrets.serviceRole}`, apikey: secrets.serviceRole } }, 'request');
  log.warn(`could not connect to ${config.env.DATABASE_URL}`);
  log.error({ err: new Error(`connect ECONNREFUSED ${config.env.DATABASE_URL}`) }, 'database unreachable');

  const text = out.text();
  expect(text.split('\n').filter(Boolean)).toHaveLength(8);
  for (const secret of Object.values(secrets)) expect(text).not.toContain(secret);
  // Still useful: what is not secret is there.
  expect(text).toContain('db.example.com');
  expect(text).toContain('ns.a1b2c.tmprl.cloud:7233');
  expect(text).toContain('[redacted]');
});

test("the Temporal SDK's messages come out as JSON through the same scrubbing", () => {
  const webhookSecret = `whsec-${randomBytes(12).toString('hex')}`;
  refreshSecretValues({ WEBHOOK_SECRET: webhookSecret });
  try {
    const out = capture();
    const sdk = temporalLogger(createLogger('debug', out.stream));
    sdk.info('Worker state changed', { sdkComponent: 'worker', state: 'RUNNING', taskQueue: 'q' });
    sdk.warn(`Activity failed: connect ECONNREFUSED postgres://gk:${secrets.password}@db:5432/app`, {
      sdkComponent: 'activity',
      error: new Error(`password authentication failed for postgres://gk:${secrets.password}@db/app`),
    });
    sdk.log('ERROR', `webhook refused a token ${webhookSecret}`, { detail: { nested: `Bearer ${webhookSecret}` } });
    sdk.trace('polling'); // below the logger's level: dropped, as pino drops its own
    const lines = out.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.level, l.source, l.msg])).toEqual([
      // The SDK worker's own INFO (its life cycle, webpack's report) is debug: goalkeeper says
      // "worker running" itself, and a terminal's first screen stays short.
      [20, 'temporal', 'Worker state changed'],
      [40, 'temporal', expect.stringContaining('Activity failed')],
      [50, 'temporal', expect.stringContaining('webhook refused a token')],
    ]);
    expect(lines[0]).toMatchObject({ sdkComponent: 'worker', state: 'RUNNING', taskQueue: 'q' });
    expect(out.text()).not.toContain(secrets.password);
    expect(out.text()).not.toContain(webhookSecret);
  } finally {
    refreshSecretValues();
  }
});

describe('a real `goalkeeper worker` process with secrets in its environment', () => {
  const pgPassword = `pg-pass-${randomBytes(12).toString('hex')}`;
  const webhookSecret = `whsec-${randomBytes(16).toString('hex')}`;
  const role = `gk_logs_${randomBytes(4).toString('hex')}`;
  let db: TestDatabase;
  let temporal: DevServer;
  let env: NodeJS.ProcessEnv;
  let metricsPort: number;

  async function admin<T>(run: (c: Client) => Promise<T>): Promise<T> {
    const c = new Client({ connectionString: process.env.GK_TEST_PG_URL });
    await c.connect();
    try {
      return await run(c);
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    // A login of its own, so the password in DATABASE_URL is one that appears nowhere else.
    await admin((c) => c.query(`create role ${role} login password '${pgPassword}' in role goalkeeper_runtime`));
    const url = new URL(db.url);
    url.username = role;
    url.password = pgPassword;
    temporal = await startDevServer();
    metricsPort = await freePort();
    env = {
      DATABASE_URL: url.toString(),
      WEBHOOK_SECRET: webhookSecret,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: `logs-${randomUUID()}`,
      TASK_RETRY_BACKOFF_SECONDS: '1',
      METRICS_PORT: String(metricsPort),
      // The widest surface: the SDK's debug messages (activity and workflow starts, core's) too.
      LOG_LEVEL: 'debug',
    };
  });
  afterAll(async () => {
    await temporal?.stop();
    await db?.drop();
    await admin((c) => c.query(`drop role if exists ${role}`));
  });

  async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  test('heals a goal; every line is JSON, the heal shows as AUTO-HEALING, no secret appears', async () => {
    const worker = spawnCli(['worker'], env);
    let stdout = '';
    let stderr = '';
    worker.stdout?.on('data', (chunk) => (stdout += chunk));
    worker.stderr?.on('data', (chunk) => (stderr += chunk));
    let code: number | null;
    let goal: string;
    try {
      await until('the worker to run', () => stdout.includes('worker running') || worker.exitCode !== null);
      expect(worker.exitCode).toBeNull();

      // The incident: a failed task with no agent, and no agent the executor would run.
      const ws = await insertWorkspace(db.pool);
      await insertAgent(db.pool, ws, { status: 'idle' });
      goal = await insertGoal(db.pool, ws);
      await insertTask(db.pool, ws, goal, { status: 'failed' });
      const heal = await runCli(['heal', goal, '--wait', '--reason', 'log test'], env);
      expect({ code: heal.code, stderr: heal.stderr }).toEqual({ code: 0, stderr: '' });
      await until('the retry to be logged', () => stdout.includes('AUTO-HEALING: task_retried'));

      // One /metrics on METRICS_PORT: goalkeeper's and the SDK runtime's.
      const scrape = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(scrape).toMatch(/^goalkeeper_healing_actions_total\{kind="task_retried"\} 1$/m);
      expect(scrape).toMatch(/^goalkeeper_runtime_metrics_up 1$/m);
      expect(scrape).toMatch(/^temporal_/m);
    } finally {
      code = await stopProcess(worker);
    }
    expect(code).toBe(0);

    const lines = stdout.split('\n').filter((l) => l.trim() !== '');
    const records = lines.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });
    expect(stderr).toBe('');
    // Its own lines, and the SDK's: the worker's, the activities', the workflows' and core's.
    expect(records.some((r) => r.msg === 'worker stopped')).toBe(true);
    const sdk = records.filter((r) => r.source === 'temporal');
    expect([...new Set(sdk.map((r) => r.sdkComponent))]).toEqual(expect.arrayContaining(['worker', 'core']));
    expect(sdk.map((r) => r.msg)).toEqual(expect.arrayContaining(['Workflow started', 'Activity started', 'Activity completed', 'Initializing worker']));
    expect(sdk).toContainEqual(expect.objectContaining({ msg: 'Activity started', activityType: 'ensureTaskAgent', workflowId: `goal-${goal!}` }));
    for (const kind of ['agent_assigned', 'task_retried']) {
      expect(records).toContainEqual(expect.objectContaining({ level: 30, msg: `AUTO-HEALING: ${kind}`, kind, goalId: goal! }));
    }

    const output = stdout + stderr;
    expect(output).not.toContain(pgPassword);
    expect(output).not.toContain(webhookSecret);
  });
});
