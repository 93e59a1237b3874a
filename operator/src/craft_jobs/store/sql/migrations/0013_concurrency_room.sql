-- Craft Jobs schema, version 13: how many more runs a tenant or a queue with a
-- concurrency limit may start (its limit less its runs in flight on every
-- engine), for the claim statement. Functions rather than subqueries keep
-- that statement short enough for the client's statement cache; STRICT
-- makes a claim without limits (NULL) skip them without running a query.
-- `limits` is {name: limit}; a tenant not named gets the "*" entry, if any.
CREATE FUNCTION __schema__.tenant_room(limits jsonb, tenant text) RETURNS bigint
LANGUAGE sql STABLE STRICT AS $$
    SELECT coalesce(limits ->> tenant, limits ->> '*')::bigint - count(*)
    FROM __schema__.jobs WHERE state = 'Processing' AND tenant_id = tenant
$$;
CREATE FUNCTION __schema__.queue_room(limits jsonb, queue_name text) RETURNS bigint
LANGUAGE sql STABLE STRICT AS $$
    SELECT (limits ->> queue_name)::bigint - count(*)
    FROM __schema__.jobs WHERE state = 'Processing' AND queue = queue_name AND limits ? queue_name
$$;
