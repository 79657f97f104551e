/**
 * One Temporal namespace serves one database. Goal workflow ids are goal-<goal id>, so a second
 * database with the same goal ids (a staging clone, a restored dump) pointed at the same namespace
 * would signal and steer the first one's workflows, and each would "heal" the other's goals with
 * its own rows. At start-up (`goalkeeper start`, `worker`, `up`), and before `reconcile` or `heal`
 * signals or starts a goal workflow, goalkeeper reads its database's
 * identity (goalkeeper_instance_id(): an instance uuid, the cluster's system identifier, the
 * database's oid; supabase/migrations/20261206000300_instance_identity.sql) and the namespace's
 * claim, and refuses to run, with one line naming both, when they differ.
 *
 * The claim is the memo of a schedule, `goalkeeper-namespace-claim`, that never runs (created
 * paused, with no times): a schedule id is unique in its namespace and its creation is atomic, so
 * two databases starting at once on an unclaimed namespace cannot both claim it, and it needs no
 * rights beyond what goalkeeper's reconcile schedule already needs. Deleting it (or `goalkeeper
 * claim-namespace --force`) hands the namespace over.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { DatabaseIdentity, HealingStore } from '../activities/store-port';

export const CLAIM_SCHEDULE_ID = 'goalkeeper-namespace-claim';
/** Never started: the schedule is paused and has no times. Named so the UI says what it is. */
const CLAIM_WORKFLOW_TYPE = 'goalkeeperNamespaceClaim';

export interface NamespaceClaim extends DatabaseIdentity {
  claimedAt: string;
}

/** Why a database may not use a namespace: the claim it found, and what this database is. */
export class NamespaceClaimError extends Error {
  constructor(
    readonly namespace: string,
    readonly claim: NamespaceClaim,
    readonly self: DatabaseIdentity,
  ) {
    super(claimConflictLine(namespace, claim, self));
    this.name = 'NamespaceClaimError';
  }
}

function describeIdentity(d: DatabaseIdentity): string {
  return `${d.instanceId} (database ${d.databaseName}, oid ${d.databaseOid}, cluster ${d.systemIdentifier ?? 'unknown'})`;
}

/** The one line `start` refuses with: both identities, and the two ways out. */
export function claimConflictLine(namespace: string, claim: NamespaceClaim, self: DatabaseIdentity): string {
  const copy = claim.instanceId === self.instanceId ? ' This database is a copy (clone or restore) of that one.' : '';
  return (
    `Temporal namespace "${namespace}" already serves database ${describeIdentity(claim)}, claimed ${claim.claimedAt}; ` +
    `this is database ${describeIdentity(self)}.${copy} Point TEMPORAL_NAMESPACE at a namespace of its own, ` +
    `or, once that database no longer uses this namespace, run \`goalkeeper claim-namespace --force\`.`
  );
}

/** Whether `claim` is this database's: every part of the identity must agree (see the migration). */
export function sameDatabase(claim: DatabaseIdentity, self: DatabaseIdentity): boolean {
  return (
    claim.instanceId === self.instanceId &&
    claim.databaseOid === self.databaseOid &&
    // A host that refuses pg_control_system() on one side cannot be compared on this part.
    (claim.systemIdentifier === null || self.systemIdentifier === null || claim.systemIdentifier === self.systemIdentifier)
  );
}

function toClaim(memo: Record<string, unknown> | undefined): NamespaceClaim | null {
  const c = memo?.claim as Partial<NamespaceClaim> | undefined;
  if (!c || typeof c.instanceId !== 'string' || typeof c.databaseOid !== 'string') return null;
  return {
    instanceId: c.instanceId,
    systemIdentifier: typeof c.systemIdentifier === 'string' ? c.systemIdentifier : null,
    databaseOid: c.databaseOid,
    databaseName: typeof c.databaseName === 'string' ? c.databaseName : '?',
    claimedAt: typeof c.claimedAt === 'string' ? c.claimedAt : '?',
  };
}

/** The namespace's claim, or null when none was made. */
export async function readClaim(client: Client): Promise<NamespaceClaim | null> {
  try {
    const described = await client.schedule.getHandle(CLAIM_SCHEDULE_ID).describe();
    const claim = toClaim(described.memo);
    if (!claim) throw new Error(`schedule ${CLAIM_SCHEDULE_ID} in this namespace holds no goalkeeper claim: delete it, or use another namespace`);
    return claim;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return null;
    throw err;
  }
}

async function createClaim(client: Client, self: DatabaseIdentity, taskQueue: string): Promise<void> {
  const claim: NamespaceClaim = { ...self, claimedAt: new Date().toISOString() };
  await client.schedule.create({
    scheduleId: CLAIM_SCHEDULE_ID,
    spec: {},
    action: { type: 'startWorkflow', workflowType: CLAIM_WORKFLOW_TYPE, taskQueue, args: [] },
    state: { paused: true, note: `goalkeeper: this namespace serves database ${describeIdentity(self)}; never runs` },
    memo: { claim },
  });
}

export type ClaimOutcome = 'claimed' | 'already_ours';

/**
 * Makes sure the namespace serves this database: claims it if unclaimed, passes if the claim is
 * this database's, throws NamespaceClaimError otherwise. Of two databases claiming an unclaimed
 * namespace at once, one creates the schedule; the other finds it and is compared like any later
 * start.
 */
export async function ensureNamespaceClaim(
  client: Client,
  namespace: string,
  self: DatabaseIdentity,
  taskQueue: string,
): Promise<ClaimOutcome> {
  let claim = await readClaim(client);
  if (!claim) {
    try {
      await createClaim(client, self, taskQueue);
      return 'claimed';
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      claim = await readClaim(client);
      if (!claim) throw err;
    }
  }
  if (!sameDatabase(claim, self)) throw new NamespaceClaimError(namespace, claim, self);
  return 'already_ours';
}

/**
 * What a command that signals or starts goal workflows (`reconcile`, `heal`) runs before its first
 * one: the namespace must serve this store's database, as for `start`. Claims an unclaimed
 * namespace (the command is about to act in it for this database); throws NamespaceClaimError on
 * another database's claim.
 */
export async function ensureServesDatabase(
  client: Client,
  store: Pick<HealingStore, 'instanceIdentity'>,
  temporal: { namespace: string; taskQueue: string },
): Promise<ClaimOutcome> {
  return ensureNamespaceClaim(client, temporal.namespace, await store.instanceIdentity(), temporal.taskQueue);
}

/** `goalkeeper claim-namespace --force`: the namespace serves this database from now on. Returns
 * the claim it replaced (null if there was none). */
export async function forceClaim(client: Client, self: DatabaseIdentity, taskQueue: string): Promise<NamespaceClaim | null> {
  const previous = await readClaim(client).catch(() => null);
  try {
    await client.schedule.getHandle(CLAIM_SCHEDULE_ID).delete();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
  await createClaim(client, self, taskQueue);
  return previous;
}
