/**
 * A real `temporal server start-dev` on free loopback ports, stopped by its process id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../../src/embedded/postgres';
import { exitReason, keepStderr, startWithRetries, type ExitedWhileStarting } from '../../src/embedded/child-start';
import { devServerExecutable } from './temporal';

export interface DevServer {
  address: string;
  uiPort: number | null;
  /** The server process, when this harness spawned it (null when the SDK runs its download). */
  process: ChildProcess | null;
  stop(): Promise<void>;
}

export async function startDevServer(options: { ui?: boolean; dbFile?: string; port?: number } = {}): Promise<DevServer> {
  const executable = devServerExecutable();
  const newDbFile = () => options.dbFile ?? join(mkdtempSync(join(tmpdir(), 'goalkeeper-temporal-')), 'temporal.db');
  if (!executable) {
    // No `temporal` here: the SDK downloads one (a machine with internet access).
    const port = options.port ?? (await freePort());
    const uiPort = options.ui ? await freePort() : null;
    const env = await TestWorkflowEnvironment.createLocal({
      server: { ip: '127.0.0.1', port, ui: uiPort !== null, uiPort: uiPort ?? undefined, dbFilename: newDbFile(), searchAttributes: [] },
    });
    return { address: `127.0.0.1:${port}`, uiPort, process: null, stop: () => env.teardown() };
  }
  // Each attempt on new ports (unless a port is given) and a new file: a failed start may have
  // half made it.
  return startWithRetries('temporal dev server', async () =>
    launch(executable.path, options.port ?? (await freePort()), options.ui ? await freePort() : null, newDbFile()),
  );
}

async function launch(executable: string, port: number, uiPort: number | null, dbFile: string): Promise<DevServer | ExitedWhileStarting> {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--db-filename', dbFile, '--log-level', 'error'];
  args.push(...(uiPort ? ['--ui-port', String(uiPort)] : ['--headless']));
  const child = spawn(executable, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = keepStderr(child);
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) return { exitedWith: await exitReason(child, stderr) };
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stopProcess(child);
        throw new Error(`temporal dev server did not answer on ${address}: ${stderr()}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return { address, uiPort, process: child, stop: async () => void (await stopProcess(child)) };
}

/** SIGTERM by pid, SIGKILL if it has not exited within 10 s. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}
