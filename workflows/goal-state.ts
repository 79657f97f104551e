/**
 * The goal workflow's state in one small class: what it knows of the goal, the retry budget of
 * each task, the alerts it has open (and those it found over), its heal episode, the heals
 * waiting, and when it should wake next. Pure data and decisions, no Temporal calls:
 * continueAsNew carries a snapshot, and the unit tests (test/workflows/goal-state.test.ts) check
 * its rules without a server.
 */
import type { CycleSummary, GoalStatus, HealRequest, NextWake, TaskRetryState } from './messages';
import type { GoalHealth, GoalView, HealPolicy, IssueType, Severity } from './types';

/**
 * One open alert, raised once while its condition lasts: what it says, when it was raised, and
 * whether its logs row (where the platform reads alerts) is written yet. One whose write failed
 * stays open and unwritten, and a later cycle writes it under the same key.
 */
export interface OpenAlert {
  issue: IssueType;
  taskId: string | null;
  severity: Severity;
  text: string;
  /** When the cycle raised it (workflow time). */
  raisedAt: string;
  /** The idempotency key of its logs row, its goalkeeper_alerts row and its delivery: the same for
   * every write of it, so a write that committed before its activity failed is found, not repeated. */
  writeKey: string;
  written: boolean;
  /** The last cycle whose write of it failed: the next cycles try again, not that one. */
  failedInCycle: number | null;
}

/** What raising an alert gives: everything but its write's outcome. */
export type RaisedAlert = Omit<OpenAlert, 'written' | 'failedInCycle'>;

/** An alert a cycle found over, once it had been written (an alert never written told nobody, so
 * its end is nobody's news): the cycle records its resolution, and delivers it, at its end. One
 * whose recording failed stays here for the next cycle. */
export interface ResolvedAlert {
  alert: OpenAlert;
  /** When the cycle that closed it first acted on it, at its end (workflow time); null until then. */
  resolvedAt: string | null;
  /** The last cycle whose recording of it failed; absent until one has. */
  failedInCycle?: number;
}

/** A heal episode in progress: from the start of the first cycle that found a problem (took a
 * heal action, or ended not healthy). */
export interface OpenHealEpisode {
  /** The cycle it opened in: its key's last part. */
  cycle: number;
  seenAt: string;
}

/** A heal episode that ended (a cycle ended healthy) and is not yet recorded. */
export interface EndedHealEpisode extends OpenHealEpisode {
  healedAt: string;
  /** The last cycle whose recording of it failed; absent until one has. */
  failedInCycle?: number;
}

export interface PublishedAttributes {
  workspaceId: string | null;
  metricType: string | null;
  health: GoalHealth;
}

export interface GoalStateSnapshot {
  goal: GoalView | null;
  health: GoalHealth;
  taskId: string | null;
  agentId: string | null;
  retries: Record<string, TaskRetryState>;
  openAlerts: OpenAlert[];
  resolvedAlerts: ResolvedAlert[];
  healEpisode: OpenHealEpisode | null;
  endedEpisodes: EndedHealEpisode[];
  cycles: number;
  lastCycle: CycleSummary | null;
  pendingHeals: HealRequest[];
  publishedAttributes: PublishedAttributes | null;
  tasksDoneSince: string | null;
  stepFailures: number;
  safetyRecheckAt: string | null;
  policy: HealPolicy | null;
}

/** An alert's key among the open ones: its issue, and the task it is about when it is about one. */
export const alertKey = (issue: IssueType, taskId: string | null): string => (taskId ? `${issue}:${taskId}` : issue);

/** Open alerts of these issues mean the goal lacks a task or an agent: degraded. */
const DEGRADING_ISSUES: ReadonlySet<IssueType> = new Set(['NO_TASKS_FOR_GOAL', 'NO_AGENTS_AVAILABLE', 'TASK_WITHOUT_AGENT']);
/** Open alerts of these issues wait for a human: needs_intervention (as does a spent budget,
 * read from the budgets themselves: an operator's heal lifts it before its alert closes). */
const HUMAN_ISSUES: ReadonlySet<IssueType> = new Set(['GOAL_STALLED', 'TASK_STUCK']);

/** Operator heals queued at most: each is served by the next cycle anyway, so more only grow the
 * snapshot. Event heals coalesce into one: they only ask for a cycle. */
export const MAX_PENDING_HEALS = 20;

/** The safety recheck lands within ±10 % of its interval, so goals started together do not wake together. */
export const SAFETY_JITTER = 0.1;

export class GoalState {
  goal: GoalView | null;
  health: GoalHealth;
  taskId: string | null;
  agentId: string | null;
  retries: Record<string, TaskRetryState>;
  /** The open alerts, by alertKey (issue, and task when about one), in the order raised. */
  openAlerts: Map<string, OpenAlert>;
  /** Alerts found over whose resolution is still to be recorded and delivered (ResolvedAlert). */
  resolvedAlerts: ResolvedAlert[];
  /** The heal episode in progress, if a problem has been seen and the goal not yet found healthy. */
  healEpisode: OpenHealEpisode | null;
  /** Ended heal episodes still to be recorded (a failed write is tried again by a later cycle). */
  endedEpisodes: EndedHealEpisode[];
  cycles: number;
  lastCycle: CycleSummary | null;
  pendingHeals: HealRequest[];
  publishedAttributes: PublishedAttributes | null;
  /** ISO time a cycle first found the goal active with every task completed; null otherwise. */
  tasksDoneSince: string | null;
  /** Heal steps that failed for good in the last cycle (HEAL_STEP_FAILED closes after a cycle with none). */
  stepFailures: number;
  /** When the resting goal checks itself if nothing wakes it before (null: never). */
  safetyRecheckAt: string | null;
  closedReason: string | null = null;
  /** The settings the last cycle ran under (the status query shows them). */
  policy: HealPolicy | null = null;
  /** Cycles someone waits for (healAndWait), by number, with their summary once they end. Not
   * carried by continue-as-new, which waits until every waiter has been answered. */
  private readonly awaited = new Map<number, { summary: CycleSummary | null; waiters: number }>();

  constructor(
    readonly goalId: string,
    snapshot?: GoalStateSnapshot,
  ) {
    this.goal = snapshot?.goal ?? null;
    this.health = snapshot?.health ?? 'starting';
    this.taskId = snapshot?.taskId ?? null;
    this.agentId = snapshot?.agentId ?? null;
    this.retries = snapshot?.retries ?? {};
    this.openAlerts = new Map((snapshot?.openAlerts ?? []).map((a) => [alertKey(a.issue, a.taskId), a]));
    this.resolvedAlerts = snapshot?.resolvedAlerts ?? [];
    this.healEpisode = snapshot?.healEpisode ?? null;
    this.endedEpisodes = snapshot?.endedEpisodes ?? [];
    this.cycles = snapshot?.cycles ?? 0;
    this.lastCycle = snapshot?.lastCycle ?? null;
    this.pendingHeals = snapshot?.pendingHeals ?? [];
    this.publishedAttributes = snapshot?.publishedAttributes ?? null;
    this.tasksDoneSince = snapshot?.tasksDoneSince ?? null;
    this.stepFailures = snapshot?.stepFailures ?? 0;
    this.safetyRecheckAt = snapshot?.safetyRecheckAt ?? null;
    this.policy = snapshot?.policy ?? null;
  }

  /** A waiter for the cycle that will serve a heal queued now (the next one to start: a running
   * cycle has taken its requests already). Returns that cycle's number. */
  awaitNextCycle(): number {
    const number = this.cycles + 1;
    const entry = this.awaited.get(number) ?? { summary: null, waiters: 0 };
    entry.waiters += 1;
    this.awaited.set(number, entry);
    return number;
  }

  /** The summary of awaited cycle `number` once it has ended, else null. */
  awaitedSummary(number: number): CycleSummary | null {
    return this.awaited.get(number)?.summary ?? null;
  }

  /** A waiter has its answer (or gave up): the cycle is forgotten once no one waits for it. */
  releaseAwaited(number: number): void {
    const entry = this.awaited.get(number);
    if (entry && --entry.waiters <= 0) this.awaited.delete(number);
  }

  /**
   * Queues a heal. Event heals coalesce (one pending is as good as a thousand: each only asks for
   * a cycle); operator heals are kept, up to MAX_PENDING_HEALS. An operator's heal gives every
   * task whose budget is spent a fresh one; a task with retries left keeps its count. An event
   * heal never does: lifting an exhaustion is a human's call. Returns false when dropped.
   */
  requestHeal(request: HealRequest, maxTaskRetries: number): boolean {
    if (request.origin === 'event') {
      if (this.pendingHeals.some((r) => r.origin === 'event')) return false;
      this.pendingHeals.push(request);
      return true;
    }
    if (this.pendingHeals.filter((r) => r.origin === 'operator').length >= MAX_PENDING_HEALS) return false;
    this.pendingHeals.push(request);
    for (const state of Object.values(this.retries)) {
      if (state.exhausted || state.used >= maxTaskRetries) {
        state.exhausted = false;
        state.used = 0;
      }
    }
    return true;
  }

  /** Hands the queued requests to the cycle that starts, and numbers it. */
  startCycle(): HealRequest[] {
    const taken = this.pendingHeals;
    this.pendingHeals = [];
    this.cycles += 1;
    this.stepFailures = 0;
    return taken;
  }

  /** A cycle has ended: it is the last one, the goal has checked itself, its heal episode moves
   * on (healEpisodeAfter), and the safety recheck moves on. `jitter` is a number in [0, 1) from
   * the workflow's deterministic random; `healed`: the cycle took a heal action. */
  finishCycle(summary: CycleSummary, policy: HealPolicy, jitter: number, healed = false): void {
    this.healEpisodeAfter(summary, healed);
    this.lastCycle = summary;
    this.health = summary.health;
    const awaited = this.awaited.get(summary.number);
    if (awaited) awaited.summary = summary;
    const hours = policy.safetyRecheckHours;
    this.safetyRecheckAt =
      hours > 0 ? new Date(Date.parse(summary.finishedAt) + hours * 3_600_000 * (1 - SAFETY_JITTER + 2 * SAFETY_JITTER * jitter)).toISOString() : null;
  }

  /**
   * What wakes the resting workflow next, besides an event: the earliest of the timers for what
   * is in flight (a failed step or an unwritten alert to try again, a stall window running) and
   * the safety recheck. Nothing in flight and no safety recheck: only an event wakes it.
   */
  nextWake(policy: HealPolicy): NextWake {
    const candidates: NextWake[] = [];
    const lastChecked = this.lastCycle ? Date.parse(this.lastCycle.finishedAt) : null;
    if (lastChecked !== null && (this.stepFailures > 0 || this.failedAlertWrites().length > 0 || this.hasUnrecordedFacts())) {
      candidates.push({ reason: 'try again what failed', at: new Date(lastChecked + policy.healthCheckIntervalSeconds * 1000).toISOString() });
    }
    if (this.tasksDoneSince !== null && !this.openAlerts.has('GOAL_STALLED')) {
      candidates.push({ reason: 'stall window ends', at: new Date(Date.parse(this.tasksDoneSince) + policy.healthCheckIntervalSeconds * 1000).toISOString() });
    }
    if (this.safetyRecheckAt !== null) candidates.push({ reason: 'safety recheck', at: this.safetyRecheckAt });
    candidates.sort((a, b) => Date.parse(a.at!) - Date.parse(b.at!));
    return candidates[0] ?? { reason: 'an event', at: null };
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
  openAlert(raised: RaisedAlert): boolean {
    const key = alertKey(raised.issue, raised.taskId);
    if (this.openAlerts.has(key)) return false;
    this.openAlerts.set(key, { ...raised, written: false, failedInCycle: null });
    return true;
  }

  /** The open alert under `key`, if any. */
  alert(key: string): OpenAlert | undefined {
    return this.openAlerts.get(key);
  }

  /** The open alerts whose logs row is not written yet (being written, or failed to be). */
  unwrittenAlerts(): OpenAlert[] {
    return [...this.openAlerts.values()].filter((a) => !a.written);
  }

  /** The open alerts whose write failed: a later cycle writes them. */
  failedAlertWrites(): OpenAlert[] {
    return this.unwrittenAlerts().filter((a) => a.failedInCycle !== null);
  }

  /** Closes the goal-wide alert of `issue`. */
  closeGoalAlert(issue: IssueType): void {
    this.closeAlert(issue);
  }

  /** Closes the alerts of `issue` about tasks, except those about `stillOpenFor`. */
  closeTaskAlerts(issue: IssueType, stillOpenFor: readonly string[] = []): void {
    for (const [key, alert] of [...this.openAlerts]) {
      if (alert.issue === issue && alert.taskId !== null && !stillOpenFor.includes(alert.taskId)) this.closeAlert(key);
    }
  }

  /** Closes every open alert (the goal closed: none of its conditions can last). */
  closeAllAlerts(): void {
    for (const key of [...this.openAlerts.keys()]) this.closeAlert(key);
  }

  /** Closes one alert: a written one becomes a resolution the cycle acts on at its end; an
   * unwritten one just ends (nobody heard of it). */
  private closeAlert(key: string): void {
    const alert = this.openAlerts.get(key);
    if (!alert) return;
    this.openAlerts.delete(key);
    if (alert.written) this.resolvedAlerts.push({ alert, resolvedAt: null });
  }

  /** Whether facts of ended things (resolutions, heal episodes) failed to be recorded: a later
   * cycle records them. (Those not tried yet are the running cycle's, which records them at its end.) */
  hasUnrecordedFacts(): boolean {
    return this.resolvedAlerts.some((r) => r.failedInCycle !== undefined) || this.endedEpisodes.some((e) => e.failedInCycle !== undefined);
  }

  /**
   * The heal episode after a cycle: one opens at the start of the first cycle that found a
   * problem (took a heal action, or ended not healthy), and ends at the end of the first cycle
   * (that one or a later one) that ends healthy, becoming a fact to record. A goal that closes
   * mid-episode was never healed: its episode is dropped.
   */
  private healEpisodeAfter(summary: CycleSummary, healed: boolean): void {
    if (summary.health === 'closed') {
      this.healEpisode = null;
      return;
    }
    if (this.healEpisode === null && (healed || summary.health !== 'healthy')) {
      this.healEpisode = { cycle: summary.number, seenAt: summary.startedAt };
    }
    if (this.healEpisode !== null && summary.health === 'healthy') {
      this.endedEpisodes.push({ ...this.healEpisode, healedAt: summary.finishedAt });
      this.healEpisode = null;
    }
  }

  /** Health from what the last cycle left: a spent budget or a stalled goal needs a human; a
   * missing agent or task is degraded; a failed task being retried is healing; else healthy. */
  computeHealth(failedTaskIds: readonly string[]): GoalHealth {
    if (this.closedReason) return 'closed';
    const issues = [...this.openAlerts.values()].map((a) => a.issue);
    if (Object.values(this.retries).some((r) => r.exhausted) || issues.some((i) => HUMAN_ISSUES.has(i))) return 'needs_intervention';
    if (issues.some((i) => DEGRADING_ISSUES.has(i))) return 'degraded';
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
      openAlerts: [...this.openAlerts.values()],
      resolvedAlerts: this.resolvedAlerts,
      healEpisode: this.healEpisode,
      endedEpisodes: this.endedEpisodes,
      cycles: this.cycles,
      lastCycle: this.lastCycle,
      pendingHeals: this.pendingHeals,
      publishedAttributes: this.publishedAttributes,
      tasksDoneSince: this.tasksDoneSince,
      stepFailures: this.stepFailures,
      safetyRecheckAt: this.safetyRecheckAt,
      policy: this.policy,
    };
  }

  status(): GoalStatus {
    return {
      goalId: this.goalId,
      workspaceId: this.goal?.workspaceId ?? null,
      description: this.goal?.description ?? null,
      health: this.health,
      taskId: this.taskId,
      agentId: this.agentId,
      retries: this.retries,
      lastCycle: this.lastCycle,
      lastCheckedAt: this.lastCycle?.finishedAt ?? null,
      nextWake: this.policy ? this.nextWake(this.policy) : { reason: 'the first cycle', at: null },
      openAlerts: [...this.openAlerts.keys()],
      unwrittenAlerts: this.failedAlertWrites().map((a) => alertKey(a.issue, a.taskId)),
      cycles: this.cycles,
      closedReason: this.closedReason,
      policy: this.policy,
    };
  }
}
