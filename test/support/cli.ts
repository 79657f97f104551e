/**
 * Runs the built `goalkeeper` command (bin/goalkeeper.js → dist) as a real child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(__dirname, '..', '..', 'bin', 'goalkeeper.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `where`: another copy's bin/goalkeeper.js, and the directory to run it in. A variable set to
 * undefined in `env` is left out of the child's environment. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 90_000, where: { bin?: string; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [where.bin ?? BIN, ...args], { cwd: where.cwd, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`goalkeeper ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c) => (output += c));
  child.stderr?.on('data', (c) => (output += c));
  return Object.assign(child, { output: () => output });
}

/** The test process's environment without goalkeeper settings, so each test states its own. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_FORMAT: 'json' };
  for (const key of Object.keys(env)) {
    if (/^(DATABASE_URL|SUPABASE_|TEMPORAL_(ADDRESS|NAMESPACE|TASK_QUEUE|API_KEY|TLS)|WEBHOOK_SECRET|MAX_|TASK_RETRY|GOAL_TASK|AGENT_ASSIGNABLE)/.test(key)) delete env[key];
  }
  return env;
}
