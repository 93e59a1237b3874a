"""The audit trail over HTTP: every action recorded with who, where and how it ended, per tenant."""

from __future__ import annotations

import re
from datetime import timedelta

from craft_jobs.audit import AuditAction, Surface, TargetKind, acting_as, current_caller
from craft_jobs.store.audit_store import AuditFilter, AuditStore
from craft_jobs.store.store import JobStore
from tests.integration.dashboard.conftest import TOKENS
from tests.integration.dashboard.factory import enqueue

HTML = {"accept": "text/html"}


async def _register(store) -> None:
    await store.upsert_job_types([{"job_type": "t", "parameters_schema": {"type": "object"}}])


def _rows(response) -> list[tuple]:
    return [(e["action"], e["surface"], e["actor"], e["outcome"], e["target_kind"], e["target_id"])
            for e in response.json()["items"]]


async def test_api_actions_and_refusals_are_recorded_per_tenant(make_client, store, tenant_options):
    await _register(store)
    ann = make_client(tenant_options, who="acme-operator")
    gus = make_client(tenant_options, who="globex-operator")
    job_id = (await ann.post("/api/jobs", json={"job_type": "t"})).json()["id"]
    assert (await ann.post(f"/api/jobs/{job_id}/delete")).status_code == 200
    assert (await ann.post(f"/api/jobs/{job_id}/requeue")).status_code == 200
    assert (await ann.put("/api/recurring/nightly", json={"job_type": "t", "cron": "0 3 * * *"})).status_code == 200
    fired = (await ann.post("/api/recurring/nightly/trigger")).json()["job_id"]
    for action in ("pause", "resume"):
        assert (await ann.post(f"/api/recurring/nightly/{action}")).status_code == 200
    # globex tries acme's job and a tenant it was not granted: refused, and recorded.
    assert (await gus.post(f"/api/jobs/{job_id}/delete")).status_code == 404
    assert (await gus.post("/api/jobs", json={"job_type": "t", "tenant_id": "acme"})).status_code == 403
    globex_job = (await gus.post("/api/jobs", json={"job_type": "t"})).json()["id"]

    acme = await ann.get("/api/audit")
    assert acme.status_code == 200
    rows = _rows(acme)
    assert rows[:8] == [
        ("schedule", "api", "gus", "refused", "job", None),
        ("delete", "api", "gus", "not_found", "job", str(job_id)),
        ("resume", "api", "ann", "ok", "recurring", "nightly"),
        ("pause", "api", "ann", "ok", "recurring", "nightly"),
        ("trigger", "api", "ann", "ok", "recurring", "nightly"),
        ("apply", "api", "ann", "ok", "recurring", "nightly"),
        ("requeue", "api", "ann", "ok", "job", str(job_id)),
        ("delete", "api", "ann", "ok", "job", str(job_id)),
    ]
    assert rows[8] == ("schedule", "api", "ann", "ok", "job", str(job_id))
    assert {e["tenant_id"] for e in acme.json()["items"]} == {"acme"}
    assert acme.json()["items"][4]["job_id"] == fired
    # globex sees its own schedule, none of acme's rows, and cannot ask for them.
    globex = await gus.get("/api/audit")
    assert _rows(globex) == [("schedule", "api", "gus", "ok", "job", str(globex_job))]
    across = await gus.get("/api/audit", params={"tenant": "acme"})
    assert across.status_code == 403 and across.json()["error"]["field"] == "tenant"
    assert (await gus.get("/api/audit", params={"job_id": job_id})).json()["items"] == []
    # Filters, and the job's own rows in its detail.
    refused = await ann.get("/api/audit", params={"outcome": "refused"})
    assert [r[0] for r in _rows(refused)] == ["schedule"]
    by_job = (await ann.get(f"/api/jobs/{job_id}")).json()["audit"]
    assert [e["action"] for e in by_job] == ["delete", "requeue", "delete", "schedule"]
    bad = await ann.get("/api/audit", params={"surface": "fax"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "surface"


async def test_pages_show_the_audit_and_page_through_it(make_client, store, tenant_options):
    ids = [await enqueue(store, tenant_id="acme") for _ in range(3)]
    audit = AuditStore(store)
    with acting_as(Surface.SDK, "billing-service"):
        for job_id in ids:
            await audit.record(current_caller(), AuditAction.REQUEUE, TargetKind.JOB, job_id)
    await audit.record(current_caller(), AuditAction.DELETE, TargetKind.JOB, await enqueue(store, tenant_id="globex"))
    ann = make_client(tenant_options, who="acme-viewer")
    first = await ann.get("/jobs/audit", params={"limit": 2}, headers=HTML)
    assert first.status_code == 200 and first.text.count("billing-service") == 2
    assert "globex" not in first.text
    older = re.search(r'href="(/jobs/audit\?[^"]*before_id=\d+[^"]*)" rel="next"', first.text).group(1)
    second = await ann.get(older.replace("&amp;", "&"), headers=HTML)
    assert second.text.count("billing-service") == 1 and 'rel="next"' not in second.text
    job_page = await ann.get(f"/jobs/jobs/{ids[0]}", headers=HTML)
    assert 'id="audit"' in job_page.text and "billing-service" in job_page.text
    filtered = await ann.get("/jobs/audit", params={"action": "delete"}, headers=HTML)
    assert "billing-service" not in filtered.text and "Nothing recorded." in filtered.text
    assert (await ann.get("/jobs/audit", params={"action": "launch"}, headers=HTML)).status_code == 422


async def test_logins_are_recorded_and_failures_too(make_client, store):
    browser = make_client(who=None)
    page = await browser.get("/jobs/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    await browser.post("/jobs/login", data={"token": "wrong-token-0000000000", "csrf_token": csrf})
    await browser.post("/jobs/login", data={"token": TOKENS["operator"]["token"], "csrf_token": csrf})
    rows = _rows(await make_client(who="viewer").get("/api/audit", params={"action": "login"}))
    assert rows == [("login", "dashboard", "ops-user", "ok", "session", None),
                    ("login", "dashboard", "(unknown token)", "refused", "session", None)]


async def test_the_page_actions_are_recorded_as_the_dashboards(make_client, store):
    job_id = await enqueue(store)
    client = make_client()
    assert (await client.post(f"/jobs/jobs/{job_id}/delete")).status_code == 303
    assert _rows(await client.get("/api/audit", params={"job_id": job_id}))[0][:4] == ("delete", "dashboard", "ops-user", "ok")


async def test_rows_past_their_retention_are_expired_in_batches(store, options, clock):
    audit = AuditStore(store)
    for _ in range(5):
        await audit.record(current_caller(), AuditAction.DELETE, TargetKind.JOB, 1)
    clock.advance(timedelta(days=options.job_expiration_days, seconds=1))
    await audit.record(current_caller(), AuditAction.DELETE, TargetKind.JOB, 2)
    assert await audit.expire(limit=3) == 3
    assert await audit.expire(limit=3) == 2
    assert await audit.expire(limit=3) == 0
    kept = await audit.list(AuditFilter())
    assert [e.job_id for e in kept] == [2]
    longer = AuditStore(JobStore(store.connector, options.model_copy(update={"audit_retention_days": 30}), clock))
    assert longer.retention == timedelta(days=30)


async def test_the_audit_list_is_in_the_openapi_spec(client):
    spec = (await client.get("/api/openapi.json")).json()
    operation = spec["paths"]["/api/audit"]["get"]
    assert {"tenant", "action", "surface", "outcome", "actor", "job_id", "before_id", "limit"} <= {
        p["name"] for p in operation["parameters"]}


async def test_a_viewers_attempts_are_recorded_as_refused(make_client, store, tenant_options):
    await _register(store)
    ann = make_client(tenant_options, who="acme-operator")
    al = make_client(tenant_options, who="acme-viewer")
    job_id = (await ann.post("/api/jobs", json={"job_type": "t"})).json()["id"]
    assert (await ann.put("/api/recurring/nightly", json={"job_type": "t", "cron": "0 3 * * *"})).status_code == 200
    for attempt in (al.post(f"/api/jobs/{job_id}/requeue"), al.delete(f"/api/jobs/{job_id}"),
                    al.post(f"/jobs/jobs/{job_id}/delete"), al.post("/api/jobs", json={"job_type": "t"}),
                    al.post("/api/recurring/nightly/pause?tenant=acme"),
                    al.put("/api/recurring/nightly", json={"job_type": "t", "cron": "0 4 * * *"})):
        response = await attempt
        assert response.status_code in (403, 303), response.text
    refused = [(e.action.value, e.surface.value, e.target_kind.value, e.target_id, e.tenant_id)
               for e in await AuditStore(store).list(AuditFilter(tenants=["acme"]), limit=50)
               if e.outcome.value == "refused"]
    actor = TOKENS["acme-viewer"]["name"]
    assert sorted(refused) == sorted([
        ("requeue", "api", "job", str(job_id), "acme"), ("delete", "api", "job", str(job_id), "acme"),
        ("delete", "dashboard", "job", str(job_id), "acme"), ("pause", "api", "recurring", "nightly", "acme"),
        ("schedule", "api", "job", None, "acme"), ("apply", "api", "recurring", "nightly", "acme"),
    ]), refused
    assert {e.actor for e in await AuditStore(store).list(AuditFilter(tenants=["acme"]), limit=50)
            if e.outcome.value == "refused"} == {actor}
