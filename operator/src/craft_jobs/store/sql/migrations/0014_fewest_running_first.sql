-- Craft Jobs schema, version 14: how many runs a tenant has in flight on
-- every engine, for the claim statement's order. A claim used to take the
-- tenants' oldest jobs in turn by their place in line alone, so a freed slot
-- went to the older of two first jobs: a flood's, beside a quiet tenant
-- with nothing running. It now ranks a job by its place plus its tenant's
-- runs in flight, so the tenant with the fewest goes first. Read from the
-- exact counters of version 9 (an index range per tenant) rather than the
-- jobs, whose Processing rows of every tenant it would scan.
CREATE FUNCTION __schema__.tenant_running(tenant text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(jobs), 0)::bigint FROM __schema__.job_counts
    WHERE state = 'Processing' AND tenant_id = tenant
$$;
