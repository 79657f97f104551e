-- Agent statuses in use and how many agents hold each, so goalkeeper can warn about a status its
-- configuration does not know (the seed incident began with components disagreeing on statuses).
create or replace function goalkeeper_agent_status_counts()
returns jsonb language sql stable as $$
  select coalesce(jsonb_object_agg(status, n), '{}'::jsonb)
  from (select status, count(*) as n from agents group by status) s
$$;

select goalkeeper_restrict_access();
