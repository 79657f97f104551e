/**
 * What both adapters share: every port method is one named SQL function called with named
 * arguments, its answer mapped the same way. An adapter only says how a call travels (a pg
 * query, a PostgREST RPC) and how its failures are typed.
 */
import type { AgentRules, HealEpisodeInput, RecordEventInput, RequeueStuckTaskResult, RetryTaskResult } from '../../workflows/types';
import type { CareCriteria, HealingStore } from '../../activities/store-port';
import * as map from './mapping';

export abstract class RpcStore implements HealingStore {
  abstract readonly kind: HealingStore['kind'];

  /** Calls goalkeeper's SQL function for `fn` with these named arguments; throws StoreError. */
  protected abstract call(fn: map.RpcFunction, args: Record<string, unknown>): Promise<unknown>;

  abstract close(): Promise<void>;

  async ensureGoalTask(goalId: string, rules: AgentRules) {
    return map.toEnsureGoalTask((await this.call('ensureGoalTask', map.rpcArgs.ensureGoalTask(goalId, rules))) as never);
  }

  async ensureTaskAgent(taskId: string, rules: AgentRules) {
    return map.toEnsureTaskAgent((await this.call('ensureTaskAgent', map.rpcArgs.ensureTaskAgent(taskId, rules))) as never);
  }

  async retryTask(taskId: string, requestKey: string, rules: AgentRules) {
    return map.toTaskAttempt<RetryTaskResult>((await this.call('retryTask', map.rpcArgs.retryTask(taskId, requestKey, rules))) as never);
  }

  async requeueStuckTask(taskId: string, requestKey: string, rules: AgentRules) {
    return map.toTaskAttempt<RequeueStuckTaskResult>((await this.call('requeueStuckTask', map.rpcArgs.requeueStuckTask(taskId, requestKey, rules))) as never);
  }

  async recordEvent(input: RecordEventInput) {
    return map.toRecordEvent((await this.call('recordEvent', map.rpcArgs.recordEvent(input))) as never);
  }

  async resolveAlert(idempotencyKey: string) {
    return map.toResolveAlert((await this.call('resolveAlert', map.rpcArgs.resolveAlert(idempotencyKey))) as never);
  }

  async recordHealEpisode(input: HealEpisodeInput) {
    return map.toRecordHealEpisode((await this.call('recordHealEpisode', map.rpcArgs.recordHealEpisode(input))) as never);
  }

  async listActiveGoals(after: string | null, limit: number) {
    return map.toActiveGoals(await this.call('listActiveGoals', map.rpcArgs.listActiveGoals(after, limit)));
  }

  async goalsNeedingCare(after: string | null, limit: number, criteria: CareCriteria) {
    return map.toGoalsNeedingCare(await this.call('goalsNeedingCare', map.rpcArgs.goalsNeedingCare(after, limit, criteria)));
  }

  async agentStatusCounts() {
    return map.toStatusCounts(await this.call('agentStatusCounts', map.rpcArgs.agentStatusCounts()));
  }

  async workspaceHealth(workspaceId: string, assignableStatuses: string[], stuckSeconds?: number) {
    return map.toWorkspaceHealth(await this.call('workspaceHealth', map.rpcArgs.workspaceHealth(workspaceId, assignableStatuses, stuckSeconds)));
  }

  async healReport(since: Date, workspaceId: string | null) {
    return map.toHealReport(await this.call('healReport', map.rpcArgs.healReport(since, workspaceId)));
  }

  async trimRecords(keepDays: number, batch: number) {
    return map.toRecordTrim(await this.call('trimRecords', map.rpcArgs.trimRecords(keepDays, batch)));
  }

  async goalInWorkspace(goalId: string, workspaceId: string) {
    return map.toBoolean('goalInWorkspace', await this.call('goalInWorkspace', map.rpcArgs.goalInWorkspace(goalId, workspaceId)));
  }

  async instanceIdentity() {
    return map.toDatabaseIdentity(await this.call('instanceIdentity', map.rpcArgs.instanceIdentity()));
  }
}
