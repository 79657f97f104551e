/**
 * Replays every committed history (test/histories, recorded from real runs of the current code by
 * `npm run record-histories`) against the current workflow code: a change that breaks determinism
 * for workflows already running fails here. Until a release is tagged, an intended change
 * re-records the histories instead of adding patched() (docs/development.md).
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { workflowBundle, quietRuntime } from '../support/workflow-env';

const dir = join(__dirname, '..', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const history = (file: string) => historyFromJSON(JSON.parse(readFileSync(join(dir, file), 'utf8')));

beforeAll(() => quietRuntime());

test('there are recorded histories to replay', () => {
  expect(files.length).toBeGreaterThanOrEqual(10);
});

test.each(files)('%s replays deterministically', async (file) => {
  const h = history(file);
  expect(h.events?.length).toBeGreaterThan(5);
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, h, file.replace(/\.json$/, ''));
});

test('a workflow change that alters its commands fails the replay (the suite would catch it)', async () => {
  // A copy of workflows/ inside the repository (so @temporalio/workflow resolves), changed the way
  // an innocent edit would: a timer before the first heal.
  const copy = mkdtempSync(join(__dirname, '..', '..', '.replay-changed-'));
  try {
    cpSync(join(__dirname, '..', '..', 'workflows'), copy, { recursive: true });
    const goal = join(copy, 'goal.ts');
    const source = readFileSync(goal, 'utf8');
    const anchor = "let wokenBy: string[] = input.state === undefined ? ['start'] : await rest();";
    expect(source).toContain(anchor);
    writeFileSync(goal, source.replace(anchor, `await sleep('1 second');\n  ${anchor}`).replace('condition, continueAsNew,', 'condition, continueAsNew, sleep,'));
    const changed = await bundleWorkflowCode({ workflowsPath: join(copy, 'index.ts'), logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } });
    await expect(Worker.runReplayHistory({ workflowBundle: changed }, history('task-created-agent-replaced.json'))).rejects.toThrow(/[Nn]ondeterminism|DeterminismViolation/);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});
