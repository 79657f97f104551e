// One real Postgres for the whole jest run (each suite makes its own database in it), and the
// Temporal binaries, found or installed once.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../src/embedded/postgres';
import { prepareTemporalBinaries } from './temporal';

export default async function globalSetup(): Promise<void> {
  await prepareTemporalBinaries();
  if (process.env.GK_TEST_PG_URL) return; // a server given from outside
  const dataDir = mkdtempSync(join(tmpdir(), 'goalkeeper-test-pg-'));
  const pg = await startEmbeddedPostgres({ dataDir });
  process.env.GK_TEST_PG_URL = pg.url;
  (globalThis as { __goalkeeperPg?: typeof pg }).__goalkeeperPg = pg;
}
