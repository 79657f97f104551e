/**
 * The goal workflow's state in one small class: what it knows of the goal, the retry budget of
 * each task, the alerts it has open. Pure data and decisions, no Temporal calls, so continueAsNew
 * can carry a snapshot and tests can reason about it.
 */
import type { CycleSummary, GoalStatus, HealRequest, TaskRetryState } from './messages';
import type { GoalHealth, GoalView, IssueType, Severity } from './types';

export interface GoalStateSnapshot {
  goal: GoalView | null;
  health: GoalHealth;
  taskId: string | null;
  agentId: string | null;
  retries: Record<string, TaskRetryState>;
  openAlerts: string[];
  cycles: number;
  lastCycle: CycleSummary | null;
  pendingHeals: HealRequest[];
  /** The search attribute values last upserted (absent in snapshots of older runs). */
  publishedAttributes?: PublishedAttributes | null;
  /** When a cycle first found the goal active with every task completed (absent in older runs). */
  tasksDoneSince?: string | null;
  /** Alerts raised whose logs row could not be written (absent in older runs). */
  unwrittenAlerts?: UnwrittenAlert[];
  /** The latest cycles that served operator heals (absent in older runs). */
  servedHealCycles?: CycleSummary[];
}

/** An alert that is open but whose logs row, where the platform reads alerts, failed to be
 * written: a later cycle writes it while the alert stays open. */
export interface UnwrittenAlert {
  issue: IssueType;
  taskId: string | null;
  severity: Severity;
  text: string;
  /** The cycle whose write failed: the next cycles try again, not that one. */
  cycle: number;
  /** The idempotency key of the failed write, which later writes reuse: a write that committed
   * before its activity failed is then found, not written twice (absent in older runs). */
  writeKey?: string;
}

export interface PublishedAttributes {
  workspaceId: string | null;
  metricType: string | null;
  health: GoalHealth;
}

/** An alert's key among the open ones: its issue, and the task it is about when it is about one. */
export const alertKey = (issue: IssueType, taskId: string | null): string => (taskId ? `${issue}:${taskId}` : issue);

const MAX_PENDING_HEALS = 20;
/** Cycles kept that served an operator's heal (one with a request id), newest last: enough for
 * `heal --wait` to find its cycle after the cycles that event heals ran right behind it. */
const MAX_SERVED_HEAL_CYCLES = 10;

export class GoalState {
  goal: GoalView | null;
  health: GoalHealth;
  taskId: string | null;
  agentId: string | null;
  retries: Record<string, TaskRetryState>;
  openAlerts: Set<string>;
  cycles: number;
  lastCycle: CycleSummary | null;
  pendingHeals: HealRequest[];
  closedReason: string | null = null;
  publishedAttributes: PublishedAttributes | null;
  /** ISO time a cycle first found the goal active with every task completed; null otherwise. */
  tasksDoneSince: string | null;
  unwrittenAlerts: UnwrittenAlert[];
  servedHealCycles: CycleSummary[];
  /** The request ids the running cycle serves (none between cycles, so continue-as-new, which
   * happens between cycles, need not carry them). */
  servingRequestIds: string[] = [];

  constructor(readonly goalId: string, snapshot?: GoalStateSnapshot) {
    this.goal = snapshot?.goal ?? null;
    this.health = snapshot?.health ?? 'starting';
    this.taskId = snapshot?.taskId ?? null;
    this.agentId = snapshot?.agentId ?? null;
    this.retries = snapshot?.retries ?? {};
    this.openAlerts = new Set(snapshot?.openAlerts ?? []);
    this.cycles = snapshot?.cycles ?? 0;
    this.lastCycle = snapshot?.lastCycle ?? null;
    this.pendingHeals = snapshot?.pendingHeals ?? [];
    this.publishedAttributes = snapshot?.publishedAttributes ?? null;
    this.tasksDoneSince = snapshot?.tasksDoneSince ?? null;
    this.unwrittenAlerts = snapshot?.unwrittenAlerts ?? [];
    this.servedHealCycles = snapshot?.servedHealCycles ?? [];
  }

  /** A cycle has ended: it is the last one, and kept among the served ones if it served a request. */
  finishCycle(summary: CycleSummary): void {
    this.lastCycle = summary;
    this.servingRequestIds = [];
    if (summary.healRequestIds.length > 0) {
      this.servedHealCycles = [...this.servedHealCycles, summary].slice(-MAX_SERVED_HEAL_CYCLES);
    }
  }

  /** A heal request: queue it (bounded: a flood of signals is one more cycle, not a thousand).
   * An operator's heal gives every task whose budget is spent a fresh one; a task with retries
   * left keeps its count. A heal sent because of a change event never does: lifting an exhaustion
   * is a human's call. A request that does not say who sent it predates `origin` and keeps the
   * rule it was recorded under (only tasks already marked exhausted), so old histories replay.
   *
   * With the queue full, an event heal that nobody waits for is one of many that each only ask for
   * a cycle, so it is dropped. An operator's heal, or one someone waits for (`heal --wait` names it
   * by requestId), is not: it takes the place of such an event heal, when `keepWhenFull` allows
   * (the workflow's patch check: runs recorded before this dropped it too). */
  requestHeal(request: HealRequest, maxTaskRetries: number, keepWhenFull: () => boolean = () => false): void {
    if (this.pendingHeals.length < MAX_PENDING_HEALS) {
      this.pendingHeals.push(request);
    } else if (request.origin === 'operator' || request.requestId !== undefined) {
      const interchangeable = this.pendingHeals.findIndex((r) => r.origin !== 'operator' && r.requestId === undefined);
      if (interchangeable >= 0 && keepWhenFull()) this.pendingHeals[interchangeable] = request;
    }
    if (request.origin === 'event') return;
    const spent = (s: TaskRetryState) => s.exhausted || (request.origin === 'operator' && s.used >= maxTaskRetries);
    for (const state of Object.values(this.retries)) {
      if (spent(state)) {
        state.exhausted = false;
        state.used = 0;
      }
    }
  }

  /** The kept cycle that served heal request `requestId`, if one has. */
  servedCycleOf(requestId: string): CycleSummary | undefined {
    return this.servedHealCycles.find((c) => c.healRequestIds.includes(requestId));
  }

  /** Whether heal request `requestId` is waiting for a cycle. */
  isQueued(requestId: string): boolean {
    return this.pendingHeals.some((r) => r.requestId === requestId);
  }

  /** Whether heal request `requestId` is waiting for a cycle, or being served by the running one. */
  isQueuedOrServing(requestId: string): boolean {
    return this.isQueued(requestId) || this.servingRequestIds.includes(requestId);
  }

  /** Hands the queued requests to the cycle that starts; they are being served until it ends. */
  takeHealRequests(): HealRequest[] {
    const taken = this.pendingHeals;
    this.pendingHeals = [];
    this.servingRequestIds = taken.flatMap((r) => (r.requestId ? [r.requestId] : []));
    return taken;
  }

  /**
   * The retry budget of a task. A task this run has not tracked yet starts from the retries on
   * record (earlier runs of the goal's workflow spent them: the budget is per task in all, not
   * per run), unless an operator's heal is being served, which gives a spent budget a fresh one
   * as it does for a task the run already tracks.
   */
  retryStateOf(taskId: string, seed: { recorded: number; maxTaskRetries: number; operatorHeal: boolean }): TaskRetryState {
    const recorded = Number.isInteger(seed.recorded) && seed.recorded > 0 ? seed.recorded : 0;
    const spent = recorded >= seed.maxTaskRetries;
    const used = spent && seed.operatorHeal ? 0 : Math.min(recorded, seed.maxTaskRetries);
    return (this.retries[taskId] ??= { used, total: recorded, exhausted: false });
  }

  /** Forgets tasks that are no longer in play (completed, cancelled, gone), keeping state small. */
  keepRetriesFor(liveTaskIds: string[]): void {
    const live = new Set(liveTaskIds);
    for (const id of Object.keys(this.retries)) if (!live.has(id)) delete this.retries[id];
  }

  /** Opens an alert; true when it was not open yet (so the caller raises it once, not every cycle). */
  openAlert(key: string): boolean {
    if (this.openAlerts.has(key)) return false;
    this.openAlerts.add(key);
    return true;
  }

  closeAlertsWhere(predicate: (key: string) => boolean): void {
    for (const key of [...this.openAlerts]) if (predicate(key)) this.openAlerts.delete(key);
  }

  /** Health from what the last cycle left: exhausted retries, or a stalled goal, need a human; a
   * missing agent or task is degraded; a failed task being retried is healing; otherwise healthy. */
  computeHealth(failedTaskIds: string[]): GoalHealth {
    if (this.closedReason) return 'closed';
    if (Object.values(this.retries).some((r) => r.exhausted)) return 'needs_intervention';
    if (this.openAlerts.has('GOAL_STALLED')) return 'needs_intervention';
    if ([...this.openAlerts].some((k) => k.startsWith('NO_'))) return 'degraded';
    if (failedTaskIds.length > 0) return 'healing';
    return 'healthy';
  }

  snapshot(): GoalStateSnapshot {
    return {
      goal: this.goal,
      health: this.health,
      taskId: this.taskId,
      agentId: this.agentId,
      retries: this.retries,
      openAlerts: [...this.openAlerts],
      cycles: this.cycles,
      lastCycle: this.lastCycle,
      pendingHeals: this.pendingHeals,
      publishedAttributes: this.publishedAttributes,
      tasksDoneSince: this.tasksDoneSince,
      unwrittenAlerts: this.unwrittenAlerts,
      servedHealCycles: this.servedHealCycles,
    };
  }

  status(): GoalStatus {
    return {
      goalId: this.goalId,
      workspaceId: this.goal?.workspaceId ?? null,
      health: this.health,
      taskId: this.taskId,
      agentId: this.agentId,
      retries: this.retries,
      lastCycle: this.lastCycle,
      openAlerts: [...this.openAlerts],
      cycles: this.cycles,
      closedReason: this.closedReason,
      unwrittenAlerts: this.unwrittenAlerts.map((a) => alertKey(a.issue, a.taskId)),
      servedHealCycles: this.servedHealCycles,
    };
  }
}
