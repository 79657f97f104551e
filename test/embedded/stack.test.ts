/**
 * What the embedded stack refuses before it starts a Temporal dev server: a second dev server on a
 * data directory whose dev server a running `goalkeeper up` owns (two servers on one SQLite file
 * would both run its shard), and credentials meant for a secured cluster.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedStack, writeRunningStack } from '../../src/embedded/stack';

test('a data directory whose dev server a live `up` owns is refused, naming the address to use instead', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'goalkeeper-stack-'));
  // This test process stands in for the live `up` (the record names a pid that is alive).
  const remove = writeRunningStack(dataDir, { pid: process.pid, temporalAddress: '127.0.0.1:7999', databaseUrl: 'postgres://u@127.0.0.1:1/x' });
  try {
    const env = { GOALKEEPER_DATA_DIR: dataDir, DATABASE_URL: 'postgres://u@127.0.0.1:1/x' };
    await expect(startEmbeddedStack(env)).rejects.toThrow(
      `goalkeeper up (pid ${process.pid}) already runs the embedded Temporal dev server on ${join(dataDir, 'temporal.db')}: set TEMPORAL_ADDRESS=127.0.0.1:7999 to use it, or stop it first`,
    );
  } finally {
    remove();
  }
});

test('credentials for a secured cluster without TEMPORAL_ADDRESS are refused before anything starts, naming them', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'goalkeeper-stack-'));
  const env = { GOALKEEPER_DATA_DIR: dataDir, DATABASE_URL: 'postgres://u@127.0.0.1:1/x', TEMPORAL_API_KEY: 'an-api-key-for-the-cloud' };
  await expect(startEmbeddedStack(env)).rejects.toThrow(
    'TEMPORAL_API_KEY is set but TEMPORAL_ADDRESS is not: set TEMPORAL_ADDRESS to the secured cluster, or unset it to use the embedded dev server',
  );
});

test('`npm start` (goalkeeper up) with a bad LOG_LEVEL or METRICS_PORT stops before anything starts, naming the setting', async () => {
  const { runUp } = await import('../../src/commands/up');
  const dataDir = mkdtempSync(join(tmpdir(), 'goalkeeper-stack-'));
  await expect(runUp({ GOALKEEPER_DATA_DIR: dataDir, LOG_LEVEL: 'loud' })).rejects.toThrow(
    'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
  );
  await expect(runUp({ GOALKEEPER_DATA_DIR: dataDir, METRICS_PORT: '99999' })).rejects.toThrow('METRICS_PORT must be a port between 0 and 65535, got "99999"');
  // Nothing was started: no embedded Postgres data directory, no running-stack record.
  expect(readdirSync(dataDir)).toEqual([]);
});
