/**
 * Reading goal workflows' histories to measure what a cycle costs, without touching the
 * workflows: a `status` query that reaches a workflow while one of its workflow tasks runs comes
 * with a workflow task of its own (three history events), so a measurement that watched by
 * queries would count its own watching.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { goalWorkflowId } from '../../workflows/messages';
import { waitFor } from './servers';

export type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export async function historyEvents(client: Client, goalId: string): Promise<HistoryEvent[]> {
  return (await client.workflow.getHandle(goalWorkflowId(goalId)).fetchHistory()).events ?? [];
}

const startsWait = (e: HistoryEvent) => e.timerStartedEventAttributes != null;

/**
 * Waits until every goal's history, past its first `from[i]` events, holds at least `cycles`
 * ended cycles and ends with one, and returns the histories' lengths as they were then (each a
 * cycle's end). A cycle of a goal with nothing to retry ends by starting the timer of its wait
 * between cycles.
 */
export async function waitCyclesEnded(client: Client, goalIds: string[], from: number[], cycles: number, what: string, timeoutMs: number): Promise<number[]> {
  const ended = (events: HistoryEvent[], i: number) =>
    events.slice(from[i]).filter(startsWait).length >= cycles && events.length > 0 && startsWait(events[events.length - 1]);
  return waitFor(
    what,
    async () => {
      const histories = await Promise.all(goalIds.map((id) => historyEvents(client, id)));
      return histories.every(ended) ? histories.map((events) => events.length) : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

/**
 * The events each goal's history gained past `from[i]` over whole cycles (a cycle under way is
 * left out: up to the last wait begun), and how many cycles they span. One read of each history
 * gives both, so a cycle ending meanwhile cannot skew them.
 */
export async function eventsOverEndedCycles(client: Client, goalIds: string[], from: number[]): Promise<{ gained: HistoryEvent[][]; cycles: number[] }> {
  const gained = (await Promise.all(goalIds.map((id) => historyEvents(client, id)))).map((events, i) =>
    events.slice(from[i], events.map(startsWait).lastIndexOf(true) + 1),
  );
  return { gained, cycles: gained.map((events) => events.filter(startsWait).length) };
}

const eventTypeName = (e: HistoryEvent) => temporal.api.enums.v1.EventType[e.eventType ?? 0].replace(/^EVENT_TYPE_/, '');

/**
 * The gained events by type, per cycle, as the mean over the goals: a per-cycle count says how
 * much a history grows, this says why (a second workflow task round is three events more).
 */
export function eventTypesPerCycle(gained: HistoryEvent[][], cycles: number[]): Record<string, number> {
  const sums: Record<string, number> = {};
  gained.forEach((events, i) => {
    for (const name of events.map(eventTypeName)) sums[name] = (sums[name] ?? 0) + 1 / cycles[i];
  });
  return Object.fromEntries(
    Object.entries(sums)
      .sort(([, a], [, b]) => b - a)
      .map(([name, sum]) => [name, Number((sum / gained.length).toFixed(2))]),
  );
}
