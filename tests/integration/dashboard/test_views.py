"""The dashboard's list views over HTTP: page numbers and their limits, filtered
tab counts, "all matching" bulk actions, Retries, Queues and a recurring job's
page, each within the caller's tenants."""

from __future__ import annotations

from datetime import timedelta

from craft_jobs.states import JobState
from tests.integration.dashboard.factory import enqueue, error, heartbeat, run

HTML = {"accept": "text/html"}


def recurring(id_: str, tenant: str = "", **fields):
    return {"id": id_, "job_type": "cleanup", "queue": "default", "parameters": {}, "tenant_id": tenant,
            "user_id": None, "metadata": {}, "max_attempts": 3, "retry_policy": None, "timeout_seconds": None,
            "image": None, "cron": "*/15 * * * *", "interval_minutes": None, "time_zone": "UTC",
            "concurrency_policy": "Allow", "starting_deadline_seconds": None, "paused": False,
            "cr_uid": None, "cr_namespace": None, "cr_name": None, **fields}


async def test_page_numbers_totals_and_their_limits(client, store):
    for _ in range(7):
        await enqueue(store, "resize")
    await enqueue(store, "mail")
    page = await client.get("/jobs/jobs?job_type=resize&limit=3&page=3", headers=HTML)
    assert page.status_code == 200
    assert "7–7 of 7" in page.text and 'aria-current="page">3<' in page.text
    assert "Enqueued <b>7</b>" in " ".join(page.text.split()), "the tab counts only the filtered jobs"
    deep = await client.get("/jobs/jobs?limit=50&page=3000", headers=HTML)
    assert deep.status_code == 422 and "<b>page</b>" in deep.text and "narrow the filters" in deep.text
    for bad, field in (("page=0", "page"), ("limit=501", "limit"), ("page=x", "page")):
        response = await client.get(f"/jobs/jobs?{bad}", headers=HTML)
        assert response.status_code == 422 and f"<b>{field}</b>" in response.text, bad


async def test_all_matching_acts_on_every_page_of_the_selection_only(client, store):
    picked = [await enqueue(store, "resize", queue="images") for _ in range(4)]
    kept = [await enqueue(store, "resize", queue="default"), await enqueue(store, "mail", queue="images")]
    response = await client.post("/jobs/jobs/bulk", data={
        "action": "delete", "all_matching": "1", "state": "Enqueued", "job_type": "resize", "queue": "images",
        "return_to": "/jobs?state=Enqueued&page=2"})
    assert response.status_code == 303 and "4+job%28s%29+deleted" in response.headers["location"]
    assert [(await store.get_job(i)).state for i in picked] == [JobState.DELETED] * 4
    assert [(await store.get_job(i)).state for i in kept] == [JobState.ENQUEUED] * 2
    bad = await client.post("/jobs/jobs/bulk", data={"action": "delete", "all_matching": "maybe"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "all_matching"
    searched = await client.post("/jobs/jobs/bulk", data={"action": "delete", "all_matching": "1", "search": "x"})
    assert searched.status_code == 422 and searched.json()["error"]["field"] == "all_matching"
    assert "text search" in searched.json()["error"]["message"]
    assert [(await store.get_job(i)).state for i in kept] == [JobState.ENQUEUED] * 2


async def test_all_matching_stays_inside_the_callers_tenants(make_client, store, tenant_options):
    ann = make_client(tenant_options, who="acme-operator")
    mine = await enqueue(store, tenant_id="acme")
    theirs = await enqueue(store, tenant_id="globex")
    response = await ann.post("/jobs/jobs/bulk", data={"action": "delete", "all_matching": "1"})
    assert "1+job%28s%29+deleted" in response.headers["location"]
    assert (await store.get_job(mine)).state is JobState.DELETED
    assert (await store.get_job(theirs)).state is JobState.ENQUEUED
    refused = await ann.post("/jobs/jobs/bulk", data={"action": "delete", "all_matching": "1", "tenant": "globex"})
    assert refused.status_code == 403 and (await store.get_job(theirs)).state is JobState.ENQUEUED


async def test_retries_queues_and_recurring_pages(make_client, store, tenant_options):
    ann = make_client(tenant_options, who="acme-viewer")
    waiting = await enqueue(store, "sync", tenant_id="acme", queue="crm")
    await enqueue(store, "keep-waiting", tenant_id="acme", queue="crm")
    await run(store, waiting, fail=error("CRM timed out", type_="TimeoutError"), final=False)
    await enqueue(store, "report", tenant_id="globex", queue="secret-queue")
    await heartbeat(store)
    retries = (await ann.get("/jobs/retries", headers=HTML)).text
    assert f"#{waiting}" in retries and "TimeoutError: CRM timed out" in retries and "1/3" in retries
    queues = await ann.get("/jobs/queues", headers=HTML)
    assert queues.status_code == 200 and "crm" in queues.text and "secret-queue" not in queues.text
    assert "server-test-1" in queues.text, "the servers taking the queue"

    await store.upsert_recurring(recurring("acme/report", "acme"), store.clock.now() + timedelta(minutes=15))
    await store.upsert_recurring(recurring("globex/report", "globex"), store.clock.now() + timedelta(minutes=15))
    await enqueue(store, "cleanup", tenant_id="acme", recurring_id="acme/report")
    page = await ann.get("/jobs/recurring/acme/report", headers=HTML)
    assert page.status_code == 200 and "every 15 minutes" in page.text and "1–1 of 1" in page.text
    assert page.text.count("<li><time") == 5, "the next five fire times"
    assert "Trigger now" not in page.text, "a viewer gets no buttons"
    other = await ann.get("/jobs/recurring/globex/report", headers=HTML)
    assert other.status_code == 404, "another tenant's recurring job does not exist for this caller"


async def test_recurring_actions_from_its_page_come_back_to_it(client, store):
    await store.upsert_recurring(recurring("ops/nightly"), store.clock.now() + timedelta(minutes=15))
    paused = await client.post("/jobs/recurring/ops/nightly/pause", data={"return_to": "/recurring/ops/nightly"})
    assert paused.headers["location"].startswith("/jobs/recurring/ops/nightly?notice=")
    away = await client.post("/jobs/recurring/ops/nightly/resume", data={"return_to": "https://evil.example"})
    assert away.headers["location"].startswith("/jobs/recurring?notice=")
    deleted = await client.post("/jobs/recurring/ops/nightly/delete", data={"return_to": "/recurring/ops/nightly"})
    assert deleted.headers["location"].startswith("/jobs/recurring?notice="), "its own page is gone"


async def test_an_estimated_tab_never_claims_fewer_jobs_than_the_page_shows(client, store):
    client._transport.app.state.dashboard.stats.COUNT_SAMPLE = 2  # every state is "large"
    for _ in range(5):
        await enqueue(store, "resize")
    for _ in range(3):
        await enqueue(store, "mail")
    text = " ".join((await client.get("/jobs/jobs?state=Enqueued&job_type=resize", headers=HTML)).text.split())
    shown = text.split('id="total">')[1].split("</span>")[0]
    assert shown.startswith("1–5 of <span title=\"estimated"), shown
    assert int(shown.split("≈")[1].split("<")[0].replace(",", "")) >= 5
