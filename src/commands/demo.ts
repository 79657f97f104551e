/**
 * `goalkeeper demo` (`npm run demo`): the 2025-09-04 incident, healed in front of you.
 */
import type { Command } from 'commander';
import { runDemo } from '../demo/run';

export function register(program: Command): void {
  program
    .command('demo')
    .description('seed the 2025-09-04 incident (six goals whose tasks failed with no agent) and watch each goal heal')
    .option('--timeout <seconds>', 'give up (exit 1) if not every goal is healed by then', '60')
    .action(async (opts: { timeout: string }) => {
      await runDemo(process.env, { timeoutMs: Number(opts.timeout) * 1000 });
    });
}
