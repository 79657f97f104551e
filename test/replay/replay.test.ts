/**
 * Replays every committed history (test/histories, recorded from real runs by
 * `npm run record-histories`) against the current workflow code: a change that breaks
 * determinism for workflows already running in production fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { GOAL_WORKFLOW_PATCHES } from '../../workflows/patches';
import { workflowBundle, quietRuntime } from '../support/workflow-env';

const dir = join(__dirname, '..', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

beforeAll(() => quietRuntime());

test('there are recorded histories to replay', () => {
  expect(files.length).toBeGreaterThanOrEqual(3);
});

test.each(files)('%s replays deterministically', async (file) => {
  const history = historyFromJSON(JSON.parse(readFileSync(join(dir, file), 'utf8')));
  expect(history.events?.length).toBeGreaterThan(5);
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, file.replace(/\.json$/, ''));
});

/** The patch ids a history's markers record: the SDK core writes {"id": …} as the JSON payload
 * of a `core_patch` marker the first time a run takes a patched branch. */
function patchIdsIn(file: string): string[] {
  const history = historyFromJSON(JSON.parse(readFileSync(join(dir, file), 'utf8')));
  return (history.events ?? []).flatMap((e) => {
    const marker = e.markerRecordedEventAttributes;
    const data = marker?.markerName === 'core_patch' ? marker.details?.['patch-data']?.payloads?.[0]?.data : undefined;
    return data ? [JSON.parse(Buffer.from(data).toString('utf8')).id as string] : [];
  });
}

test('every patch of the goal workflow has a committed history that took its new branch', () => {
  // A patched branch no history took is a branch no replay has checked.
  const recorded = new Set(files.flatMap(patchIdsIn));
  const missing = Object.values(GOAL_WORKFLOW_PATCHES).filter((id) => !recorded.has(id));
  expect(missing).toEqual([]);
});

test('a workflow change that breaks determinism is caught', async () => {
  // Replaying the incident history against a workflow that skips the first activity must fail.
  const history = historyFromJSON(JSON.parse(readFileSync(join(dir, 'incident-retries-exhausted.json'), 'utf8')));
  const events = history.events ?? [];
  const firstActivity = events.findIndex((e) => e.activityTaskScheduledEventAttributes);
  const activityType = events[firstActivity].activityTaskScheduledEventAttributes!.activityType!;
  activityType.name = 'someOtherActivity';
  await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history)).rejects.toThrow(/[Nn]ondeterminism|DeterminismViolation/);
});
