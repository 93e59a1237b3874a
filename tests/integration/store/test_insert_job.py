"""insert_job's two statements: a resource's job is stored once per uid, on
either connection kind; other jobs never conflict, and each writes its
history, audit and counter rows."""

from __future__ import annotations

import psycopg

from tests.integration.dashboard.factory import new_job

RESOURCE = {"cr_uid": "0b6f5a52-uid", "cr_namespace": "team-a", "cr_name": "resize-1"}


def rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


async def test_a_resources_job_is_stored_once_whichever_insert_comes_second(store, options):
    first = await store.insert_job(new_job(store, **RESOURCE))
    assert first is not None
    assert await store.insert_job(new_job(store, **RESOURCE)) is None
    with psycopg.connect(options.connection_string) as conn:
        assert store.insert_job_sync(new_job(store, **RESOURCE), conn) is None
    assert rows(options.connection_string, "SELECT id FROM craft_jobs.jobs") == [(first,)]
    assert rows(options.connection_string, "SELECT job_id FROM craft_jobs.job_states") == [(first,)]


async def test_jobs_without_a_resource_each_get_their_rows(store, options):
    ids = [await store.insert_job(new_job(store, tenant_id="t1")) for _ in range(2)]
    with psycopg.connect(options.connection_string) as conn:
        ids.append(store.insert_job_sync(new_job(store, tenant_id="t1"), conn))
    assert None not in ids and len(set(ids)) == 3
    url = options.connection_string
    assert sorted(rows(url, "SELECT job_id FROM craft_jobs.job_states")) == [(i,) for i in sorted(ids)]
    assert rows(url, "SELECT sum(jobs)::int FROM craft_jobs.job_count_deltas WHERE tenant_id = 't1'") == [(3,)]
