/**
 * keepStderr: a dying server's message keeps where its panic starts and where it ends, bounded.
 * Against a real child process writing to its stderr in several chunks.
 */
import { spawn } from 'node:child_process';
import { keepStderr } from '../../src/embedded/process-output';

function stderrOf(script: string, keepChars: number): Promise<string> {
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  const kept = keepStderr(child, keepChars);
  return new Promise((resolve) => child.once('close', () => resolve(kept())));
}

test('a long stderr keeps its beginning and its end, and marks what it dropped between them', async () => {
  const script = `
    process.stderr.write('panic: listen tcp 127.0.0.1:7235: bind: address already in use\\n');
    for (let i = 0; i < 200; i += 1) process.stderr.write('frame ' + String(i).padStart(3, '0') + ' of the stack\\n');
    process.stderr.write('main.main()\\n');`;
  const kept = await stderrOf(script, 300);
  expect(kept.startsWith('panic: listen tcp 127.0.0.1:7235: bind: address already in use')).toBe(true);
  expect(kept.endsWith('main.main()')).toBe(true);
  expect(kept).toContain('\n…\n');
  expect(kept).not.toContain('frame 100 of the stack');
  expect(kept.length).toBeLessThanOrEqual(300 + 300 + 3);
});

test('a short stderr is kept whole, with no mark', async () => {
  expect(await stderrOf(`process.stderr.write('flag provided but not defined: -nope\\n')`, 300)).toBe('flag provided but not defined: -nope');
});
