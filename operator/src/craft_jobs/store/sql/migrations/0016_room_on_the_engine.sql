-- Craft Jobs schema, version 16: a claim gives a tenant no more than its room
-- on the claiming engine either (engine/headroom.py: slots kept for quiet
-- tenants beside a flood). The engine counts its own runs and passes the
-- rooms as {tenant: room, "*": that of one not named}, or NULL for none. A
-- function, as in version 13, keeps the claim statement short enough for
-- the client's statement cache.
CREATE FUNCTION __schema__.tenant_room(limits jsonb, engine_rooms jsonb, tenant text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT least(__schema__.tenant_room(limits, tenant),
                 coalesce(engine_rooms ->> tenant, engine_rooms ->> '*')::bigint)
$$;
