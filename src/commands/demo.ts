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
    .option('--json', 'print the outcome as JSON on stdout (progress goes to stderr, one line per change)')
    .action(async (opts: { timeout: number; json?: boolean }) => {
      // With --json, stdout carries only the JSON; the progress lines go to stderr, never redrawn.
      const out = opts.json ? { write: (chunk: string) => process.stderr.write(chunk) } : process.stdout;
      const result = await runDemo(process.env, { timeoutMs: opts.timeout * 1000, out });
      if (opts.json) console.log(JSON.stringify(result, null, 2));
    });
}
