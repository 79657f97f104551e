/**
 * The goal workflow's summary (what the Web UI lists it by): the goal's description as one short
 * line when the starter knows it, else a line naming the goal's id; and the event paths that carry
 * the description to the starter (NOTIFY payload, webhook record), bounded on the way in.
 */
import { toGoalEvent } from '../../src/http/webhook';
import { SUMMARY_DESCRIPTION_CHARS, goalWorkflowSummary, summaryDescription } from '../../src/temporal/goal-summary';
import { parseNotification } from '../../src/triggers/listener';

const GOAL = '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';

test("a known description is the summary; without one the summary names the goal's id", () => {
  expect(goalWorkflowSummary(GOAL, 'Publish the onboarding guide')).toBe('goal: Publish the onboarding guide');
  for (const none of [undefined, null, '', '   \n\t ']) {
    expect(goalWorkflowSummary(GOAL, none)).toBe(`keeps goal ${GOAL} healthy (its description is in the memo)`);
  }
});

test('the description is one trimmed line: newlines, tabs and control characters become single spaces', () => {
  expect(summaryDescription('  Ship\r\nthe   release\tnotes\u0000now\u2028ok  ')).toBe('Ship the release notes now ok');
  expect(summaryDescription(42)).toBeUndefined();
  expect(summaryDescription({ text: 'x' })).toBeUndefined();
});

test('a long description is cut to SUMMARY_DESCRIPTION_CHARS characters with an ellipsis, never inside a character', () => {
  const long = 'word '.repeat(100);
  const cut = summaryDescription(long)!;
  expect(Array.from(cut).length).toBeLessThanOrEqual(SUMMARY_DESCRIPTION_CHARS);
  expect(cut.endsWith('…')).toBe(true);
  expect(cut.startsWith('word word')).toBe(true);
  expect(summaryDescription('x'.repeat(SUMMARY_DESCRIPTION_CHARS))).toBe('x'.repeat(SUMMARY_DESCRIPTION_CHARS));
  // Astral characters (two UTF-16 units each) count as one and are never split.
  const emoji = summaryDescription('🎯'.repeat(200))!;
  expect(Array.from(emoji)).toHaveLength(SUMMARY_DESCRIPTION_CHARS);
  expect(emoji).toBe(`${'🎯'.repeat(SUMMARY_DESCRIPTION_CHARS - 1)}…`);
  // Megabytes of text are looked at only at their start, and still marked as cut.
  const huge = summaryDescription(`short${' '.repeat(2_000_000)}tail`)!;
  expect(huge).toBe('short…');
  expect(goalWorkflowSummary(GOAL, long).length).toBeLessThanOrEqual(SUMMARY_DESCRIPTION_CHARS + 'goal: '.length);
});

test('a NOTIFY payload and a webhook record of a goal inserted or reopened carry its description, bounded', () => {
  const text = `Grow the newsletter\n${'to ten thousand readers '.repeat(10)}`;
  const fromNotify = parseNotification(JSON.stringify({ goal_id: GOAL, kind: 'goal_created', description: text }));
  expect(fromNotify?.description).toBe(summaryDescription(text));
  expect(fromNotify?.description).not.toContain('\n');
  expect(parseNotification(JSON.stringify({ goal_id: GOAL, kind: 'goal_created', description: null }))).not.toHaveProperty('description');
  expect(parseNotification(JSON.stringify({ goal_id: GOAL, kind: 'goal_created', description: { x: 1 } }))).not.toHaveProperty('description');

  const goal = (type: string, record: object | null, old: object | null = null) => ({ type, table: 'workspace_goals', schema: 'public', record, old_record: old });
  expect(toGoalEvent(goal('INSERT', { id: GOAL, status: 'active', description: text })).event?.description).toBe(summaryDescription(text));
  expect(toGoalEvent(goal('UPDATE', { id: GOAL, status: 'active', description: 'back on' }, { id: GOAL, status: 'completed' })).event).toMatchObject({
    kind: 'goal_reopened',
    description: 'back on',
  });
  // A close starts nothing, so it carries nothing.
  expect(toGoalEvent(goal('UPDATE', { id: GOAL, status: 'completed', description: 'done' }, { id: GOAL, status: 'active' })).event).not.toHaveProperty('description');
});
