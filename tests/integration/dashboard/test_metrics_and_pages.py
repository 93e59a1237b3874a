"""/metrics, /healthz, /readyz, and the server-rendered pages over HTTP."""

from __future__ import annotations

import html
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from craft_jobs.states import JobState
from tests.integration.dashboard.factory import enqueue, error, heartbeat, run

HTML = {"accept": "text/html"}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_derive_from_the_store(client, store, clock):
    first = samples((await client.get("/metrics")).text)
    assert first[("craft_jobs_jobs", (("state", "Enqueued"),))] == 0
    assert first[("craft_jobs_database_up", ())] == 1
    ok = await enqueue(store, "resize", user_id="someone@example.com")
    clock.advance(timedelta(seconds=3))
    await run(store, ok, seconds=12)
    bad = await enqueue(store, "resize")
    await run(store, bad, seconds=1, fail=error())
    clock.advance(timedelta(seconds=10))
    response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)
    assert after[("craft_jobs_jobs", (("state", "Succeeded"),))] == 1
    assert after[("craft_jobs_jobs", (("state", "Failed"),))] == 1
    assert after[("craft_jobs_transitions_total", (("state", "Processing"),))] == 2
    assert after[("craft_jobs_transitions_total", (("state", "Succeeded"),))] == 1
    assert after[("craft_jobs_execution_duration_seconds_count", (("job_type", "resize"),))] == 2
    assert after[("craft_jobs_execution_duration_seconds_bucket", (("job_type", "resize"), ("le", "10.0")))] == 1
    assert after[("craft_jobs_enqueue_to_start_seconds_count", (("job_type", "resize"),))] == 2
    assert after[("craft_jobs_enqueue_to_start_seconds_bucket", (("job_type", "resize"), ("le", "2.5")))] == 1
    assert "someone" not in response.text and "user" not in {k for _, labels in after for k, _ in labels}
    again = samples((await client.get("/metrics")).text)
    assert again[("craft_jobs_transitions_total", (("state", "Processing"),))] == 2, "each transition counts once"


async def test_health_and_readiness(make_client, store):
    client = make_client(who=None)
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ok"}
    await store.connector.execute("ALTER TABLE craft_jobs.jobs RENAME TO jobs_moved")
    not_ready = await client.get("/readyz")
    assert not_ready.status_code == 503 and "migrated" in not_ready.json()["error"]["message"]


async def test_every_page_renders_and_escapes_parameters_and_errors(client, store):
    nasty = "<script>alert('x')</script>"
    job_id = await enqueue(store, parameters={"html": nasty}, metadata={"note": nasty})
    await run(store, job_id, fail=error(message=nasty, type_="<b>Bold</b>"))
    await heartbeat(store)
    await store.upsert_recurring(
        {"id": "nightly", "job_type": "cleanup", "queue": "default", "parameters": {}, "tenant_id": "",
         "user_id": None, "metadata": {}, "max_attempts": 3, "retry_policy": None, "timeout_seconds": None,
         "image": None, "cron": "0 3 * * *", "interval_minutes": None, "time_zone": "UTC",
         "concurrency_policy": "Allow", "starting_deadline_seconds": None, "paused": False,
         "cr_uid": None, "cr_namespace": None, "cr_name": None},
        store.clock.now() + timedelta(hours=3))
    for path in ("/jobs/", "/jobs/jobs", "/jobs/jobs?state=Failed", f"/jobs/jobs/{job_id}", "/jobs/recurring",
                 "/jobs/servers", "/jobs/jobs?search=alert", "/api/docs"):
        page = await client.get(path, headers=HTML)
        assert page.status_code == 200, (path, page.text[:500])
        assert "<script>alert" not in page.text and "<b>Bold</b>" not in page.text, path
        assert "script-src 'self'" in page.headers["content-security-policy"]
    detail = (await client.get(f"/jobs/jobs/{job_id}", headers=HTML)).text
    assert html.escape(nasty, quote=False) in detail or "&lt;script&gt;" in detail
    assert "exit code" in detail and "Stack trace" in detail
    listing = (await client.get("/jobs/jobs?state=Failed", headers=HTML)).text
    assert f"#{job_id}" in listing and "&lt;b&gt;Bold&lt;/b&gt;" in listing
    assert "server-test-1" in (await client.get("/jobs/servers", headers=HTML)).text
    assert "0 3 * * *" in (await client.get("/jobs/recurring", headers=HTML)).text
    missing = await client.get("/jobs/jobs/98765", headers=HTML)
    assert missing.status_code == 404 and "job 98765 does not exist" in missing.text


async def test_a_job_that_succeeded_after_a_failed_attempt_shows_that_error_as_an_earlier_ones(client, store, clock):
    recovered = await enqueue(store)
    await run(store, recovered, fail=error(message="card declined"), final=False)
    clock.advance(timedelta(seconds=31))
    assert await store.promote_due_jobs() == 1
    assert await run(store, recovered) is JobState.SUCCEEDED
    page = (await client.get(f"/jobs/jobs/{recovered}", headers=HTML)).text
    assert "Error of an earlier attempt" in page and "Last error" not in page and "card declined" in page
    failed = await enqueue(store)
    await run(store, failed, fail=error(message="card stolen"))
    page = (await client.get(f"/jobs/jobs/{failed}", headers=HTML)).text
    assert "Last error" in page and "Error of an earlier attempt" not in page


async def test_page_actions_redirect_with_a_notice(make_client, store):
    client = make_client(who="operator")
    job_id = await enqueue(store)
    response = await client.post(f"/jobs/jobs/{job_id}/delete")
    assert response.status_code == 303 and response.headers["location"].startswith(f"/jobs/jobs/{job_id}?notice=")
    assert (await store.get_job(job_id)).state is JobState.DELETED
    others = [await enqueue(store) for _ in range(2)]
    bulk = await client.post("/jobs/jobs/bulk", data={"action": "delete", "ids": [str(i) for i in others],
                                                      "return_to": "/jobs?state=Enqueued"})
    assert bulk.status_code == 303 and "2+job%28s%29+deleted" in bulk.headers["location"]
    evil = await client.post("/jobs/jobs/bulk", data={"action": "delete", "ids": [str(others[0])],
                                                      "return_to": "https://evil.example"})
    assert evil.headers["location"].startswith("/jobs/jobs?")


async def test_a_bulk_action_with_nothing_selected_says_so_and_changes_nothing(client, store):
    waiting = await enqueue(store)
    for action in ("requeue", "delete"):
        response = await client.post("/jobs/jobs/bulk", data={"action": action, "return_to": "/jobs?state=Enqueued"})
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith("/jobs/jobs?state=Enqueued&notice=Nothing+selected"), location
        page = await client.get(location, headers=HTML)
        assert page.status_code == 200 and "Nothing selected" in page.text
    assert (await store.get_job(waiting)).state is JobState.ENQUEUED
    assert [h.state for h in await store.job_history(waiting)] == [JobState.ENQUEUED]


async def test_dashboard_path_is_configurable(make_client, options):
    client = make_client(options.model_copy(update={"dashboard_path": "/ops/queue"}))
    assert (await client.get("/")).headers["location"] == "/ops/queue/"
    page = await client.get("/ops/queue/jobs", headers=HTML)
    assert page.status_code == 200 and 'href="/ops/queue/static/app.css"' in page.text
    assert (await client.get("/ops/queue/static/live.js")).status_code == 200


async def test_counts_show_each_change_at_once_per_scope(make_client, store, tenant_options):
    """No cache window: the counters change in the transaction that changes the job."""
    client = make_client(tenant_options, who="operator")
    acme = make_client(tenant_options, who="acme-operator")
    await enqueue(store, tenant_id="acme")
    await enqueue(store, tenant_id="globex")
    assert (await client.get("/api/stats/counts")).json()["Enqueued"] == 2
    assert (await acme.get("/api/stats/counts")).json()["Enqueued"] == 1
    job_id = await enqueue(store, tenant_id="acme")
    assert (await acme.get("/api/stats/counts")).json()["Enqueued"] == 2
    await store.change_state(job_id, JobState.DELETED, reason="deleted")
    counts = (await acme.get("/api/stats/counts")).json()
    assert (counts["Enqueued"], counts["Deleted"]) == (1, 1)


async def test_the_job_page_labels_a_run_by_its_executor(client, store):
    """The local executor's ref is a process id, the Kubernetes executor's a Job name."""
    for ref, label, not_label in (("pid:4242", "Process", "Kubernetes Job"),
                                  ("default/cj-9-run-1", "Kubernetes Job", "Process")):
        job_id = await enqueue(store)
        await enqueue(store)  # another job of the queue waits: run() claims them all
        await run(store, job_id, executor_ref=ref, fail={**error(), "executor_ref": ref})
        page = (await client.get(f"/jobs/jobs/{job_id}", headers=HTML)).text
        assert f"<dt>{label}</dt><dd><code>{ref}</code></dd>" in page, ref
        assert f"<div>{label} <code>{ref}</code>" in page, ref
        assert f"{not_label} <code>" not in page and f"<dt>{not_label}</dt>" not in page, ref
