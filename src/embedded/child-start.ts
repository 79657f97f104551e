/**
 * Starting a child server process: what it wrote to stderr, kept for the error message if it dies
 * while starting, and trying a start again when the process exited before it was ready.
 */
import type { ChildProcess } from 'node:child_process';
import { withTimeout } from '../concurrency';

/**
 * A child's stderr, bounded: its beginning, where a Go panic names its cause ("bind: address
 * already in use"), and its end, the latest lines, so a chatty server cannot grow it.
 */
export function keepStderr(child: ChildProcess, keepChars = 2000): () => string {
  let head = '';
  let tail = '';
  let dropped = false;
  child.stderr?.on('data', (chunk: Buffer | string) => {
    const text = String(chunk);
    const room = Math.max(0, keepChars - head.length);
    head += text.slice(0, room);
    const rest = tail + text.slice(room);
    dropped ||= rest.length > keepChars;
    tail = rest.slice(-keepChars);
  });
  return () => (tail === '' ? head : `${head}${dropped ? '\n…\n' : ''}${tail}`).trim();
}

/** A launch that did not get ready: the process exited first, and why. */
export interface ExitedWhileStarting {
  exitedWith: string;
}

/**
 * Runs `launch` until it is ready, at most `attempts` times. The Temporal CLI picks the ports of
 * its internal services itself (bind to port 0, close, bind later), as its callers pick theirs,
 * so now and then two picks meet and the server panics at start-up with the port taken: worth a
 * new attempt (`beforeRetry` may move it to new ports), where a real fault fails every one.
 */
export async function startWithRetries<T extends object>(
  what: string,
  launch: () => Promise<T | ExitedWhileStarting>,
  { attempts = 3, beforeRetry }: { attempts?: number; beforeRetry?: () => Promise<void> | void } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    const outcome = await launch();
    if (!('exitedWith' in outcome)) return outcome;
    if (attempt === attempts) throw new Error(`${what} exited while starting, ${attempt} times; last: ${outcome.exitedWith}`);
    console.warn(`${what} exited while starting (attempt ${attempt} of ${attempts}), starting it again: ${outcome.exitedWith.slice(0, 500)}`);
    await beforeRetry?.();
  }
}

/**
 * Why a child that exited while starting did: its exit code (or signal) and what it wrote to
 * stderr. It waits (bounded) for the child's 'close' first: 'exit' can come before the last of
 * its stderr has been read, and a start that failed on a taken port said only "code 1".
 */
export async function exitReason(child: ChildProcess, stderr: () => string, waitMs = 2000): Promise<string> {
  if (child.stderr && !child.stderr.closed) {
    await withTimeout(new Promise((resolve) => child.once('close', resolve)), waitMs).catch(() => undefined);
  }
  const how = child.signalCode ? `signal ${child.signalCode}` : `exit code ${child.exitCode}`;
  const said = stderr();
  return said ? `${how}: ${said}` : how;
}

/** Exited (or never started: a failed spawn has no pid and emits no 'exit'). */
export function hasExited(child: ChildProcess): boolean {
  return child.pid === undefined || child.exitCode !== null || child.signalCode !== null;
}

/**
 * Sends `signal`, then each escalation's signal `afterMs` from now while the child still runs;
 * resolves once it has exited, also when it had exited already (a stop must never wait for an
 * 'exit' event that fired before it was called, or that a failed spawn never emits).
 */
export function stopChildProcess(
  child: ChildProcess,
  signal: NodeJS.Signals,
  escalations: Array<{ afterMs: number; signal: NodeJS.Signals }>,
): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timers = escalations.map((next) => setTimeout(() => child.kill(next.signal), next.afterMs));
    child.once('exit', () => {
      timers.forEach(clearTimeout);
      resolve();
    });
    child.kill(signal);
  });
}
