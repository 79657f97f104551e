/**
 * Applies supabase/migrations to a database, in file-name order, and records what it applied in
 * goalkeeper_schema_migrations. Running it again changes nothing. A file edited after it was
 * applied is refused: a migration's meaning must not drift silently.
 *
 * Three rules make it safe on the platform's live database:
 * - Each file runs in its own transaction under a short lock_timeout. DDL that must lock a
 *   platform table (a trigger, a policy) then gives up after LOCK_TIMEOUT_MS instead of queueing
 *   every write to that table behind it while it waits; the file is rolled back and tried again
 *   after a pause, up to LOCK_ATTEMPTS times, and only then fails with a message saying so.
 * - A file whose first line is `-- goalkeeper:no-transaction` runs outside a transaction, one
 *   statement at a time: `create index concurrently` (which builds an index on a platform table
 *   without blocking its writes) refuses to run inside one. Such a file holds only plain
 *   statements, each ending with `;` at the end of a line, and no function bodies. An interrupted
 *   concurrent build leaves an INVALID index that `if not exists` would keep for good, so invalid
 *   goalkeeper_* indexes are dropped (concurrently) before such a file runs.
 * - After every file the runner calls goalkeeper_restrict_access() when it exists (see
 *   20261206000110_grants.sql): ownership, SECURITY DEFINER, search_path and grants then cover
 *   every goalkeeper function and table, including those a later migration adds.
 *
 * A database migrated by goalkeeper 0.1 has the 0.1 files' versions recorded; those files are
 * gone (squashed into the baseline), and the baseline files, written to be idempotent over the 0.1
 * state, bring it to the same state as a fresh database.
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
  /** WARNINGs the migrations raised, each once (e.g. a platform trigger goalkeeper's writes would
   * fire without the rights it needs). */
  warnings: string[];
}

export interface MigrateOptions {
  /** How long one statement may wait for a lock before the file is rolled back and retried. */
  lockTimeoutMs?: number;
  /** How many times a file that hit lock_timeout is tried in all. */
  lockAttempts?: number;
}

const NO_TRANSACTION_MARKER = /^-- goalkeeper:no-transaction\s*$/m;
const LOCK_TIMEOUT_MS = 2_000;
const LOCK_ATTEMPTS = 10;

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

/** Whether a file must run outside a transaction: its first line is the marker. */
export function isNoTransaction(file: Pick<MigrationFile, 'sql'>): boolean {
  const first = file.sql.split('\n', 1)[0];
  return NO_TRANSACTION_MARKER.test(first);
}

/** The statements of a no-transaction file: comments dropped, split at `;` that ends a line. */
export function splitStatements(sql: string): string[] {
  if (sql.includes('$$')) throw new Error('a no-transaction migration cannot hold function bodies ($$)');
  return sql
    .split('\n')
    .filter((line) => !/^\s*--/.test(line))
    .join('\n')
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter(Boolean);
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

const RESTRICT_ACCESS = `do $$ begin
  if to_regprocedure('goalkeeper_restrict_access()') is not null then perform goalkeeper_restrict_access(); end if;
end $$`;

const NEEDS_ADMIN =
  'goalkeeper migrate needs an admin login (one that may create tables, functions and roles); ' +
  'the service itself connects with a login granted goalkeeper_runtime';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function migrate(databaseUrl: string, files = readMigrations(), options: MigrateOptions = {}): Promise<MigrationReport> {
  const lockTimeoutMs = options.lockTimeoutMs ?? LOCK_TIMEOUT_MS;
  const lockAttempts = options.lockAttempts ?? LOCK_ATTEMPTS;
  const client = new Client({ connectionString: databaseUrl, application_name: 'goalkeeper-migrate' });
  await client.connect();
  const report: MigrationReport = { applied: [], alreadyApplied: [], warnings: [] };
  client.on('notice', (notice) => {
    if (notice.severity === 'WARNING' && !report.warnings.includes(notice.message ?? '')) report.warnings.push(notice.message ?? '');
  });
  try {
    // Polled, not waited for: a concurrent index build waits for every transaction in the
    // database to end, including one blocked in pg_advisory_lock behind that build's own
    // session, which Postgres then reports as a deadlock.
    while (!(await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [MIGRATION_LOCK])).rows[0].ok) {
      await sleep(100);
    }
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
      await withLockRetries(`migration ${file.version}_${file.name}.sql`, lockTimeoutMs, lockAttempts, () =>
        isNoTransaction(file) ? applyOutsideTransaction(client, file, lockTimeoutMs) : applyInTransaction(client, file, lockTimeoutMs),
      );
      report.applied.push(file.version);
    }
    // Once more at the end of every run, applied or not: the roles and grants are maintained (a
    // role someone gave LOGIN, a grant someone revoked), and the warnings said again.
    await withLockRetries('goalkeeper_restrict_access()', lockTimeoutMs, lockAttempts, async () => {
      await client.query('begin');
      try {
        await client.query(`set local lock_timeout = ${Number(lockTimeoutMs)}`);
        await client.query(RESTRICT_ACCESS);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback');
        throw err;
      }
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === '42501' && !e.message.includes(NEEDS_ADMIN)) throw new Error(`${NEEDS_ADMIN}: ${e.message}`);
    throw err;
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await client.end();
  }
  return report;
}

/** Runs `work`, trying it again after a pause when it failed on lock_timeout (55P03): the
 * platform held a lock longer than that, its writes went on meanwhile, and waiting in their way
 * is what lock_timeout is there to prevent. Other failures, and the last attempt's, name `what`. */
async function withLockRetries(what: string, lockTimeoutMs: number, lockAttempts: number, work: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await work();
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '55P03' && attempt < lockAttempts) {
        await sleep(Math.min(250 * 2 ** (attempt - 1), 5_000));
        continue;
      }
      const why = code === '55P03'
        ? `could not take a lock within ${lockTimeoutMs} ms in ${attempt} attempts (the platform kept the table busy; run it again later): `
        : code === '42501' ? `${NEEDS_ADMIN}: ` : '';
      throw Object.assign(new Error(`${what} failed: ${why}${(err as Error).message}`), { code });
    }
  }
}

async function record(client: Client, file: MigrationFile): Promise<void> {
  await client.query('insert into goalkeeper_schema_migrations (version, name, checksum) values ($1, $2, $3)', [
    file.version,
    file.name,
    file.checksum,
  ]);
}

async function applyInTransaction(client: Client, file: MigrationFile, lockTimeoutMs: number): Promise<void> {
  await client.query('begin');
  try {
    await client.query(`set local lock_timeout = ${Number(lockTimeoutMs)}`);
    await client.query(file.sql);
    await client.query(RESTRICT_ACCESS);
    await record(client, file);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback');
    throw err;
  }
}

async function applyOutsideTransaction(client: Client, file: MigrationFile, lockTimeoutMs: number): Promise<void> {
  // No lock_timeout here: a concurrent build takes SHARE UPDATE EXCLUSIVE, which no write waits
  // behind, and then waits for the transactions already running to end; a timeout would only turn
  // a long platform transaction into an invalid index and another try.
  const { rows } = await client.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name
       from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
      where not i.indisvalid and n.nspname = current_schema() and c.relname like 'goalkeeper\\_%'`,
  );
  for (const { name } of rows) await client.query(`drop index concurrently if exists ${name}`);
  // Every statement is written to be repeatable (if not exists), so a file interrupted half-way
  // is simply run again from the top.
  for (const statement of splitStatements(file.sql)) await client.query(statement);
  await applyInTransaction(client, { ...file, sql: 'select 1' }, lockTimeoutMs);
}
