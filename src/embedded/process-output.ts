/**
 * What a child server process wrote to stderr, kept for the error message if it dies while
 * starting: its beginning, where a Go panic names its cause ("bind: address already in use"),
 * and its end, the latest lines. Bounded, so a chatty server cannot grow it.
 */
import type { ChildProcess } from 'node:child_process';

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
