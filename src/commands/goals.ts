/** `goalkeeper goals`: goal workflows by health and workspace, from Temporal's visibility. */
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig } from '../config';
import { formatGoalList, listGoals } from '../goal-list';
import { connectClient } from '../temporal/connection';
import { GOAL_HEALTHS, type GoalHealth } from '../../workflows/types';
import { parseWorkspaceId } from './health';

/** Refused by commander (exit 2) before anything connects; the value then goes into a query. */
export function parseHealth(raw: string): GoalHealth {
  if (!(GOAL_HEALTHS as readonly string[]).includes(raw)) {
    throw new InvalidArgumentError(`--health must be one of ${GOAL_HEALTHS.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as GoalHealth;
}

export function parseLimit(raw: string): number {
  const value = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < 1 || value > 10_000) {
    throw new InvalidArgumentError(`--limit must be a whole number from 1 to 10000, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function register(program: Command): void {
  program
    .command('goals')
    .description("list goal workflows by health and workspace (running ones; --health closed: the goals whose workflow ended)")
    .option('--health <health>', `only goals with this health (${GOAL_HEALTHS.join(', ')})`, parseHealth)
    .option('--workspace <workspaceId>', 'only goals of this workspace (a UUID)', parseWorkspaceId)
    .option('--limit <n>', 'at most this many goals', parseLimit, 100)
    .option('--json', 'print JSON')
    .action(async (opts: { health?: GoalHealth; workspace?: string; limit: number; json?: boolean }) => {
      const config = loadConfig();
      const client = await connectClient(config);
      try {
        const list = await listGoals(client, { health: opts.health, workspaceId: opts.workspace, limit: opts.limit });
        console.log(opts.json ? JSON.stringify(list, null, 2) : formatGoalList(list));
      } finally {
        await client.connection.close();
      }
    });
}
