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

    listed = (await client.get("/api/recurring")).json()
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
