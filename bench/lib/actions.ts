/**
 * Temporal Cloud billable Actions counted from a workflow history, by the published rules
 * (docs.temporal.io/cloud/actions): a workflow started, a timer started, a signal received, an
 * activity scheduled, a search-attribute or memo upsert, an update accepted, a continue-as-new
 * each count one; the local activities of one workflow task count one together. Queries count
 * too but leave no event (the bench sends none while it measures).
 */
import type { HistoryEvent } from '../../test/support/history-events';

export function billableActions(events: HistoryEvent[]): number {
  let actions = 0;
  let localActivitiesInTask = false;
  for (const e of events) {
    if (
      e.workflowExecutionStartedEventAttributes ||
      e.timerStartedEventAttributes ||
      e.workflowExecutionSignaledEventAttributes ||
      e.activityTaskScheduledEventAttributes ||
      e.upsertWorkflowSearchAttributesEventAttributes ||
      e.workflowPropertiesModifiedEventAttributes ||
      e.workflowExecutionUpdateAcceptedEventAttributes ||
      e.workflowExecutionContinuedAsNewEventAttributes
    ) {
      actions += 1;
    }
    // Local activities leave a marker each, recorded with the workflow task that ran them.
    if (e.markerRecordedEventAttributes?.markerName === 'core_local_activity') localActivitiesInTask = true;
    if (e.workflowTaskCompletedEventAttributes) {
      if (localActivitiesInTask) actions += 1;
      localActivitiesInTask = false;
    }
  }
  return actions;
}

/** Workflow tasks completed in a history. */
export const workflowTasks = (events: HistoryEvent[]): number => events.filter((e) => e.workflowTaskCompletedEventAttributes).length;
