/** `goalkeeper report`: per workspace, goals by health now and how goalkeeper healed since a moment. */
import { InvalidArgumentError, type Command } from 'commander';
import type { Client } from '@temporalio/client';
import { loadCommandConfig } from '../command-config';
import { DEFAULT_REPORT_SINCE, buildHealReport, formatHealReport, parseSince } from '../report';
import { createStore } from '../store';
import { connectClient } from '../temporal/connection';
import { useColour } from '../colour';
import { parseWorkspaceId } from './health';

/** Refused by commander (exit 2) before anything connects. Resolved against the clock when the
 * command runs, so "24h" means the 24 hours before the report. */
export function parseSinceOption(raw: string): string {
  try {
    parseSince(raw);
  } catch (err) {
    throw new InvalidArgumentError(`--${(err as Error).message}`);
  }
  return raw;
}

export function register(program: Command): void {
  program
    .command('report')
    .description('the heal report per workspace: goals by health, heals by kind, alerts opened and resolved, time to heal, task completion times, stuck tasks')
    .option('--workspace <workspaceId>', 'only this workspace (a UUID)', parseWorkspaceId)
    .option('--since <when>', 'the window: a duration back from now (30m, 24h, 7d) or an ISO time (2026-12-01T08:00:00Z)', parseSinceOption, DEFAULT_REPORT_SINCE)
    .option('--json', 'print JSON')
    .action(async (opts: { workspace?: string; since: string; json?: boolean }) => {
      const since = parseSince(opts.since);
      const config = loadCommandConfig();
      // DATABASE_URL or SUPABASE_URL: neither set is a ConfigError naming both.
      const store = createStore(config);
      let client: Client | null = null;
      try {
        // Without Temporal the recorded figures still print; the goals by health are unknown.
        client = await connectClient(config).catch(() => null);
        const result = await buildHealReport(store, client, { since, workspaceId: opts.workspace });
        if (opts.json) {
          if (result.goalsProblem) console.error(`goalkeeper: ${result.goalsProblem}`);
          console.log(JSON.stringify(result.report, null, 2));
        } else {
          console.log(formatHealReport(result, { colour: useColour(process.stdout) }));
        }
      } finally {
        await store.close();
        await client?.connection.close();
      }
    });
}
