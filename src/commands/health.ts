/** `goalkeeper health <workspaceId>`: the workspace's score, its goals' workflows, what hurts. */
import { InvalidArgumentError, type Command } from 'commander';
import type { Client } from '@temporalio/client';
import { loadCommandConfig } from '../command-config';
import { formatWorkspaceHealth, workspaceHealth } from '../health';
import { createStore } from '../store';
import { connectClient } from '../temporal/connection';
import { useColour } from '../colour';
import { isUuid } from '../../workflows/uuid';

/** Refused by commander (exit 2, like a bad goal id) before anything connects. */
export function parseWorkspaceId(raw: string): string {
  if (!isUuid(raw)) throw new InvalidArgumentError(`workspace id must be a UUID, got ${JSON.stringify(raw)}`);
  return raw;
}

export function register(program: Command): void {
  program
    .command('health')
    .argument('<workspaceId>', 'the workspace (a UUID)', parseWorkspaceId)
    .description("a workspace's health: goals without tasks, tasks without agents, failed and stuck tasks, each goal's workflow, the score")
    .option('--json', 'print JSON')
    .action(async (workspaceId: string, opts: { json?: boolean }) => {
      const config = loadCommandConfig();
      // DATABASE_URL or SUPABASE_URL: neither set is a ConfigError naming both.
      const store = createStore(config);
      let client: Client | null = null;
      try {
        // Without Temporal the database facts still print; the workflow column says unknown.
        client = await connectClient(config).catch(() => null);
        const report = await workspaceHealth(store, client, workspaceId, config.policy);
        console.log(opts.json ? JSON.stringify(report, null, 2) : formatWorkspaceHealth(report, { colour: useColour(process.stdout) }));
        if (!report.workspaceExists) process.exitCode = 1;
      } finally {
        await store.close();
        await client?.connection.close();
      }
    });
}
