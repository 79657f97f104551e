/**
 * A real Temporal dev server (the `temporal` CLI on a free port) and runServices against it and a
 * real test database: the harness for trigger, webhook and whole-process tests.
 */
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig, type Config } from '../../src/config';
import { createLogger } from '../../src/log';
import { runServices, type ServiceParts, type ServicesInfo } from '../../src/services';
import { GOAL_SEARCH_ATTRIBUTES } from '../../workflows/messages';
import { devServerExecutable } from './temporal';
import { workflowBundle } from './workflow-env';

export async function startDevServer(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: { executable: devServerExecutable(), searchAttributes: GOAL_SEARCH_ATTRIBUTES, ui: false },
  });
}

export function servicesConfig(env: TestWorkflowEnvironment, databaseUrl: string, extra: Record<string, string> = {}): Config {
  return loadConfig({
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_NAMESPACE: env.namespace ?? 'default',
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    HTTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    TASK_RETRY_BACKOFF_SECONDS: '1',
    LOG_LEVEL: process.env.GK_TEST_LOG_LEVEL ?? 'silent',
    ...extra,
  });
}

export interface RunningServices {
  info: ServicesInfo;
  done: Promise<void>;
  stop(): Promise<void>;
}

/** runServices in this process until stop(); resolves once every part runs. */
export async function startServices(config: Config, parts: Partial<ServiceParts> = {}): Promise<RunningServices> {
  const abort = new AbortController();
  const workflowsBundle = await workflowBundle();
  let ready!: (info: ServicesInfo) => void;
  const readyP = new Promise<ServicesInfo>((resolve) => (ready = resolve));
  const done = runServices(
    config,
    { worker: true, listener: true, http: true, schedule: true, ...parts },
    { log: createLogger(config.env.LOG_LEVEL), signal: abort.signal, onReady: ready, workerOptions: { workflowBundle: workflowsBundle } },
  );
  const info = await Promise.race([readyP, done.then(() => Promise.reject(new Error('services stopped before ready')))]);
  return {
    info,
    done,
    async stop() {
      abort.abort();
      await done;
    },
  };
}

/** Polls `check` until it returns a value (not undefined/false), or fails after the deadline. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs = 30_000, pollMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
