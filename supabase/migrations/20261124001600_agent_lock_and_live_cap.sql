-- Two fixes to goalkeeper_acquire_agent.
--
-- 1. The picked agent is locked (FOR KEY SHARE, the lock the task's foreign key check takes anyway,
--    only earlier) and its status read again under the lock. Before, an agent deleted between the
--    pick and the task's update failed the step with a foreign key violation (23503, not
--    retryable: a HEAL_STEP_FAILED alert for a race the next pick would have won); now a pick
--    whose agent went away, or left the assignable statuses, picks again. KEY SHARE blocks only a
--    delete or a key change of that agent row for the rest of the transaction, never an update of
--    its status or other columns, and agent rows are still never modified.
-- 2. The cap counts the provisioned agents that still exist. Counting every agent goalkeeper ever
--    provisioned meant a workspace whose provisioned agents the platform deleted could never get
--    one again (NO_AGENTS_AVAILABLE for good). The bookkeeping rows stay, as a record.
create or replace function goalkeeper_acquire_agent(
  p_workspace_id uuid, p_role text, p_statuses text[], p_max_provisioned int,
  p_goal_id uuid, p_task_id uuid, p_workflow_id text
) returns jsonb language plpgsql as $$
declare
  v_agent uuid;
  v_count int;
  v_role text := coalesce(nullif(p_role, ''), 'generalist');
  v_locked boolean;
begin
  for v_pass in 1..2 loop
    if v_pass = 2 then
      -- Serialise provisioning per workspace, then look again: a caller that held the lock
      -- before us may have provisioned the agent we need (READ COMMITTED sees its commit).
      perform pg_advisory_xact_lock(hashtextextended('goalkeeper:provision:' || p_workspace_id::text, 0));
    end if;
    -- A few picks at most: each lost one means a concurrent transaction deleted or retired the
    -- agent picked, and the next pick no longer sees it.
    for v_try in 1..5 loop
      v_agent := goalkeeper_pick_agent(p_workspace_id, p_role, p_statuses);
      exit when v_agent is null;
      select true into v_locked from agents
       where id = v_agent and workspace_id = p_workspace_id and status = any (p_statuses)
       for key share;
      if v_locked then
        return jsonb_build_object('agent_id', v_agent, 'provisioned', false, 'cap_reached', false);
      end if;
    end loop;
  end loop;
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

select goalkeeper_restrict_access();
