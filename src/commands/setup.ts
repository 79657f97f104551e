/** `goalkeeper setup`: what needs operator rights on a namespace, done once and safe to repeat. */
import type { Command } from 'commander';
import type { Client, Connection } from '@temporalio/client';
import type { Config } from '../config';
import { loadCommandConfig } from '../command-config';
import { connectClient } from '../temporal/connection';
import { ensureFleetCheckSchedule, FLEET_CHECK_SCHEDULE_ID } from '../temporal/schedule';
import { ensureSearchAttributes } from '../temporal/search-attributes';

/** One step's outcome: what to print, and whether it failed. */
interface StepResult {
  name: string;
  ok: boolean;
  message: string;
}

async function step(name: string, work: () => Promise<string>): Promise<StepResult> {
  try {
    return { name, ok: true, message: await work() };
  } catch (err) {
    return { name, ok: false, message: `${name}: FAILED: ${(err as Error).message}` };
  }
}

function searchAttributesStep(client: Client, namespace: string): Promise<StepResult> {
  return step(`search attributes on ${namespace}`, async () => {
    const registered = await ensureSearchAttributes(client.connection as Connection, namespace);
    return registered.length
      ? `registered search attributes on ${namespace}: ${registered.join(', ')}`
      : `search attributes already registered on ${namespace}`;
  });
}

function scheduleStep(client: Client, config: Config): Promise<StepResult> {
  return step(`schedule ${FLEET_CHECK_SCHEDULE_ID}`, async () => {
    const intervalSeconds = config.policy.healthCheckIntervalSeconds;
    const outcome = await ensureFleetCheckSchedule(client, { taskQueue: config.temporal.taskQueue, intervalSeconds });
    return `schedule ${FLEET_CHECK_SCHEDULE_ID} ${outcome}: a fleet check every ${intervalSeconds}s, overlap SKIP, task queue ${config.temporal.taskQueue}`;
  });
}

export class SetupIncompleteError extends Error {
  constructor(readonly failedSteps: string[]) {
    super(`setup incomplete: ${failedSteps.join(' and ')} failed (reported above)`);
    this.name = 'SetupIncompleteError';
  }
}

export function register(program: Command): void {
  program
    .command('setup')
    .description('register the search attributes and create or update the fleet check schedule (idempotent)')
    .action(async () => {
      const config = loadCommandConfig();
      const client = await connectClient(config);
      try {
        // Both steps run whatever the other does: a cluster that manages attributes elsewhere
        // (Temporal Cloud refuses the operator call) still needs its schedule, and vice versa.
        const results = [await searchAttributesStep(client, config.temporal.namespace), await scheduleStep(client, config)];
        for (const r of results) (r.ok ? console.log : console.error)(r.message);
        const failed = results.filter((r) => !r.ok).map((r) => r.name);
        // Thrown, not process.exitCode: main() turns it into exit 1 and in-process callers see it.
        if (failed.length) throw new SetupIncompleteError(failed);
      } finally {
        await client.connection.close();
      }
    });
}
