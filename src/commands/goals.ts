/** `goalkeeper goals`: goal workflows by health and workspace, from Temporal's visibility. */
import { InvalidArgumentError, type Command } from 'commander';
import { loadCommandConfig } from '../command-config';
import { DEFAULT_GOAL_LIST_LIMIT, formatGoalList, healthProblem, limitProblem, listGoals } from '../goal-list';
import { connectClient } from '../temporal/connection';
import { useColour } from '../colour';
import { GOAL_HEALTHS, type GoalHealth } from '../../workflows/types';
import { parseWorkspaceId } from './health';

/** Refused by commander (exit 2) before anything connects; the value then goes into a query. */
export function parseHealth(raw: string): GoalHealth {
  const problem = healthProblem(raw);
  if (problem) throw new InvalidArgumentError(`--health ${problem}`);
  return raw as GoalHealth;
}

export function parseLimit(raw: string): number {
  const problem = limitProblem(raw);
  if (problem) throw new InvalidArgumentError(`--limit ${problem}`);
  return Number(raw);
}

export function register(program: Command): void {
  program
    .command('goals')
    .description("list goal workflows by health and workspace (running ones; --health closed: the goals whose workflow ended)")
    .option('--health <health>', `only goals with this health (${GOAL_HEALTHS.join(', ')})`, parseHealth)
    .option('--workspace <workspaceId>', 'only goals of this workspace (a UUID)', parseWorkspaceId)
    .option('--limit <n>', 'at most this many goals', parseLimit, DEFAULT_GOAL_LIST_LIMIT)
    .option('--json', 'print JSON')
    .action(async (opts: { health?: GoalHealth; workspace?: string; limit: number; json?: boolean }) => {
      const config = loadCommandConfig();
      const client = await connectClient(config);
      try {
        const list = await listGoals(client, { health: opts.health, workspaceId: opts.workspace, limit: opts.limit });
        console.log(opts.json ? JSON.stringify(list, null, 2) : formatGoalList(list, { colour: useColour(process.stdout) }));
      } finally {
        await client.connection.close();
      }
    });
}
