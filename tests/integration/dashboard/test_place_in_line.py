"""A waiting job says where it waits: its place in its tenant's line, and
whether its tenant's concurrency limit holds it."""

from __future__ import annotations

import re

from tests.support.jobs import Noop

HTML = {"Accept": "text/html"}


def _waiting(page: str) -> str:
    found = re.search(r'<dd id="place-in-line">(.*?)</dd>', page, re.S)
    assert found, "the page shows no place in line"
    return " ".join(found.group(1).split())


async def test_a_job_held_by_its_tenants_limit_says_so(make_client, scheduler, store, options):
    limited = options.model_copy(update={"enable_multi_tenancy": True, "tenant_concurrency_limits": {"acme": 1}})
    client = make_client(limited)
    first, second, third = [await scheduler.schedule(Noop, tenant_id="acme") for _ in range(3)]
    other = await scheduler.schedule(Noop, tenant_id="globex")
    assert {job.id for job in await store.claim_jobs("engine-a", 1)} == {first}

    assert _waiting((await client.get(f"/jobs/jobs/{third}", headers=HTML)).text) == (
        "2 of 2 in tenant acme line; held: the tenant runs 1 of its limit of 1")
    detail = (await client.get(f"/api/jobs/{second}")).json()
    assert detail["place_in_line"] == {"place": 1, "waiting": 2, "running": 1, "concurrency_limit": 1,
                                       "queue_running": 1, "queue_concurrency_limit": None}
    assert _waiting((await client.get(f"/jobs/jobs/{other}", headers=HTML)).text) == "1 of 1 in tenant globex line"


async def test_only_waiting_jobs_have_a_place(client, scheduler, store):
    job_id = await scheduler.schedule(Noop)
    assert (await client.get(f"/api/jobs/{job_id}")).json()["place_in_line"]["place"] == 1
    await store.claim_jobs("engine-a", 1)
    assert (await client.get(f"/api/jobs/{job_id}")).json()["place_in_line"] is None
    assert 'id="place-in-line"' not in (await client.get(f"/jobs/jobs/{job_id}", headers=HTML)).text


async def test_a_job_held_by_its_queues_limit_says_so(make_client, scheduler, store, options):
    client = make_client(options.model_copy(update={"queue_concurrency_limits": {"emails": 1}}))
    first, second = [await scheduler.schedule(Noop, queue="emails") for _ in range(2)]
    assert [job.id for job in await store.claim_jobs("engine-a", 1)] == [first]
    assert _waiting((await client.get(f"/jobs/jobs/{second}", headers=HTML)).text) == (
        "1 of 1 in the line; held: queue emails runs 1 of its limit of 1")
