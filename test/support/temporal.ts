/**
 * The Temporal binaries for the tests: the ones global-setup found or installed once for the whole
 * run (src/embedded/temporal-binaries.ts, the same lookup as `npm start`), handed on through
 * GK_TEST_TEMPORAL_CLI / GK_TEST_TEMPORAL_TEST_SERVER.
 */
import { TemporalBinariesUnavailable, ensureTemporalBinaries } from '../../src/embedded/temporal-binaries';

/** Called once per jest run (global-setup); a machine with no way to get them stops here, in one line. */
export async function prepareTemporalBinaries(): Promise<void> {
  if (process.env.GK_TEST_TEMPORAL_CLI && process.env.GK_TEST_TEMPORAL_TEST_SERVER) return;
  try {
    const found = await ensureTemporalBinaries();
    process.env.GK_TEST_TEMPORAL_CLI = found.cli.path;
    process.env.GK_TEST_TEMPORAL_TEST_SERVER = found['test-server'].path;
  } catch (err) {
    if (!(err instanceof TemporalBinariesUnavailable)) throw err;
    // One line with the fix, not a stack trace: nothing has started yet, so nothing to stop.
    process.stderr.write(`\nthe tests need Temporal: ${err.message}\n`);
    process.exit(1);
  }
}

function executable(variable: string) {
  const path = process.env[variable];
  if (!path) throw new Error(`${variable} is not set: the tests' global setup (test/support/global-setup.ts) sets it; run them through jest's config`);
  return { type: 'existing-path' as const, path };
}

export const testServerExecutable = () => executable('GK_TEST_TEMPORAL_TEST_SERVER');
export const devServerExecutable = () => executable('GK_TEST_TEMPORAL_CLI');
