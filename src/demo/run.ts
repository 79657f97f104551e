/**
 * `goalkeeper demo`: seeds the 2025-09-04 incident and shows each goal heal live. Uses a running
 * `goalkeeper up` when there is one (its worker heals), else starts the embedded default and its own
 * worker. Resolves once every goal is healed; rejects with the reason if not within the deadline.
 * It runs on the configured policy, its own or the running `up`'s: the incident's tasks failed for
 * want of an agent, which goal workflows retry at once whatever TASK_RETRY_BACKOFF_SECONDS says.
 */
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { startEmbeddedStack, type EmbeddedStack } from '../embedded/stack';
import { resolveCommandConfig } from '../command-config';
import { loadConfig, type Config } from '../config';
import { buildHealReport, formatHealReport } from '../report';
import { useColour } from '../colour';
import { createStore } from '../store';
import { clientConnectionOptions, connectWorker } from '../temporal/connection';
import { alertWebhookOf, createGoalkeeperWorker } from '../temporal/worker';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { goalStatus, healGoal } from '../temporal/goal-client';
import type { GoalStatus } from '../../workflows/messages';
import { readGoalRows, seedIncident, type SeededIncident } from './seed';
import { LiveTable, type DemoRow, type Writable } from './table';

export interface DemoOptions {
  out?: Writable;
  timeoutMs?: number;
  /** Standard ports (7233, 8233) when free; tests turn this off. */
  preferredPorts?: boolean;
  pollMs?: number;
}

export interface DemoResult {
  workspaceId: string;
  goals: Array<{ id: string; healedInMs: number; url?: string }>;
  uiUrl?: string;
}

/**
 * The demo's own worker would log through the SDK's default logger at INFO: webpack's whole report
 * on the workflow bundle and every state change, between the demo's lines. Warnings still show.
 * Once per process, before the first worker (a process that installed a runtime keeps its own).
 */
function quietSdkLogs(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    /* a runtime exists already: its logger stays */
  }
}

const short = (id: string | null | undefined) => (id ? id.slice(0, 8) : '-');

/** The heal report of the demo's workspace since it was seeded (`goalkeeper report` shows the same).
 * Its time to heal is recorded as each goal's episode ends, a moment after the goal reads healthy. */
async function printReport(config: Config, client: Client, workspaceId: string, since: Date, out: Writable): Promise<void> {
  const store = createStore(config);
  try {
    const result = await buildHealReport(store, client, { since, workspaceId });
    out.write(`\nthe heal report (goalkeeper report --workspace ${workspaceId} --since ${since.toISOString()}):\n`);
    out.write(`${formatHealReport(result, { colour: useColour(out) })}\n`);
  } finally {
    await store.close();
  }
}

export async function runDemo(env: NodeJS.ProcessEnv = process.env, options: DemoOptions = {}): Promise<DemoResult> {
  const out = options.out ?? process.stdout;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const say = (line: string) => out.write(`${line}\n`);
  // A running `goalkeeper up` owns the embedded data directory: use its servers and worker, found
  // the way every command finds them.
  const resolved = resolveCommandConfig(env);
  const running = resolved.running;
  let stack: EmbeddedStack | undefined;
  let env2 = env;
  let uiUrl: string | undefined;
  // The incident is seeded and its rows read as an admin: the services' embedded login holds only
  // goalkeeper_runtime and reads no table. A DATABASE_URL of the environment is used as it is.
  let adminUrl: string | undefined;
  const attached = resolved.fromRunningStack.database && resolved.fromRunningStack.temporal;
  if (running?.databaseUrl && running.temporalAddress && attached) {
    say(`using the goalkeeper already running (pid ${running.pid})`);
    env2 = { ...env2, DATABASE_URL: running.databaseUrl, TEMPORAL_ADDRESS: running.temporalAddress };
    adminUrl = running.adminDatabaseUrl;
    uiUrl = running.uiUrl;
  } else {
    stack = await startEmbeddedStack(env2, { onStep: say, preferredPorts: options.preferredPorts });
    env2 = { ...env2, DATABASE_URL: stack.config.env.DATABASE_URL, TEMPORAL_ADDRESS: stack.config.env.TEMPORAL_ADDRESS };
    adminUrl = stack.adminDatabaseUrl;
    uiUrl = stack.uiUrl;
  }
  const config = loadConfig(env2);
  const seedUrl = adminUrl ?? config.env.DATABASE_URL;
  if (!seedUrl) throw new Error('the demo seeds through DATABASE_URL; set it (a Supabase project gives one under Database settings)');

  const cleanups: Array<() => Promise<unknown>> = [];
  // Ctrl-C stops watching at once (the SDK stops the demo's worker on it too) and cleans up,
  // instead of polling on to the deadline and blaming the goals.
  const interrupted = new AbortController();
  const interrupt = () => interrupted.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  cleanups.push(async () => {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  });
  try {
    if (!attached) {
      quietSdkLogs();
      const store = createStore(config);
      const connection = await connectWorker(config);
      const worker = await createGoalkeeperWorker({ connection, namespace: config.temporal.namespace, taskQueue: config.temporal.taskQueue, store, policy: config.policy, alertWebhook: alertWebhookOf(config) });
      const runPromise = worker.run();
      cleanups.push(async () => {
        worker.shutdown();
        await runPromise;
        await connection.close();
        await store.close();
      });
    }
    const client = new Client({ connection: await Connection.connect(clientConnectionOptions(config)), namespace: config.temporal.namespace });
    cleanups.push(() => client.connection.close());

    const seededAt = new Date();
    // Untouched for an hour past the stuck threshold: stuck, under this worker's setting.
    const stuckFor = config.policy.taskStuckAfterSeconds + 3600;
    const incident: SeededIncident = await seedIncident(seedUrl, stuckFor);
    say(`seeded the 2025-09-04 incident: workspace ${incident.workspaceId}, ${incident.goals.length - 1} goals whose tasks failed with no agent`);
    say(`agents: idle, offline, created — none the executor would run (assignable: ${config.policy.assignableStatuses.join(', ')})`);
    say(`and one goal whose task has been in progress, untouched, for ${(stuckFor / 3600).toFixed(0)} h: stuck (TASK_STUCK_AFTER_SECONDS ${config.policy.taskStuckAfterSeconds})`);
    const links = new Map(incident.goals.map((g) => [g.id, uiUrl ? `${uiUrl}/namespaces/${config.temporal.namespace}/workflows/goal-${g.id}` : undefined]));
    for (const [id, url] of links) if (url) say(`  ${short(id)}  ${url}`);
    if (uiUrl) say(`all goals of this workspace: ${uiUrl}/namespaces/${config.temporal.namespace}/workflows?query=${encodeURIComponent(`WorkspaceId="${incident.workspaceId}"`)}`);
    say('');

    const startedAt = Date.now();
    const target = { client, taskQueue: config.temporal.taskQueue, policy: config.policy };
    await Promise.all(incident.goals.map((g) => healGoal(target, g.id, 'demo: incident 2025-09-04', g.description)));

    const healedAt = new Map<string, number>();
    const statuses = new Map<string, GoalStatus>();
    const table = new LiveTable(out);
    const rowsNow = async (): Promise<DemoRow[]> => {
      const db = await readGoalRows(seedUrl, incident.workspaceId);
      await Promise.all(
        incident.goals.map(async (g) => {
          const status = await goalStatus(client, g.id).catch(() => undefined); // not started yet
          if (status) statuses.set(g.id, status);
        }),
      );
      return incident.goals.map((g) => {
        const row = db.get(g.id);
        const status = statuses.get(g.id);
        const runnable = row?.taskStatus !== 'failed' && row?.agentStatus !== null && config.policy.assignableStatuses.includes(row?.agentStatus ?? '');
        if (!healedAt.has(g.id) && status?.health === 'healthy' && runnable) healedAt.set(g.id, Date.now() - startedAt);
        const healed = healedAt.get(g.id);
        return {
          goal: `${short(g.id)} ${g.description}`,
          task: `${short(row?.taskId)} ${row?.taskStatus ?? '-'}`,
          agent: row?.agentName ? `${row.agentName} (${row.agentStatus})` : '-',
          health: status?.health ?? 'starting',
          timeToHeal: healed === undefined ? '' : `${(healed / 1000).toFixed(1)}s`,
        };
      });
    };

    for (;;) {
      if (interrupted.signal.aborted) throw new Error('interrupted: the goals go on healing in their workflows once a worker runs');
      const rows = await rowsNow();
      table.update(rows);
      if (healedAt.size === incident.goals.length) {
        table.finish(rows);
        break;
      }
      if (Date.now() - startedAt > timeoutMs) {
        table.finish(rows);
        const stuck = incident.goals
          .filter((g) => !healedAt.has(g.id))
          .map((g) => {
            const s = statuses.get(g.id);
            const why = s ? `health ${s.health}${s.openAlerts.length ? `, alerts ${s.openAlerts.join(', ')}` : ''}${s.lastCycle ? `, last: ${s.lastCycle.actions.join('; ')}` : ''}` : 'its workflow never reported (is a worker running on this task queue?)';
            return `goal ${g.id}: ${why}`;
          });
        throw new Error(`${stuck.length} of ${incident.goals.length} goals not healed within ${timeoutMs / 1000}s:\n  ${stuck.join('\n  ')}`);
      }
      // Cut short by Ctrl-C (the abort rejects the sleep; the check above then reports it).
      await sleep(options.pollMs ?? 300, undefined, { signal: interrupted.signal }).catch(() => undefined);
    }
    say(`\nall ${incident.goals.length} goals healed in ${(Math.max(...healedAt.values()) / 1000).toFixed(1)}s.`);
    await printReport(config, client, incident.workspaceId, seededAt, out);
    if (uiUrl) say(`their histories: ${uiUrl}/namespaces/${config.temporal.namespace}/workflows  (GoalHealth="healthy", WorkspaceId="${incident.workspaceId}")`);
    // The demo's own servers stop when it exits; their data stays, so the links open again once
    // `npm start` runs on the same data directory (it prefers the same ports).
    if (uiUrl && stack) {
      say(`these links open while goalkeeper runs: \`npm start\` serves them again from the same data (${resolve(config.env.GOALKEEPER_DATA_DIR)}), on the Web UI it prints.`);
    }
    return {
      workspaceId: incident.workspaceId,
      goals: incident.goals.map((g) => ({ id: g.id, healedInMs: healedAt.get(g.id)!, url: links.get(g.id) })),
      uiUrl,
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await stack?.stop();
  }
}
