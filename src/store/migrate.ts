/**
 * Applies supabase/migrations to a database, in file-name order, each file in its own transaction,
 * and records what it applied in goalkeeper_schema_migrations. Running it again changes nothing.
 * A file edited after it was applied is refused: a migration's meaning must not drift silently.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';


export interface MigrationFile {
  version: string;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: string[];
}

export function readMigrations(dir = resolveMigrationsDir()): MigrationFile[] {
  return readdirSync(dir)
    .filter((f) => /^\d+_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const sql = readFileSync(join(dir, file), 'utf8');
      const [version, ...rest] = file.replace(/\.sql$/, '').split('_');
      return { version, name: rest.join('_'), sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

/** Works from both the TypeScript sources (ts-jest) and the compiled dist/. */
function resolveMigrationsDir(): string {
  for (const up of [['..', '..'], ['..', '..', '..']]) {
    const dir = join(__dirname, ...up, 'supabase', 'migrations');
    try {
      readdirSync(dir);
      return dir;
    } catch {
      /* try the next candidate */
    }
  }
  throw new Error(`supabase/migrations not found near ${__dirname}`);
}

// Two `goalkeeper migrate` runs at once take turns on this lock instead of racing.
const MIGRATION_LOCK = 7_120_422_551;

export async function migrate(databaseUrl: string, files = readMigrations()): Promise<MigrationReport> {
  const client = new Client({ connectionString: databaseUrl, application_name: 'goalkeeper-migrate' });
  await client.connect();
  const report: MigrationReport = { applied: [], alreadyApplied: [] };
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`create table if not exists goalkeeper_schema_migrations (
      version text primary key, name text not null, checksum text not null,
      applied_at timestamptz not null default now())`);
    const { rows } = await client.query<{ version: string; checksum: string }>(
      'select version, checksum from goalkeeper_schema_migrations',
    );
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    for (const file of files) {
      const previous = done.get(file.version);
      if (previous !== undefined) {
        if (previous !== file.checksum) {
          throw new Error(
            `migration ${file.version}_${file.name}.sql changed after it was applied; ` +
              'add a new migration instead of editing an applied one',
          );
        }
        report.alreadyApplied.push(file.version);
        continue;
      }
      await client.query('begin');
      try {
        await client.query(file.sql);
        await client.query('insert into goalkeeper_schema_migrations (version, name, checksum) values ($1, $2, $3)', [
          file.version,
          file.name,
          file.checksum,
        ]);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback');
        throw new Error(`migration ${file.version}_${file.name}.sql failed: ${(err as Error).message}`);
      }
      report.applied.push(file.version);
    }
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await client.end();
  }
  return report;
}
