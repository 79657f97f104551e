/**
 * keepStderr: a dying server's message keeps where its panic starts and where it ends, bounded.
 * Against a real child process writing to its stderr in several chunks.
 */
import { spawn } from 'node:child_process';
import { exitReason, keepStderr, startWithRetries } from '../../src/embedded/child-start';

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

test('a start that exits early is tried again, up to the attempts allowed, each retry prepared first', async () => {
  const outcomes = [{ exitedWith: 'exit code 2: panic: bind: address already in use' }, { exitedWith: 'exit code 2: again' }, { ready: 3 }];
  const prepared: number[] = [];
  const launched = await startWithRetries('a server', async () => outcomes.shift()!, { beforeRetry: () => void prepared.push(outcomes.length) });
  expect(launched).toEqual({ ready: 3 });
  expect(prepared).toEqual([2, 1]);
});

test('a start that exits early every time fails after the last attempt, naming its last cause', async () => {
  let launches = 0;
  const failing = startWithRetries('a server', async () => ({ exitedWith: `exit code 2: panic number ${(launches += 1)}` }), { attempts: 2 });
  await expect(failing).rejects.toThrow('a server exited while starting, 2 times; last: exit code 2: panic number 2');
  expect(launches).toBe(2);
});

test("a child's exit reason holds what it wrote to stderr, also what is read only after its exit", async () => {
  // The child exits at once; the last words on its stderr arrive 300 ms later (a grandchild holds
  // the pipe), as a dying server's stderr can still be in flight when its 'exit' comes.
  const script = `
    process.stderr.write('Error: can\\'t set frontend port 7233\\n');
    require('child_process').spawn(process.execPath, ['-e', "setTimeout(() => process.stderr.write('address already in use'), 300)"], { stdio: ['ignore', 'ignore', 'inherit'] });
    process.exit(1);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = keepStderr(child);
  const reason = await new Promise<string>((resolve) => child.once('exit', () => resolve(exitReason(child, stderr))));
  expect(reason).toBe("exit code 1: Error: can't set frontend port 7233\naddress already in use");
});
