"""Recurring jobs over the API: create, read, trigger, pause, resume, remove; errors name the field."""

from __future__ import annotations

from craft_jobs.states import JobState


async def register(store) -> None:
    await store.upsert_job_types([{"job_type": "cleanup", "parameters_schema": {"type": "object"}}])


async def test_recurring_lifecycle(client, store, clock):
    await register(store)
    put = await client.put("/api/recurring/nightly", json={"job_type": "cleanup", "cron": "0 3 * * *",
                                                           "time_zone": "Europe/London", "concurrency_policy": "Forbid"})
    assert put.status_code == 200, put.text
    assert put.json()["next_run_at"] is not None and put.json()["time_zone"] == "Europe/London"

    triggered = await client.post("/api/recurring/nightly/trigger")
    assert triggered.status_code == 201
    job_id = triggered.json()["job_id"]
    job = await store.get_job(job_id)
    assert job.recurring_id == "nightly" and job.state is JobState.ENQUEUED

    listed = (await client.get("/api/recurring")).json()["items"]
    assert listed[0]["id"] == "nightly" and listed[0]["last_job_id"] == job_id
    assert listed[0]["last_job_state"] == "Enqueued"
    detail = (await client.get("/api/recurring/nightly")).json()
    assert [r["id"] for r in detail["recent_runs"]] == [job_id]

    assert (await client.post("/api/recurring/nightly/pause")).status_code == 200
    assert (await store.get_recurring("nightly")).paused
    assert (await client.post("/api/recurring/nightly/resume")).status_code == 200
    resumed = await store.get_recurring("nightly")
    assert not resumed.paused and resumed.next_run_at > clock.now()
    assert (await client.delete("/api/recurring/nightly")).status_code == 200
    assert await store.get_recurring("nightly") is None
    gone = await client.post("/api/recurring/nightly/trigger")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


async def test_bad_schedules_name_the_field(client, store):
    await register(store)
    cases = [
        ({"job_type": "cleanup", "cron": "61 * * * *"}, "cron"),
        ({"job_type": "cleanup", "cron": "* * * * *", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"job_type": "cleanup", "interval_minutes": 0}, "interval_minutes"),
        ({"job_type": "cleanup", "cron": "* * * * *", "concurrency_policy": "Sometimes"}, "concurrency_policy"),
        ({"cron": "* * * * *"}, "job_type"),
    ]
    for body, field in cases:
        response = await client.put("/api/recurring/r1", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field"] == field, (body, response.json())


async def test_ids_with_slashes_are_managed_by_every_route(client, store):
    """A RecurringJob applied from YAML is `<namespace>/<name>`: each route takes it raw or encoded."""
    await register(store)
    rid = "team-a/nightly-report"
    for path in (f"/api/recurring/{rid}", "/api/recurring/team-a%2Fnightly-report"):
        put = await client.put(path, json={"job_type": "cleanup", "cron": "0 3 * * *"})
        assert put.status_code == 200 and put.json()["id"] == rid, (path, put.text)
        read = await client.get(path)
        assert read.status_code == 200 and read.json()["recurring"]["id"] == rid, (path, read.text)
        triggered = await client.post(f"{path}/trigger")
        assert triggered.status_code == 201 and triggered.json()["id"] == rid, (path, triggered.text)
        assert (await store.get_job(triggered.json()["job_id"])).recurring_id == rid
        assert (await client.post(f"{path}/pause")).json() == {"id": rid, "action": "pause"}
        assert (await store.get_recurring(rid)).paused
        assert (await client.post(f"{path}/resume")).json() == {"id": rid, "action": "resume"}
        assert not (await store.get_recurring(rid)).paused
        assert (await client.delete(path)).json() == {"id": rid, "action": "delete"}
        assert await store.get_recurring(rid) is None
        assert (await client.get(path)).status_code == 404


async def test_an_id_ending_like_an_action_is_not_mistaken_for_one(client, store):
    await register(store)
    for rid in ("ops/pause", "ops/trigger"):
        assert (await client.put(f"/api/recurring/{rid}", json={"job_type": "cleanup", "cron": "0 3 * * *"})).status_code == 200
    assert (await client.get("/api/recurring/ops/pause")).json()["recurring"]["id"] == "ops/pause"
    paused = await client.post("/api/recurring/ops/trigger/pause")
    assert paused.json() == {"id": "ops/trigger", "action": "pause"}
    assert (await store.get_recurring("ops/trigger")).paused and not (await store.get_recurring("ops/pause")).paused


async def test_recurring_page_buttons_act_on_ids_with_slashes(client, store):
    await register(store)
    rid = "team-a/nightly-report"
    await client.put(f"/api/recurring/{rid}", json={"job_type": "cleanup", "cron": "0 3 * * *"})
    page = await client.get("/jobs/recurring", headers={"accept": "text/html"})
    for action in ("trigger", "pause", "delete"):
        assert f'action="/jobs/recurring/{rid}/{action}"' in page.text, action
    for action, check in (("trigger", None), ("pause", True), ("resume", False)):
        done = await client.post(f"/jobs/recurring/{rid}/{action}")
        assert done.status_code == 303 and done.headers["location"].startswith("/jobs/recurring?notice="), done.text
        if check is not None:
            assert (await store.get_recurring(rid)).paused is check
    assert len((await client.get(f"/api/recurring/{rid}")).json()["recent_runs"]) == 1
    assert (await client.post("/jobs/recurring/team-a%2Fnightly-report/delete")).status_code == 303
    assert await store.get_recurring(rid) is None
