/**
 * `goalkeeper demo` (`npm run demo`): the 2025-09-04 incident, healed in front of you.
 */
import type { Command } from 'commander';
import { runDemo } from '../demo/run';
import { parseTimeoutSeconds } from './options';

export function register(program: Command): void {
  program
    .command('demo')
    .description('seed the 2025-09-04 incident (six goals whose tasks failed with no agent) and watch each goal heal')
    .option('--timeout <seconds>', 'give up (exit 1) if not every goal is healed by then', parseTimeoutSeconds, 60)
    .action(async (opts: { timeout: number }) => {
      await runDemo(process.env, { timeoutMs: opts.timeout * 1000 });
    });
}
