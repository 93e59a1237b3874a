"""Recurring ids are per tenant: the same id in two tenants, and everything keyed by it."""

from __future__ import annotations

from craft_jobs.states import JobState

PARAMS = {"customer": "acme-secret-customer"}


async def _register(store) -> None:
    await store.upsert_job_types([{"job_type": "t", "parameters_schema": {"type": "object"}}])


async def test_a_reused_id_shows_none_of_the_previous_tenants_runs(make_client, store, tenant_options):
    await _register(store)
    ann = make_client(tenant_options, who="acme-operator")
    gus = make_client(tenant_options, who="globex-operator")
    assert (await ann.put("/api/recurring/shared-name", json={"job_type": "t", "cron": "0 3 * * *",
                                                              "parameters": PARAMS})).status_code == 200
    acme_run = (await ann.post("/api/recurring/shared-name/trigger")).json()["job_id"]
    assert (await ann.delete("/api/recurring/shared-name")).status_code == 200

    assert (await gus.put("/api/recurring/shared-name", json={"job_type": "t", "cron": "0 4 * * *"})).status_code == 200
    detail = await gus.get("/api/recurring/shared-name")
    assert detail.status_code == 200 and detail.json()["recurring"]["tenant_id"] == "globex"
    assert detail.json()["recent_runs"] == []
    assert "acme-secret-customer" not in detail.text
    globex_run = (await gus.post("/api/recurring/shared-name/trigger")).json()["job_id"]
    assert [r["id"] for r in (await gus.get("/api/recurring/shared-name")).json()["recent_runs"]] == [globex_run]
    assert (await store.get_job(acme_run)).tenant_id == "acme"


async def test_two_tenants_own_the_same_id_side_by_side(make_client, store, tenant_options):
    await _register(store)
    ann = make_client(tenant_options, who="acme-operator")
    gus = make_client(tenant_options, who="globex-operator")
    for client, cron in ((ann, "0 3 * * *"), (gus, "0 4 * * *")):
        assert (await client.put("/api/recurring/team/nightly", json={"job_type": "t", "cron": cron})).status_code == 200
    acme_run = (await ann.post("/api/recurring/team/nightly/trigger")).json()["job_id"]
    assert (await gus.post("/api/recurring/team/nightly/pause")).status_code == 200

    acme = (await ann.get("/api/recurring/team/nightly")).json()
    assert acme["recurring"]["cron"] == "0 3 * * *" and not acme["recurring"]["paused"]
    assert [r["id"] for r in acme["recent_runs"]] == [acme_run]
    globex = (await gus.get("/api/recurring/team/nightly")).json()
    assert globex["recurring"]["paused"] and globex["recent_runs"] == []
    assert [r["tenant_id"] for r in (await gus.get("/api/recurring")).json()["items"]] == ["globex"]
    # A tenant cannot name the other tenant to reach its job.
    across = await gus.get("/api/recurring/team/nightly", params={"tenant": "acme"})
    assert across.status_code == 403 and across.json()["error"]["field"] == "tenant"

    # Someone who sees both must say which one.
    admin = make_client(tenant_options, who="operator")
    ambiguous = await admin.get("/api/recurring/team/nightly")
    assert ambiguous.status_code == 422 and ambiguous.json()["error"]["field"] == "tenant_id"
    assert "several tenants" in ambiguous.json()["error"]["message"]
    assert (await admin.delete("/api/recurring/team/nightly", params={"tenant": "globex"})).status_code == 200
    assert await store.get_recurring("team/nightly", "globex") is None
    assert (await store.get_recurring("team/nightly", "acme")).cron == "0 3 * * *"
    assert (await store.get_job(acme_run)).state is JobState.ENQUEUED


async def test_the_page_buttons_name_the_tenant(make_client, store, tenant_options):
    await _register(store)
    for who in ("acme-operator", "globex-operator"):
        api = make_client(tenant_options, who=who)
        assert (await api.put("/api/recurring/nightly", json={"job_type": "t", "cron": "0 3 * * *"})).status_code == 200
    admin = make_client(tenant_options, who="operator")
    page = await admin.get("/jobs/recurring")
    assert page.status_code == 200
    assert "/jobs/recurring/nightly/pause?tenant=acme" in page.text
    assert "/jobs/recurring/nightly/pause?tenant=globex" in page.text
    paused = await admin.post("/jobs/recurring/nightly/pause?tenant=acme")
    assert paused.status_code == 303, paused.text
    assert (await store.get_recurring("nightly", "acme")).paused
    assert not (await store.get_recurring("nightly", "globex")).paused


async def test_a_recurring_jobs_own_page_is_its_tenants(make_client, store, tenant_options):
    await _register(store)
    runs = {}
    for who in ("acme-operator", "globex-operator"):
        api = make_client(tenant_options, who=who)
        assert (await api.put("/api/recurring/team/nightly", json={"job_type": "t", "cron": "0 3 * * *"})).status_code == 200
        runs[who] = (await api.post("/api/recurring/team/nightly/trigger")).json()["job_id"]
    admin = make_client(tenant_options, who="operator")
    listing = (await admin.get("/jobs/recurring")).text
    assert "/jobs/recurring/team/nightly?tenant=globex" in listing
    page = await admin.get("/jobs/recurring/team/nightly", params={"tenant": "globex"})
    assert page.status_code == 200
    assert f"/jobs/jobs/{runs['globex-operator']}" in page.text and f"/jobs/jobs/{runs['acme-operator']}" not in page.text
    assert "/pause?tenant=globex" in page.text
    gus = make_client(tenant_options, who="globex-operator")
    assert (await gus.get("/jobs/recurring/team/nightly", params={"tenant": "acme"})).status_code == 403
    mine = await gus.get("/jobs/recurring/team/nightly")
    assert mine.status_code == 200 and f"/jobs/jobs/{runs['acme-operator']}" not in mine.text
