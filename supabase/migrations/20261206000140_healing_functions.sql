-- The healing functions. Each entry point is one atomic, idempotent step: repeated, or run by many
-- callers at once, it leaves the same state. Concurrency is handled with row locks taken in one
-- order (goalkeeper_lock_goal, goalkeeper_lock_task) and a per-workspace advisory lock around
-- provisioning, each followed by a second look: never check-then-insert.
-- Every function takes the assignable agent statuses as an argument so that the service's single
-- AGENT_ASSIGNABLE_STATUSES setting is the only definition in force.
--
-- A task counts for a goal only when it is in the goal's own workspace: a task of workspace A whose
-- goal_id names a goal of workspace B is never counted, notified or healed as B's (it would push
-- B's tasks out of the 50-task window and put alerts naming A's task into B's logs). It is
-- reported once, in A's workspace (goalkeeper_report_task_goal_mismatch).
--
-- Every function here runs as SECURITY DEFINER owned by goalkeeper_owner with a fixed search_path
-- (set by goalkeeper_restrict_access, 20261206000110_grants.sql, at this file's end), except the five
-- pure expressions commented 'internal, inlined:', which the planner inlines into their callers.
-- Those commented 'internal' are not callable by the service, only from inside the others.
-- On a database migrated by goalkeeper 0.1 every function here already exists under the same name
-- and arguments and is replaced in place.

-- Signatures these functions had before the stuck-task rule and the agent load limit
-- (AGENT_MAX_OPEN_TASKS) gave them trailing arguments: dropped, so that a call by name finds one
-- function and a database migrated before is left with exactly what a fresh one has.
drop function if exists goalkeeper_pick_agent(uuid, text, text[]);
drop function if exists goalkeeper_acquire_agent(uuid, text, text[], int, uuid, uuid, text);
drop function if exists goalkeeper_goal_tasks(uuid, text[]);
drop function if exists goalkeeper_ensure_goal_task(uuid, text[], int, text);
drop function if exists goalkeeper_ensure_task_agent(uuid, text[], int, text);
drop function if exists goalkeeper_retry_task(uuid, text, text[], int, text);
drop function if exists goalkeeper_goals_needing_care(uuid, int, text[], int, int, int);

-- Rejects an empty or NULL status set: with it every agent would look unassignable and the
-- functions would provision agents for nothing.
create or replace function goalkeeper_check_statuses(p_statuses text[]) returns void
language plpgsql immutable as $$
begin
  if p_statuses is null or cardinality(p_statuses) = 0 then
    raise exception 'assignable agent statuses must not be empty' using errcode = '22023';
  end if;
end $$;
comment on function goalkeeper_check_statuses(text[]) is 'internal: rejects an empty assignable status set';

create or replace function goalkeeper_seniority_rank(p_seniority text) returns int
language sql immutable as $$
  select case lower(coalesce(p_seniority, ''))
    when 'expert' then 0 when 'senior' then 1 when 'junior' then 2 else 3 end
$$;
comment on function goalkeeper_seniority_rank(text) is 'internal, inlined: expert first, then senior, junior, anything else';

-- THE "needs an agent" rule, the only definition of it: every function that decides whether a task
-- must be given an agent asks this one. A task needs an agent when
--   - it is pending, in_progress or failed and has no agent (failed: a retry will need one), or
--   - it is pending and its agent is gone (p_agent_status null while p_agent_id is set) or not in
--     the assignable statuses: the executor would never start it.
-- An in_progress task keeps the agent working on it. With p_statuses null the caller has no status
-- set to judge agents by (the catch-up sweep's page) and only the first case is answered.
create or replace function goalkeeper_task_needs_agent(
  p_status text, p_agent_id uuid, p_agent_status text, p_statuses text[]
) returns boolean language sql immutable as $$
  select case
    when p_agent_id is null then coalesce(p_status in ('pending', 'in_progress', 'failed'), false)
    when p_statuses is null then false
    else coalesce(p_status = 'pending' and (p_agent_status is null or not (p_agent_status = any (p_statuses))), false)
  end
$$;
comment on function goalkeeper_task_needs_agent(text, uuid, text, text[]) is
  'internal, inlined: whether a task needs an agent (the one definition of that rule)';

-- THE "stuck" rule, the only definition of it: a task in_progress whose updated_at is older than
-- TASK_STUCK_AFTER_SECONDS (the platform's own recovery service uses two hours). The executor
-- updates a task it works on, so one untouched that long is held by an agent that is gone or hung.
-- p_now is the caller's now(), passed in so the expression stays IMMUTABLE and inlines. A NULL
-- threshold (a caller that does not judge stuckness) finds nothing stuck.
create or replace function goalkeeper_task_is_stuck(
  p_status text, p_updated_at timestamptz, p_stuck_seconds int, p_now timestamptz
) returns boolean language sql immutable as $$
  select coalesce(p_status = 'in_progress'
                  and p_updated_at < p_now - make_interval(secs => p_stuck_seconds), false)
$$;
comment on function goalkeeper_task_is_stuck(text, timestamptz, int, timestamptz) is
  'internal, inlined: whether a task is stuck (the one definition of that rule)';

-- LOCK ORDER, the only place it is taken: goal row, then task row, then the workspace's
-- workspace's advisory agent lock (goalkeeper_acquire_agent: provisioning, and every pick while
-- AGENT_MAX_OPEN_TASKS is set), then the picked agent row (KEY SHARE).
-- The platform takes a goal before its tasks too, so no two of these deadlock.

-- Locks a goal FOR NO KEY UPDATE and returns it (no row: the goal does not exist). Callers for
-- one goal take turns on it; the platform's own task inserts, whose foreign key check takes FOR
-- KEY SHARE on the goal, do not wait for them.
create or replace function goalkeeper_lock_goal(p_goal_id uuid)
returns table (goal_id uuid, workspace_id uuid, status text, metric_type text, description text, priority int)
language sql as $$
  select g.id, g.workspace_id, g.status::text, g.metric_type::text, g.description::text, g.priority::int
    from workspace_goals g where g.id = p_goal_id
  for no key update
$$;
comment on function goalkeeper_lock_goal(uuid) is 'internal: locks a goal (first in the lock order)';

-- Locks a task FOR UPDATE after its goal FOR SHARE, and returns both (no row: the task does not
-- exist). FOR SHARE on the goal: a close in flight is waited for and then seen, and none can
-- commit until the caller has, so no task is put back to work under a goal that just closed.
create or replace function goalkeeper_lock_task(p_task_id uuid)
returns table (task_id uuid, task_workspace_id uuid, task_goal_id uuid, task_status text,
               task_agent_id uuid, task_role text, goal_status text, goal_workspace_id uuid)
language plpgsql as $$
declare
  v_goal uuid;
begin
  select t.goal_id into v_goal from tasks t where t.id = p_task_id;
  if v_goal is not null then
    select g.status, g.workspace_id into goal_status, goal_workspace_id
      from workspace_goals g where g.id = v_goal for share;
  end if;
  select t.id, t.workspace_id, t.goal_id, t.status, t.agent_id, t.assigned_to_role
    into task_id, task_workspace_id, task_goal_id, task_status, task_agent_id, task_role
    from tasks t where t.id = p_task_id for update;
  if not found then
    return;
  end if;
  if task_goal_id is distinct from v_goal then
    -- Moved to another goal between the two reads: that goal, under the same lock.
    goal_status := null;
    goal_workspace_id := null;
    if task_goal_id is not null then
      select g.status, g.workspace_id into goal_status, goal_workspace_id
        from workspace_goals g where g.id = task_goal_id for share;
    end if;
  end if;
  return next;
end $$;
comment on function goalkeeper_lock_task(uuid) is 'internal: locks a task after its goal (the lock order)';

-- The workspace's advisory agent lock, held to the end of the transaction: provisioning takes it,
-- and with AGENT_MAX_OPEN_TASKS set so does every choice of an agent (goalkeeper_acquire_agent,
-- goalkeeper_retry_task keeping a task's agent), so no two callers fill one agent's last slot.
create or replace function goalkeeper_lock_workspace_agents(p_workspace_id uuid) returns void
language sql as $$
  select pg_advisory_xact_lock(hashtextextended('goalkeeper:provision:' || p_workspace_id::text, 0))
$$;
comment on function goalkeeper_lock_workspace_agents(uuid) is
  'internal: the per-workspace agent lock (after the goal and task locks)';

-- The best assignable agent of a workspace: any other than p_avoid_agent_id first (the agent a
-- stuck task was stuck with), then same role, then the fewest open tasks, then seniority, then id
-- (so the choice is deterministic). With p_max_open_tasks (AGENT_MAX_OPEN_TASKS) an agent already
-- holding that many pending/in_progress tasks is not picked; null: no limit. Open tasks are counted
-- across the workspace's goals: an agent's load is its load, whichever goal gave it the tasks.
create or replace function goalkeeper_pick_agent(
  p_workspace_id uuid, p_role text, p_statuses text[], p_max_open_tasks int default null,
  p_avoid_agent_id uuid default null
) returns uuid language sql stable as $$
  select a.id
  from agents a
  cross join lateral (
    select count(*) as open_tasks from tasks t
     where t.agent_id = a.id and t.status in ('pending', 'in_progress')
  ) l
  where a.workspace_id = p_workspace_id and a.status = any (p_statuses)
    and (p_max_open_tasks is null or l.open_tasks < p_max_open_tasks)
  order by coalesce(a.id = p_avoid_agent_id, false),
           (p_role is not null and a.role = p_role) desc,
           l.open_tasks,
           goalkeeper_seniority_rank(a.seniority),
           a.id
  limit 1
$$;
comment on function goalkeeper_pick_agent(uuid, text, text[], int, uuid) is 'internal: the best assignable agent of a workspace';

-- The kind of healing action an issue type's `AUTO-HEALING:` row records, the one mapping of it
-- (what the heal report counts heals by). An issue type without a name of its own here is counted
-- under its own name, lower-cased, so a new one shows in the report before anyone names it.
create or replace function goalkeeper_heal_kind(p_issue_type text) returns text
language sql immutable as $$
  select case p_issue_type
    when 'NO_TASKS_FOR_GOAL' then 'task_created'
    when 'TASK_WITHOUT_AGENT' then 'agent_assigned'
    when 'NO_AGENTS_AVAILABLE' then 'agent_provisioned'
    when 'TASK_FAILED' then 'task_retried'
    when 'TASK_STUCK' then 'task_requeued'
    else lower(p_issue_type) end
$$;
comment on function goalkeeper_heal_kind(text) is
  'internal, inlined: the heal kind of an issue type''s healing action';

-- Writes one logs row the way the platform reads it, and for a healing row its record in
-- goalkeeper_heal_actions, in the same transaction (the heal report counts those, never log text).
-- The entry point with an idempotency key is goalkeeper_record_event.
create or replace function goalkeeper_write_log(
  p_workspace_id uuid, p_kind text, p_issue_type text, p_text text, p_severity text,
  p_goal_id uuid, p_task_id uuid, p_workflow_id text, p_details jsonb default '{}'::jsonb
) returns uuid language plpgsql as $$
declare v_id uuid;
begin
  insert into logs (workspace_id, type, message, metadata, created_at, updated_at)
  values (
    p_workspace_id, 'system',
    case when p_kind = 'alert' then 'WORKSPACE HEALTH ALERT: ' || p_issue_type
         else 'AUTO-HEALING: ' || p_text end,
    coalesce(p_details, '{}'::jsonb) || jsonb_build_object(
      'source', 'goalkeeper', 'kind', p_kind, 'goal_id', p_goal_id, 'task_id', p_task_id,
      'issue_type', p_issue_type, 'severity', p_severity, 'workflow_id', p_workflow_id,
      'description', p_text),
    now(), now())
  returning id into v_id;
  if p_kind = 'healing' then
    insert into goalkeeper_heal_actions (kind, issue_type, workspace_id, goal_id, task_id, log_id)
    values (goalkeeper_heal_kind(p_issue_type), p_issue_type, p_workspace_id, p_goal_id, p_task_id, v_id);
  end if;
  return v_id;
end $$;
comment on function goalkeeper_write_log(uuid, text, text, text, text, uuid, uuid, text, jsonb) is
  'internal: writes one logs row in the platform''s alert shape';

-- Finds an assignable agent for a task of p_workspace_id or provisions one, bounded by
-- p_max_provisioned goalkeeper-provisioned agents (that still exist) per workspace. Returns
-- {agent_id, provisioned, cap_reached}; agent_id is null only when the cap is reached.
-- p_max_open_tasks (AGENT_MAX_OPEN_TASKS, null: no limit) leaves out agents holding that many open
-- tasks; then every pick is serialised per workspace, not only provisioning: two callers counting
-- an agent's tasks at once would both see room for one more. p_avoid_agent_id is picked only when
-- no other agent fits (goalkeeper_pick_agent).
-- The picked agent is locked FOR KEY SHARE (the lock the task's foreign key check takes anyway,
-- only earlier) and its status read again under the lock: a pick whose agent was deleted or left
-- the assignable statuses meanwhile picks again instead of failing on the foreign key. KEY SHARE
-- blocks only a delete or key change of that agent row; agent rows are never modified.
create or replace function goalkeeper_acquire_agent(
  p_workspace_id uuid, p_role text, p_statuses text[], p_max_provisioned int,
  p_goal_id uuid, p_task_id uuid, p_workflow_id text, p_max_open_tasks int default null,
  p_avoid_agent_id uuid default null
) returns jsonb language plpgsql as $$
declare
  v_agent uuid;
  v_count int;
  v_role text := coalesce(nullif(p_role, ''), 'generalist');
  v_locked boolean;
begin
  if p_max_open_tasks is not null and p_max_open_tasks < 1 then
    raise exception 'agent max open tasks must be at least 1 (null: no limit), got %', p_max_open_tasks
      using errcode = '22023';
  end if;
  -- Without a load limit the first pass looks without the lock (the common case: an agent is
  -- there); with one, the lock comes first and one locked pass decides.
  for v_pass in case when p_max_open_tasks is null then 1 else 2 end .. 2 loop
    if v_pass = 2 then
      -- Serialise provisioning (and, with a load limit, the pick) per workspace, then look again:
      -- a caller that held the lock before us may have provisioned the agent we need, or given an
      -- agent its last free slot (READ COMMITTED sees its commit).
      perform goalkeeper_lock_workspace_agents(p_workspace_id);
    end if;
    -- A few picks at most: each lost one means a concurrent transaction deleted or retired the
    -- agent picked, and the next pick no longer sees it.
    for v_try in 1..5 loop
      v_agent := goalkeeper_pick_agent(p_workspace_id, p_role, p_statuses, p_max_open_tasks, p_avoid_agent_id);
      exit when v_agent is null;
      select true into v_locked from agents
       where id = v_agent and workspace_id = p_workspace_id and status = any (p_statuses)
       for key share;
      if v_locked then
        return jsonb_build_object('agent_id', v_agent, 'provisioned', false, 'cap_reached', false);
      end if;
    end loop;
  end loop;
  -- Only the provisioned agents that still exist count: a workspace whose provisioned agents the
  -- platform deleted can get one again. The bookkeeping rows stay, as a record.
  select count(*) into v_count
    from goalkeeper_provisioned_agents p join agents a on a.id = p.agent_id
   where p.workspace_id = p_workspace_id;
  if v_count >= greatest(p_max_provisioned, 0) then
    return jsonb_build_object('agent_id', null, 'provisioned', false, 'cap_reached', true);
  end if;
  insert into agents (workspace_id, name, role, seniority, status, created_at, updated_at)
  values (p_workspace_id, 'goalkeeper-provisioned ' || v_role || ' agent', v_role, 'senior',
          case when 'active' = any (p_statuses) then 'active' else p_statuses[1] end, now(), now())
  returning id into v_agent;
  insert into goalkeeper_provisioned_agents (agent_id, workspace_id, goal_id, task_id)
  values (v_agent, p_workspace_id, p_goal_id, p_task_id);
  perform goalkeeper_write_log(p_workspace_id, 'healing', 'NO_AGENTS_AVAILABLE',
    'provisioned agent ' || v_agent || ' (' || v_role || ')', 'info', p_goal_id, p_task_id,
    p_workflow_id, jsonb_build_object('agent_id', v_agent));
  return jsonb_build_object('agent_id', v_agent, 'provisioned', true, 'cap_reached', false);
end $$;
comment on function goalkeeper_acquire_agent(uuid, text, text[], int, uuid, uuid, text, int, uuid) is
  'internal: picks or provisions an agent (after the goal and task locks)';

-- Records an alert or a healing action as a logs row, once per idempotency key: an activity
-- retried after a crash (same key) writes no second row. Returns {log_id, created}.
create or replace function goalkeeper_record_event(
  p_idempotency_key text, p_kind text, p_workspace_id uuid, p_goal_id uuid, p_task_id uuid,
  p_issue_type text, p_severity text, p_text text, p_workflow_id text,
  p_details jsonb default '{}'::jsonb
) returns jsonb language plpgsql as $$
declare
  v_log uuid;
  v_claimed text;
begin
  if p_idempotency_key is null or length(p_idempotency_key) = 0 then
    raise exception 'idempotency key must not be empty' using errcode = '22023';
  end if;
  if p_kind not in ('alert', 'healing') then
    raise exception 'kind must be alert or healing, got %', p_kind using errcode = '22023';
  end if;
  if p_issue_type is null or p_issue_type !~ '^[A-Z][A-Z_]*$' then
    raise exception 'issue type must be UPPER_SNAKE_CASE, got %', p_issue_type using errcode = '22023';
  end if;
  -- Claim the key first; a concurrent caller with the same key waits here, then finds it taken.
  insert into goalkeeper_log_keys (idempotency_key, log_id)
  values (p_idempotency_key, gen_random_uuid())
  on conflict (idempotency_key) do nothing
  returning log_id into v_claimed;
  if v_claimed is null then
    select log_id into v_log from goalkeeper_log_keys where idempotency_key = p_idempotency_key;
    return jsonb_build_object('log_id', v_log, 'created', false);
  end if;
  v_log := goalkeeper_write_log(p_workspace_id, p_kind, p_issue_type, p_text, p_severity,
                                p_goal_id, p_task_id, p_workflow_id, p_details);
  update goalkeeper_log_keys set log_id = v_log where idempotency_key = p_idempotency_key;
  -- An alert is also recorded as a fact the heal report counts (goalkeeper_alerts), in the same
  -- transaction as its logs row: one exists exactly when the other does.
  if p_kind = 'alert' then
    insert into goalkeeper_alerts (idempotency_key, issue_type, severity, workspace_id, goal_id, task_id)
    values (p_idempotency_key, p_issue_type, p_severity, p_workspace_id, p_goal_id, p_task_id)
    on conflict (idempotency_key) do nothing;
  end if;
  return jsonb_build_object('log_id', v_log, 'created', true);
end $$;

-- Records that a cycle found an alert over: sets its resolved_at once (a repeated call, or one
-- for a resolution already recorded, leaves the first time). Returns {found, resolved, resolved_at}:
-- found false for a key goalkeeper never recorded an alert under (its logs row was never written,
-- so nobody heard of it); resolved true only for the call that set it.
create or replace function goalkeeper_resolve_alert(p_idempotency_key text)
returns jsonb language plpgsql as $$
declare
  v_at timestamptz;
  v_set boolean := false;
begin
  if p_idempotency_key is null or length(p_idempotency_key) = 0 then
    raise exception 'idempotency key must not be empty' using errcode = '22023';
  end if;
  update goalkeeper_alerts set resolved_at = now()
   where idempotency_key = p_idempotency_key and resolved_at is null
  returning resolved_at into v_at;
  v_set := found;
  if not v_set then
    select resolved_at into v_at from goalkeeper_alerts where idempotency_key = p_idempotency_key;
    if not found then
      return jsonb_build_object('found', false, 'resolved', false, 'resolved_at', null);
    end if;
  end if;
  return jsonb_build_object('found', true, 'resolved', v_set, 'resolved_at', v_at);
end $$;

-- Records a goal's heal episode once it has ended, once per key (the goal workflow's, stable
-- across its retries and runs): from the moment goalkeeper saw a problem to the moment a cycle
-- found the goal healthy. Returns {created}: false when the key was recorded already (the first
-- record's times stay).
create or replace function goalkeeper_record_heal_episode(
  p_episode_key text, p_workspace_id uuid, p_goal_id uuid, p_seen_at timestamptz, p_healed_at timestamptz
) returns jsonb language plpgsql as $$
declare v_key text;
begin
  if p_episode_key is null or length(p_episode_key) = 0 then
    raise exception 'episode key must not be empty' using errcode = '22023';
  end if;
  if p_goal_id is null then
    raise exception 'a heal episode needs its goal id' using errcode = '22023';
  end if;
  if p_seen_at is null or p_healed_at is null or p_healed_at < p_seen_at then
    raise exception 'a heal episode must end (healed_at %) no earlier than it began (seen_at %)', p_healed_at, p_seen_at
      using errcode = '22023';
  end if;
  insert into goalkeeper_heal_episodes (episode_key, workspace_id, goal_id, seen_at, healed_at)
  values (p_episode_key, p_workspace_id, p_goal_id, p_seen_at, p_healed_at)
  on conflict (episode_key) do nothing
  returning episode_key into v_key;
  return jsonb_build_object('created', v_key is not null);
end $$;

-- Reports, once, a task whose goal_id names a goal of another workspace: an alert
-- (TASK_GOAL_WORKSPACE_MISMATCH) in the task's own workspace, keyed in goalkeeper_log_keys by the
-- task and the goal it names, so the change trigger and every later ensure call of that goal
-- write it once between them. The goal it names goes in metadata.named_goal_id, not goal_id: the
-- alert is not about that goal, and that goal's logs must not show another workspace's task.
-- Returns whether this call wrote it.
create or replace function goalkeeper_report_task_goal_mismatch(
  p_task_id uuid, p_task_workspace_id uuid, p_goal_id uuid, p_goal_workspace_id uuid
) returns boolean language plpgsql as $$
begin
  return (goalkeeper_record_event(
    'goalkeeper:task-goal-workspace-mismatch:' || p_task_id || ':' || p_goal_id,
    'alert', p_task_workspace_id, null, p_task_id, 'TASK_GOAL_WORKSPACE_MISMATCH', 'warning',
    format('task %s of workspace %s names goal %s of workspace %s: goalkeeper does not count, '
           'notify or heal it as that goal''s', p_task_id, p_task_workspace_id, p_goal_id, p_goal_workspace_id),
    null,
    jsonb_build_object('named_goal_id', p_goal_id, 'goal_workspace_id', p_goal_workspace_id,
                       'task_workspace_id', p_task_workspace_id))->>'created')::boolean;
end $$;
comment on function goalkeeper_report_task_goal_mismatch(uuid, uuid, uuid, uuid) is
  'internal: reports once a task whose goal is in another workspace';

-- How many of a goal's tasks one heal step reads at most: a bound on what one step carries
-- through the workflow's history. A goal with more tasks in play is told so (ensure-goal-task's
-- more_tasks), and its workflow reads the rest in the cycles after.
create or replace function goalkeeper_goal_task_window() returns int
language sql immutable as $$ select 50 $$;
comment on function goalkeeper_goal_task_window() is
  'internal, inlined: the most tasks of a goal one heal step reads';

-- The goal's tasks that are still in play (not completed or cancelled, and in the goal's own
-- workspace), with whether each needs an agent under p_statuses and its retries on record (a run
-- that meets a failed task for the first time starts from what earlier runs spent). At most
-- goalkeeper_goal_task_window() of them. The tasks that need care are kept first (no assignable
-- agent, then failed with the fewest retries on record, then stuck), then the rest by age; the
-- answer is ordered by age. `stuck` is goalkeeper_task_is_stuck under p_stuck_seconds (null: none is).
create or replace function goalkeeper_goal_tasks(p_goal_id uuid, p_statuses text[], p_stuck_seconds int default null)
returns jsonb language sql stable as $$
  with open_tasks as (
    select t.id, t.status, t.agent_id, a.status as agent_status, t.assigned_to_role as role, t.created_at,
           goalkeeper_task_needs_agent(t.status, t.agent_id, a.status, p_statuses) as needs_agent,
           goalkeeper_task_is_stuck(t.status, t.updated_at, p_stuck_seconds, now()) as stuck,
           (select count(*) from goalkeeper_task_attempts r where r.task_id = t.id) as retries_recorded
      from workspace_goals g
      join tasks t on t.goal_id = g.id and t.workspace_id = g.workspace_id
      left join agents a on a.id = t.agent_id
     where g.id = p_goal_id and t.status not in ('completed', 'cancelled')
  ), kept as (
    select * from open_tasks
     order by needs_agent desc, (status = 'failed' or stuck) desc, retries_recorded, created_at, id
     limit goalkeeper_goal_task_window()
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', id, 'status', status, 'agent_id', agent_id, 'agent_status', agent_status,
           'role', role, 'needs_agent', needs_agent, 'stuck', stuck, 'retries_recorded', retries_recorded)
         order by created_at, id), '[]'::jsonb)
  from kept
$$;
comment on function goalkeeper_goal_tasks(uuid, text[], int) is
  'internal: a goal''s tasks in play, answered by goalkeeper_ensure_goal_task';

-- Makes sure an active goal has a task. Outcomes: closed (goal missing or not active), exists,
-- created (one task written together with its agent), no_agent (no agent could be found or
-- provisioned, so no task was written: production's check_agent_assignment forbids an open task
-- without one). The goal row lock makes concurrent callers for one goal take turns, so twenty at
-- once still create one task. p_max_open_tasks is AGENT_MAX_OPEN_TASKS (goalkeeper_acquire_agent),
-- p_stuck_seconds TASK_STUCK_AFTER_SECONDS (each answered task says whether it is stuck).
create or replace function goalkeeper_ensure_goal_task(
  p_goal_id uuid, p_assignable_statuses text[], p_max_provisioned int, p_workflow_id text default null,
  p_max_open_tasks int default null, p_stuck_seconds int default null
) returns jsonb language plpgsql as $$
declare
  g record;
  m record;
  v_acquired jsonb;
  v_task uuid;
  v_outcome text;
  v_goal jsonb;
begin
  perform goalkeeper_check_statuses(p_assignable_statuses);
  select * into g from goalkeeper_lock_goal(p_goal_id);
  if g.goal_id is null then
    return jsonb_build_object('outcome', 'closed', 'reason', 'goal_not_found', 'goal', null,
                              'tasks', '[]'::jsonb);
  end if;
  -- The goal's text as the workflow needs it, bounded: this answer is an activity result and then
  -- workflow state (carried by every continue-as-new) and its memo, and Temporal refuses a payload
  -- over its limit (a multi-megabyte description would wedge the goal's workflow). Cut as
  -- workflows/visibility.ts cuts what it shows (MAX_MEMO_TEXT_CHARS 1000, MAX_KEYWORD_CHARS 200,
  -- an ellipsis in the last place), so the memo shows the same text either way. The rows keep
  -- their text whole; the task written below takes the goal's full description.
  v_goal := jsonb_build_object('id', g.goal_id, 'workspace_id', g.workspace_id, 'status', g.status,
                               'metric_type', case when length(g.metric_type) > 200
                                                   then left(g.metric_type, 199) || '…' else g.metric_type end,
                               'description', case when length(g.description) > 1000
                                                   then left(g.description, 999) || '…' else g.description end);
  -- Tasks of other workspaces naming this goal (written before the change trigger existed, or
  -- while it could not report): reported once each, and left out of everything below.
  for m in
    select t.id, t.workspace_id from tasks t
     where t.goal_id = g.goal_id and t.workspace_id <> g.workspace_id
     order by t.id limit 50
  loop
    perform goalkeeper_report_task_goal_mismatch(m.id, m.workspace_id, g.goal_id, g.workspace_id);
  end loop;
  if g.status is distinct from 'active' then
    return jsonb_build_object('outcome', 'closed', 'reason', 'goal_' || coalesce(g.status, 'null'),
                              'goal', v_goal, 'tasks', '[]'::jsonb);
  end if;

  -- A cancelled task no longer works towards the goal; any other status does.
  if exists (select 1 from tasks t where t.goal_id = g.goal_id and t.workspace_id = g.workspace_id
                                     and t.status <> 'cancelled') then
    v_outcome := 'exists';
  else
    v_acquired := goalkeeper_acquire_agent(g.workspace_id, null, p_assignable_statuses,
                                           p_max_provisioned, g.goal_id, null, p_workflow_id,
                                           p_max_open_tasks);
    if v_acquired->>'agent_id' is null then
      v_outcome := 'no_agent';
    else
      insert into tasks (workspace_id, agent_id, name, description, status, priority, goal_id,
                         metric_type, context_data, created_at, updated_at)
      values (g.workspace_id, (v_acquired->>'agent_id')::uuid,
              left('Deliver ' || coalesce(nullif(g.description, ''), g.metric_type), 200),
              coalesce(g.description, 'Work towards the goal''s ' || g.metric_type || ' target'),
              'pending',
              -- Goal priority 1 is the most urgent (the platform's P1 convention).
              case when coalesce(g.priority, 1) <= 1 then 'high'
                   when g.priority <= 3 then 'medium' else 'low' end,
              g.goal_id, g.metric_type,
              jsonb_build_object('created_by', 'goalkeeper', 'workflow_id', p_workflow_id),
              now(), now())
      returning id into v_task;
      perform goalkeeper_write_log(g.workspace_id, 'healing', 'NO_TASKS_FOR_GOAL',
        'created task ' || v_task || ' for goal ' || g.goal_id, 'info', g.goal_id, v_task, p_workflow_id,
        jsonb_build_object('agent_id', v_acquired->>'agent_id'));
      v_outcome := 'created';
    end if;
  end if;
  return jsonb_build_object(
    'outcome', v_outcome, 'goal', v_goal, 'created_task_id', v_task,
    'provisioned_agent', coalesce((v_acquired->>'provisioned')::boolean, false),
    'tasks', goalkeeper_goal_tasks(p_goal_id, p_assignable_statuses, p_stuck_seconds),
    'more_tasks', (select count(*) from (select 1 from tasks t
                                          where t.goal_id = g.goal_id and t.workspace_id = g.workspace_id
                                            and t.status not in ('completed', 'cancelled')
                                          limit goalkeeper_goal_task_window() + 1) x)
                  > goalkeeper_goal_task_window());
end $$;

-- Makes sure a task has an assignable agent (goalkeeper_task_needs_agent decides whether it needs
-- one); existing agent rows are never modified. Outcomes: not_found (no such task, or a task whose
-- goal is in another workspace: not goalkeeper's to heal as that goal's), ok (nothing to do),
-- assigned, no_agent (cap reached).
create or replace function goalkeeper_ensure_task_agent(
  p_task_id uuid, p_assignable_statuses text[], p_max_provisioned int, p_workflow_id text default null,
  p_max_open_tasks int default null
) returns jsonb language plpgsql as $$
declare
  t record;
  v_agent_status text;
  v_acquired jsonb;
begin
  perform goalkeeper_check_statuses(p_assignable_statuses);
  select * into t from goalkeeper_lock_task(p_task_id);
  if t.task_id is null then
    return jsonb_build_object('outcome', 'not_found', 'task_id', p_task_id);
  end if;
  if t.goal_workspace_id is not null and t.goal_workspace_id <> t.task_workspace_id then
    return jsonb_build_object('outcome', 'not_found', 'task_id', p_task_id,
                              'reason', 'task_goal_workspace_mismatch');
  end if;
  select a.status into v_agent_status from agents a where a.id = t.task_agent_id;
  if not goalkeeper_task_needs_agent(t.task_status, t.task_agent_id, v_agent_status, p_assignable_statuses) then
    return jsonb_build_object('outcome', 'ok', 'task_id', t.task_id, 'agent_id', t.task_agent_id);
  end if;
  v_acquired := goalkeeper_acquire_agent(t.task_workspace_id, t.task_role, p_assignable_statuses,
                                         p_max_provisioned, t.task_goal_id, t.task_id, p_workflow_id,
                                         p_max_open_tasks);
  if v_acquired->>'agent_id' is null then
    return jsonb_build_object('outcome', 'no_agent', 'task_id', t.task_id, 'agent_id', t.task_agent_id);
  end if;
  update tasks set agent_id = (v_acquired->>'agent_id')::uuid, updated_at = now() where id = t.task_id;
  perform goalkeeper_write_log(t.task_workspace_id, 'healing', 'TASK_WITHOUT_AGENT',
    'assigned agent ' || (v_acquired->>'agent_id') || ' to task ' || t.task_id, 'info', t.task_goal_id,
    t.task_id, p_workflow_id, jsonb_build_object('agent_id', v_acquired->>'agent_id',
                                                 'previous_agent_id', t.task_agent_id,
                                                 'provisioned', v_acquired->'provisioned'));
  return jsonb_build_object('outcome', 'assigned', 'task_id', t.task_id,
                            'agent_id', v_acquired->>'agent_id',
                            'provisioned', v_acquired->'provisioned');
end $$;

-- Records one attempt on a task (a failed task retried, a stuck one put back: one budget for
-- both) under p_request_key, and returns its number. Called with the task's row lock held, so the
-- next number cannot race another attempt on the same task; the callers look the key up first.
create or replace function goalkeeper_record_task_attempt(
  p_task_id uuid, p_request_key text, p_goal_id uuid, p_workflow_id text
) returns int language plpgsql as $$
declare v_attempt int;
begin
  select coalesce(max(attempt), 0) + 1 into v_attempt from goalkeeper_task_attempts where task_id = p_task_id;
  insert into goalkeeper_task_attempts (task_id, attempt, request_key, goal_id, workflow_id)
  values (p_task_id, v_attempt, p_request_key, p_goal_id, p_workflow_id);
  return v_attempt;
end $$;
comment on function goalkeeper_record_task_attempt(uuid, text, uuid, text) is
  'internal: records one attempt on a task (under its row lock) and returns its number';

-- Puts a failed task back to pending with an assignable agent in one UPDATE, so that a production
-- check_agent_assignment holds at every moment, and records the attempt (tasks has no retry
-- counter). p_request_key is the idempotency key: the same request twice retries once.
-- Outcomes: not_found (as for goalkeeper_ensure_task_agent), not_failed, already_retried,
-- goal_closed (the backoff before a retry lasts minutes: a goal completed or archived meanwhile
-- gets no task put back to work), retried, no_agent (the task stays failed).
create or replace function goalkeeper_retry_task(
  p_task_id uuid, p_request_key text, p_assignable_statuses text[], p_max_provisioned int,
  p_workflow_id text default null, p_max_open_tasks int default null
) returns jsonb language plpgsql as $$
declare
  t record;
  v_agent uuid;
  v_acquired jsonb;
  v_attempt int;
begin
  perform goalkeeper_check_statuses(p_assignable_statuses);
  if p_request_key is null or length(p_request_key) = 0 then
    raise exception 'retry request key must not be empty' using errcode = '22023';
  end if;
  select * into t from goalkeeper_lock_task(p_task_id);
  if t.task_id is null then
    return jsonb_build_object('outcome', 'not_found', 'task_id', p_task_id);
  end if;
  select attempt into v_attempt from goalkeeper_task_attempts where request_key = p_request_key;
  if found then
    return jsonb_build_object('outcome', 'already_retried', 'task_id', t.task_id, 'agent_id', t.task_agent_id,
                              'attempt', v_attempt);
  end if;
  if t.goal_workspace_id is not null and t.goal_workspace_id <> t.task_workspace_id then
    return jsonb_build_object('outcome', 'not_found', 'task_id', p_task_id,
                              'reason', 'task_goal_workspace_mismatch');
  end if;
  if t.task_status <> 'failed' then
    return jsonb_build_object('outcome', 'not_failed', 'task_id', t.task_id, 'status', t.task_status);
  end if;
  if t.task_goal_id is not null and t.goal_status is distinct from 'active' then
    return jsonb_build_object('outcome', 'goal_closed', 'task_id', t.task_id,
                              'goal_status', coalesce(t.goal_status, 'deleted'));
  end if;
  -- The task keeps its agent if that one is assignable and, under a load limit, has room for it
  -- (counted under the workspace's agent lock, as goalkeeper_acquire_agent counts).
  if p_max_open_tasks is not null then
    perform goalkeeper_lock_workspace_agents(t.task_workspace_id);
  end if;
  select a.id into v_agent from agents a
   where a.id = t.task_agent_id and a.status = any (p_assignable_statuses)
     and (p_max_open_tasks is null
          or (select count(*) from tasks o
               where o.agent_id = a.id and o.status in ('pending', 'in_progress')) < p_max_open_tasks);
  if v_agent is null then
    v_acquired := goalkeeper_acquire_agent(t.task_workspace_id, t.task_role, p_assignable_statuses,
                                           p_max_provisioned, t.task_goal_id, t.task_id, p_workflow_id,
                                           p_max_open_tasks);
    v_agent := (v_acquired->>'agent_id')::uuid;
    if v_agent is null then
      return jsonb_build_object('outcome', 'no_agent', 'task_id', t.task_id);
    end if;
  end if;
  update tasks set status = 'pending', agent_id = v_agent, updated_at = now() where id = t.task_id;
  v_attempt := goalkeeper_record_task_attempt(t.task_id, p_request_key, t.task_goal_id, p_workflow_id);
  perform goalkeeper_write_log(t.task_workspace_id, 'healing', 'TASK_FAILED',
    'retried task ' || t.task_id || ' (attempt ' || v_attempt || ') with agent ' || v_agent, 'info',
    t.task_goal_id, t.task_id, p_workflow_id, jsonb_build_object('agent_id', v_agent, 'attempt', v_attempt));
  return jsonb_build_object('outcome', 'retried', 'task_id', t.task_id, 'agent_id', v_agent,
                            'attempt', v_attempt);
end $$;

-- Puts a stuck task (goalkeeper_task_is_stuck under p_stuck_seconds) back to pending, in one UPDATE
-- with an assignable agent other than the one it was stuck with where one exists (else that one,
-- or a provisioned one, as goalkeeper_acquire_agent decides), and records the attempt against the
-- same budget as failed retries (goalkeeper_task_attempts). p_request_key is the idempotency key,
-- as for goalkeeper_retry_task. Under the goal, then the task lock it looks again: a task that
-- moved on meanwhile (the executor updated or finished it) is left alone.
-- Outcomes: not_found (as for goalkeeper_ensure_task_agent), already_requeued, not_stuck,
-- goal_closed, requeued, no_agent (the task is left as it is).
create or replace function goalkeeper_requeue_stuck_task(
  p_task_id uuid, p_request_key text, p_assignable_statuses text[], p_max_provisioned int,
  p_stuck_seconds int, p_workflow_id text default null, p_max_open_tasks int default null
) returns jsonb language plpgsql as $$
declare
  t record;
  v_updated_at timestamptz;
  v_agent uuid;
  v_attempt int;
begin
  perform goalkeeper_check_statuses(p_assignable_statuses);
  if p_request_key is null or length(p_request_key) = 0 then
    raise exception 'requeue request key must not be empty' using errcode = '22023';
  end if;
  if p_stuck_seconds is null or p_stuck_seconds < 1 then
    raise exception 'stuck threshold must be a positive number of seconds, got %', p_stuck_seconds
      using errcode = '22023';
  end if;
  select * into t from goalkeeper_lock_task(p_task_id);
  if t.task_id is null then
    return jsonb_build_object('outcome', 'not_found', 'task_id', p_task_id);
  end if;
  select attempt into v_attempt from goalkeeper_task_attempts where request_key = p_request_key;
  if found then
    return jsonb_build_object('outcome', 'already_requeued', 'task_id', t.task_id,
                              'agent_id', t.task_agent_id, 'attempt', v_attempt);
  end if;
  if t.goal_workspace_id is not null and t.goal_workspace_id <> t.task_workspace_id then
    return jsonb_build_object('outcome', 'not_found', 'task_id', p_task_id,
                              'reason', 'task_goal_workspace_mismatch');
  end if;
  -- The row is locked: what is read now is what the update below replaces.
  select updated_at into v_updated_at from tasks where id = t.task_id;
  if not goalkeeper_task_is_stuck(t.task_status, v_updated_at, p_stuck_seconds, now()) then
    return jsonb_build_object('outcome', 'not_stuck', 'task_id', t.task_id, 'status', t.task_status);
  end if;
  if t.task_goal_id is not null and t.goal_status is distinct from 'active' then
    return jsonb_build_object('outcome', 'goal_closed', 'task_id', t.task_id,
                              'goal_status', coalesce(t.goal_status, 'deleted'));
  end if;
  v_agent := (goalkeeper_acquire_agent(t.task_workspace_id, t.task_role, p_assignable_statuses,
                                       p_max_provisioned, t.task_goal_id, t.task_id, p_workflow_id,
                                       p_max_open_tasks, t.task_agent_id)->>'agent_id')::uuid;
  if v_agent is null then
    return jsonb_build_object('outcome', 'no_agent', 'task_id', t.task_id, 'agent_id', t.task_agent_id);
  end if;
  update tasks set status = 'pending', agent_id = v_agent, updated_at = now() where id = t.task_id;
  v_attempt := goalkeeper_record_task_attempt(t.task_id, p_request_key, t.task_goal_id, p_workflow_id);
  perform goalkeeper_write_log(t.task_workspace_id, 'healing', 'TASK_STUCK',
    'requeued stuck task ' || t.task_id || ' (in progress since ' || v_updated_at || ', attempt ' || v_attempt
      || ') with agent ' || v_agent,
    'info', t.task_goal_id, t.task_id, p_workflow_id,
    jsonb_build_object('agent_id', v_agent, 'previous_agent_id', t.task_agent_id, 'attempt', v_attempt,
                       'stuck_since', v_updated_at));
  return jsonb_build_object('outcome', 'requeued', 'task_id', t.task_id, 'agent_id', v_agent,
                            'previous_agent_id', t.task_agent_id, 'attempt', v_attempt);
end $$;

-- Active goals after p_after in id order (keyset pagination for the catch-up sweep), each with
-- whether it has a task working towards it (any task of its workspace that is not cancelled, as
-- goalkeeper_ensure_goal_task counts) and whether one needs a heal (failed, or needs an agent by
-- the rule's agent-less case: the page has no status set to judge agents by).
create or replace function goalkeeper_list_active_goals(p_after uuid, p_limit int)
returns jsonb language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', g.id, 'workspace_id', g.workspace_id,
           'needs_heal', exists (
             select 1 from tasks t
              where t.goal_id = g.id and t.workspace_id = g.workspace_id
                and (t.status = 'failed' or goalkeeper_task_needs_agent(t.status, t.agent_id, null, null))),
           'has_task', exists (
             select 1 from tasks t
              where t.goal_id = g.id and t.workspace_id = g.workspace_id and t.status <> 'cancelled'))
         order by g.id), '[]'::jsonb)
  from (select id, workspace_id from workspace_goals
         where status = 'active' and (p_after is null or id > p_after)
         order by id limit least(greatest(coalesce(p_limit, 1), 1), 5000)) g
$$;

-- The fleet check: one set-based read per GOAL_TASK_HEALTH_CHECK_INTERVAL that finds, among a page
-- of active goals, the ones that need care, so only those are signalled and healthy goals are not
-- touched. Each goal is named with why (the first reason that holds):
--   no_task           no task works towards it (any task that is not cancelled counts, as in
--                     goalkeeper_ensure_goal_task);
--   task_without_agent a task in play needs an agent (goalkeeper_task_needs_agent; a failed one is
--                     failed_task's);
--   failed_task       a failed task has retries left on record, or failed within the last two
--                     intervals (a lost event must still bring its RETRIES_EXHAUSTED alert; older
--                     spent budgets wait for a human and are not named again);
--   stuck_task        a task is stuck (goalkeeper_task_is_stuck under p_stuck_seconds) and has
--                     retries left on record, or became stuck within the last two intervals (its
--                     TASK_STUCK alert is still to be raised; older ones wait for a human). No
--                     trigger can see a task go stuck, and a timer per healthy goal would cost
--                     Actions at rest: this check is how a goal learns it. Null: not looked for;
--   stalled           every task is completed, and the last one finished within the two intervals
--                     before the stall window closed (so a stalled goal is named once or twice,
--                     not every interval after; its workflow's own timer is the first line);
--   stall_over        a goal that was stalled (its last task completed a stall window or more
--                     before) got a new task from the platform in the last two intervals: no
--                     trigger announces a new task, and its GOAL_STALLED alert should close.
-- Only the goal's own workspace's tasks count, as everywhere. Keyset pagination over active goals
-- (id > p_after): the answer says how many goals the page scanned and where the next page starts
-- (null: the fleet is done).
create or replace function goalkeeper_goals_needing_care(
  p_after uuid, p_limit int, p_assignable_statuses text[], p_max_retries int,
  p_stall_seconds int, p_interval_seconds int, p_stuck_seconds int default null
) returns jsonb language sql stable as $$
  with page as (
    select id, workspace_id from workspace_goals
     where status = 'active' and (p_after is null or id > p_after)
     order by id limit least(greatest(coalesce(p_limit, 1), 1), 5000)
  ), facts as (
    -- One pass over each goal's tasks (one probe of the goal's index), so the check costs about
    -- what the old poller's scan did; the stall-over detail is looked at only for goals that got
    -- a platform task lately, and retries on record only for failed tasks.
    select p.id, f.*,
           f.recent_platform_task and exists (
             select 1 from tasks n
              where n.goal_id = p.id and n.workspace_id = p.workspace_id and n.status not in ('completed', 'cancelled')
                and n.created_at >= now() - make_interval(secs => 2 * p_interval_seconds)
                and coalesce(n.context_data->>'created_by', '') <> 'goalkeeper'
                and not exists (select 1 from tasks o
                                 where o.goal_id = p.id and o.workspace_id = p.workspace_id and o.id <> n.id
                                   and o.created_at < n.created_at and o.status not in ('completed', 'cancelled'))
                and exists (select 1 from tasks c
                             where c.goal_id = p.id and c.workspace_id = p.workspace_id and c.status = 'completed'
                               and c.updated_at <= n.created_at - make_interval(secs => p_stall_seconds))) as stall_over
      from page p
      cross join lateral (
        select count(*) filter (where t.status <> 'cancelled') = 0 as no_task,
               coalesce(bool_or(t.status <> 'failed'
                                and goalkeeper_task_needs_agent(t.status, t.agent_id, a.status, p_assignable_statuses)), false) as task_without_agent,
               coalesce(bool_or(t.status = 'failed'
                                and (t.updated_at >= now() - make_interval(secs => 2 * p_interval_seconds)
                                     or (select count(*) from goalkeeper_task_attempts r where r.task_id = t.id) < p_max_retries)), false) as failed_task,
               coalesce(bool_or(goalkeeper_task_is_stuck(t.status, t.updated_at, p_stuck_seconds, now())
                                and (t.updated_at >= now() - make_interval(secs => p_stuck_seconds + 2 * p_interval_seconds)
                                     or (select count(*) from goalkeeper_task_attempts r where r.task_id = t.id) < p_max_retries)), false) as stuck_task,
               max(t.updated_at) filter (where t.status = 'completed') as last_completed,
               coalesce(bool_or(t.status not in ('completed', 'cancelled')), false) as task_open,
               coalesce(bool_or(t.status not in ('completed', 'cancelled')
                                and t.created_at >= now() - make_interval(secs => 2 * p_interval_seconds)
                                and coalesce(t.context_data->>'created_by', '') <> 'goalkeeper'), false) as recent_platform_task
          from tasks t
          left join agents a on a.id = t.agent_id
         where t.goal_id = p.id and t.workspace_id = p.workspace_id
      ) f
  )
  select jsonb_build_object(
    'scanned', (select count(*) from page),
    'next', case when (select count(*) from page) = least(greatest(coalesce(p_limit, 1), 1), 5000)
                 then (select id from page order by id desc limit 1) end,
    'goals', coalesce((
      select jsonb_agg(jsonb_build_object('id', f.id, 'why',
               case when f.no_task then 'no_task'
                    when f.task_without_agent then 'task_without_agent'
                    when f.failed_task then 'failed_task'
                    when f.stuck_task then 'stuck_task'
                    when f.stall_over then 'stall_over'
                    else 'stalled' end) order by f.id)
        from facts f
       where f.no_task or f.task_without_agent or f.failed_task or f.stuck_task or f.stall_over
          or (not f.task_open and f.last_completed is not null
              and f.last_completed <  now() - make_interval(secs => p_stall_seconds)
              and f.last_completed >= now() - make_interval(secs => p_stall_seconds + 2 * p_interval_seconds))), '[]'::jsonb))
$$;

select goalkeeper_restrict_access();
