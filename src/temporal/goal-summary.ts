/**
 * The summary a goal's workflow carries in the Web UI (its list and its page): the goal's
 * description, one short line. Temporal fixes a workflow's summary when it starts, so the starter
 * must know the description: the goal-insert NOTIFY payload and the webhook's goal record carry
 * it; a start that does not know it (a task event, an operator's heal, the fleet check) names the
 * goal by its id instead, and the memo and current details say the rest. Pure functions.
 */

/** How much of a goal's description its workflow's summary shows. */
export const SUMMARY_DESCRIPTION_CHARS = 120;

/** Characters of a description looked at at most: it may be megabytes (a webhook body). */
const SCANNED_CHARS = SUMMARY_DESCRIPTION_CHARS * 4;

/**
 * A goal's description as a summary shows it: one line (runs of whitespace and control or format
 * characters become one space), trimmed, at most SUMMARY_DESCRIPTION_CHARS characters (code
 * points, never half of one), a longer one cut with an ellipsis. Undefined for anything that is
 * not a string with some text: the caller falls back to the goal's id.
 */
export function summaryDescription(description: unknown): string | undefined {
  if (typeof description !== 'string') return undefined;
  const line = description
    .slice(0, SCANNED_CHARS)
    .replace(/[\s\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/gu, ' ')
    .trim();
  const chars = Array.from(line);
  if (chars.length === 0) return undefined;
  if (chars.length <= SUMMARY_DESCRIPTION_CHARS && description.length <= SCANNED_CHARS) return line;
  return `${chars.slice(0, SUMMARY_DESCRIPTION_CHARS - 1).join('').trimEnd()}…`;
}

/** The goal workflow's static summary: the goal's description when the starter knows it, else a
 * line naming the goal by its id. */
export function goalWorkflowSummary(goalId: string, description?: string | null): string {
  const described = summaryDescription(description);
  return described !== undefined ? `goal: ${described}` : `keeps goal ${goalId} healthy (its description is in the memo)`;
}
