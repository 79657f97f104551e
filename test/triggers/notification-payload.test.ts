/**
 * The listener's NOTIFY payloads: only a goal event with a UUID goal id and a known kind is
 * dispatched; a task id that is not a UUID is dropped, not carried into the dedupe key and logs.
 */
import { notificationProblem, parseNotification } from '../../src/triggers/listener';

const GOAL = '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';
const TASK = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

test('a goal event from the triggers is parsed with its task', () => {
  expect(parseNotification(JSON.stringify({ goal_id: GOAL, kind: 'task_failed', task_id: TASK }))).toEqual({
    goalId: GOAL,
    kind: 'task_failed',
    taskId: TASK,
    source: 'listener',
  });
  expect(parseNotification(JSON.stringify({ goal_id: GOAL, kind: 'goal_created' }))).toMatchObject({ taskId: null });
});

test('anything else is no goal event, and a task id that is not a UUID is dropped', () => {
  expect(parseNotification(undefined)).toBeNull();
  expect(parseNotification('{not json')).toBeNull();
  expect(parseNotification(JSON.stringify({ goal_id: 'g1', kind: 'task_failed' }))).toBeNull();
  expect(parseNotification(JSON.stringify({ goal_id: GOAL, kind: 'goal_exploded' }))).toBeNull();
  expect(parseNotification(JSON.stringify({ goal_id: GOAL, kind: 'task_failed', task_id: `${TASK}|x` }))).toMatchObject({ taskId: null });
});

test('a refused payload is described by one word, never by its content', () => {
  expect(notificationProblem(undefined)).toBe('empty');
  expect(notificationProblem('{not json')).toBe('not_json');
  expect(notificationProblem('[1,2]')).toBe('not_an_object');
  expect(notificationProblem(JSON.stringify({ goal_id: 'g1', kind: 'task_failed' }))).toBe('bad_goal_id');
  expect(notificationProblem(JSON.stringify({ goal_id: GOAL, kind: 'goal_exploded' }))).toBe('unknown_kind');
});
