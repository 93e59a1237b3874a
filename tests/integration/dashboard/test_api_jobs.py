"""The jobs API over HTTP on a real PostgreSQL: views, every scheduler operation, JSON errors."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from craft_jobs.states import JobState
from tests.integration.dashboard.factory import enqueue, error, run


async def register(store) -> None:
    await store.upsert_job_types([{
        "job_type": "send-invoice",
        "parameters_schema": {"type": "object", "properties": {"invoice_id": {"type": "integer"}},
                              "required": ["invoice_id"]},
    }])


async def test_schedule_now_read_back_and_see_it_listed(client, store):
    await register(store)
    created = await client.post("/api/jobs", json={"job_type": "send-invoice", "parameters": {"invoice_id": 7},
                                                   "queue": "billing", "metadata": {"order": "A-1"}})
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert created.headers["location"] == f"/api/jobs/{job_id}"
    detail = (await client.get(f"/api/jobs/{job_id}")).json()
    assert detail["job"]["state"] == "Enqueued" and detail["job"]["queue"] == "billing"
    assert detail["job"]["user_id"] == "ops-user", "the user comes from the credentials, not the body"
    assert detail["job"]["metadata"] == {"order": "A-1"}
    assert [h["state"] for h in detail["history"]] == ["Enqueued"]
    page = (await client.get("/api/jobs", params={"state": "Enqueued"})).json()
    assert [j["id"] for j in page["items"]] == [job_id]


async def test_schedule_delayed_and_at_a_time(client, store, clock):
    await register(store)
    delayed = await client.post("/api/jobs", json={"job_type": "send-invoice", "parameters": {"invoice_id": 1},
                                                   "delay_seconds": 300})
    at = (clock.now() + timedelta(hours=2)).isoformat()
    timed = await client.post("/api/jobs", json={"job_type": "send-invoice", "parameters": {"invoice_id": 2},
                                                 "at": at})
    for response, expected in ((delayed, clock.now() + timedelta(seconds=300)),
                               (timed, clock.now() + timedelta(hours=2))):
        job = (await store.get_job(response.json()["id"]))
        assert job.state is JobState.SCHEDULED and job.run_at == expected


async def test_bad_input_names_the_field(client, store):
    await register(store)
    cases = [
        ({"job_type": "send-invoice", "parameters": {"invoice_id": "x"}}, "parameters"),
        ({"job_type": "no-such-type"}, "job_type"),
        ({"parameters": {}}, "job_type"),
        ({"job_type": "send-invoice", "parameters": {"invoice_id": 1}, "delay_seconds": -1}, "delay_seconds"),
        ({"job_type": "send-invoice", "parameters": {"invoice_id": 1}, "delay_seconds": 5,
          "at": "2030-01-01T00:00:00Z"}, "at"),
        ({"job_type": "send-invoice", "parameters": {"invoice_id": 1}, "at": "2030-01-01T00:00:00"}, "at"),
        ({"job_type": "send-invoice", "parameters": {"invoice_id": 1}, "max_attempts": 11}, "max_attempts"),
        ({"job_type": "send-invoice", "parameters": {"invoice_id": 1}, "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        response = await client.post("/api/jobs", json=body)
        assert response.status_code == 422, (body, response.text)
        problem = response.json()["error"]
        assert problem["field"] == field, (body, problem)
        assert problem["code"] == "invalid" and problem["message"]
    assert (await client.get("/api/jobs", params={"limit": 0})).json()["error"]["field"] == "limit"
    assert (await client.get("/api/jobs", params={"state": "Nope"})).json()["error"]["field"] == "state"


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


async def test_hostile_input_is_a_422_naming_the_field_and_stores_nothing(client, store):
    await store.upsert_job_types([{"job_type": "free-form", "parameters_schema": {"type": "object"}}])
    job = {"job_type": "free-form"}
    bodies = [
        ({**job, "parameters": {"note": "a\x00b"}}, "parameters.note"),
        ({**job, "queue": "q\x00"}, "queue"),
        ({"job_type": "free\x00form"}, "job_type"),
        ({**job, "tenant_id": "\x00"}, "tenant_id"),
        ({**job, "metadata": {"k\x00": "v"}}, "metadata"),
        ({**job, "timeout_seconds": 2**40}, "timeout_seconds"),
        ({**job, "delay_seconds": 1e300}, "delay_seconds"),
        ({**job, "parameters": _nested(900)}, "parameters"),
        ({**job, "metadata": {"blob": "x" * 300_000}}, "metadata"),
    ]
    for body, field in bodies:
        response = await client.post("/api/jobs", json=body)
        assert response.status_code == 422, (field, response.text[:300])
        assert response.json()["error"]["field"] == field, response.json()
    # JSON's Infinity is not standard, but Python's parser reads it.
    infinite = await client.post("/api/jobs", content='{"job_type": "free-form", "delay_seconds": Infinity}',
                                 headers={"Content-Type": "application/json"})
    assert infinite.status_code == 422 and infinite.json()["error"]["field"] == "delay_seconds"
    assert (await client.put("/api/recurring/r1", json={**job, "cron": "* * * * *", "metadata": {"blob": "x" * 300_000}})
            ).json()["error"] == {"code": "invalid", "field": "metadata",
                                  "message": "300011 bytes is over the limit of 16384 bytes"}
    for params, field in (({"before_id": 2**63}, "before_id"), ({"search": "a\x00"}, "search"),
                          ({"tenant": "\x00"}, "tenant"), ({"job_type": "x\x00"}, "job_type")):
        response = await client.get("/api/jobs", params=params)
        assert response.status_code == 422 and response.json()["error"]["field"] == field, response.text
    for path, field in (("/api/jobs/9223372036854775808", "job_id"), ("/api/recurring/a%00b", "recurring_id")):
        response = await client.get(path)
        assert response.status_code == 422 and response.json()["error"]["field"] == field, response.text
    for page, field in (("/jobs/jobs?before_id=99999999999999999999", "before_id"), ("/jobs/jobs?search=a%00", "search"),
                        ("/jobs/jobs/99999999999999999999", "job_id")):
        response = await client.get(page, headers={"Accept": "text/html"})
        assert response.status_code == 422 and field in response.text, (page, response.status_code)
    assert (await client.get("/api/jobs")).json()["items"] == []
    assert json.loads((await client.get("/api/recurring")).text)["items"] == []
    missing = await client.get("/api/jobs/999999")
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "id"
    assert (await client.get("/api/jobs/abc")).json()["error"]["field"] == "job_id"
    nowhere = await client.get("/api/nothing-here")
    assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == "not_found"


async def test_requeue_and_delete_go_through_the_scheduler(client, store):
    failed = await enqueue(store)
    await run(store, failed, fail=error("boom"))
    response = await client.post(f"/api/jobs/{failed}/requeue")
    assert response.status_code == 200 and response.json() == {"id": failed, "action": "requeue"}
    job = await store.get_job(failed)
    assert job.state is JobState.ENQUEUED and job.attempt == 0
    history = await store.job_history(failed)
    assert history[-1].reason == "requeued" and history[-1].data["by"] == "ops-user"
    assert (await client.delete(f"/api/jobs/{failed}")).status_code == 200
    assert (await store.get_job(failed)).state is JobState.DELETED
    assert (await client.post("/api/jobs/424242/requeue")).status_code == 404


async def test_deleting_a_deleted_job_is_a_409_and_adds_no_history(client, store):
    job_id = await enqueue(store)
    assert (await client.delete(f"/api/jobs/{job_id}")).status_code == 200
    for again in (client.delete(f"/api/jobs/{job_id}"), client.post(f"/api/jobs/{job_id}/delete")):
        response = await again
        assert response.status_code == 409, response.text
        assert response.json()["error"] == {"code": "conflict", "field": "id",
                                            "message": f"job {job_id} is already deleted"}
    assert [h.state for h in await store.job_history(job_id)] == [JobState.ENQUEUED, JobState.DELETED]
    page = await client.post(f"/jobs/jobs/{job_id}/delete")
    assert page.status_code == 303 and "already+deleted" in page.headers["location"], page.text
    assert len(await store.job_history(job_id)) == 2
    assert (await client.post(f"/api/jobs/{job_id}/requeue")).status_code == 200, "a deleted job can be requeued"


async def test_bulk_reports_each_job(client, store):
    ids = [await enqueue(store) for _ in range(3)]
    response = await client.post("/api/jobs/bulk", json={"action": "delete", "ids": [*ids, 99999]})
    assert response.status_code == 200
    assert response.json() == {"action": "delete", "done": ids, "not_found": [99999], "forbidden": [],
                               "unchanged": []}
    assert {(await store.get_job(i)).state for i in ids} == {JobState.DELETED}
    again = (await client.post("/api/jobs/bulk", json={"action": "delete", "ids": ids})).json()
    assert again["done"] == [] and again["unchanged"] == ids
    assert [h.state for h in await store.job_history(ids[0])] == [JobState.ENQUEUED, JobState.DELETED]
    empty = await client.post("/api/jobs/bulk", json={"action": "requeue", "ids": []})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "ids"
    wrong = await client.post("/api/jobs/bulk", json={"action": "explode", "ids": [1]})
    assert wrong.json()["error"]["field"] == "action"


async def test_batch_and_continuation(client, store):
    await register(store)
    batch = await client.post("/api/jobs/batch", json={"jobs": [
        {"job_type": "send-invoice", "parameters": {"invoice_id": i}} for i in range(3)]})
    assert batch.status_code == 201
    ids = batch.json()["ids"]
    assert len(ids) == 3
    child = await client.post(f"/api/jobs/{ids[0]}/continuations",
                              json={"job_type": "send-invoice", "parameters": {"invoice_id": 9}, "on": "Finished"})
    assert child.status_code == 201, child.text
    child_id = child.json()["id"]
    parent = (await client.get(f"/api/jobs/{ids[0]}")).json()
    assert [c["id"] for c in parent["continuations"]] == [child_id]
    detail = (await client.get(f"/api/jobs/{child_id}")).json()
    assert detail["job"]["state"] == "Awaiting" and detail["parent"]["id"] == ids[0]
    orphan = await client.post("/api/jobs/777777/continuations", json={"job_type": "send-invoice",
                                                                       "parameters": {"invoice_id": 1}})
    assert orphan.status_code == 404


async def test_detail_carries_each_attempt_and_the_kubernetes_job(client, store):
    job_id = await enqueue(store)
    await run(store, job_id, fail=error("first try", exit_code=1), final=False, executor_ref="cj-1-run-1")
    await store.change_state(job_id, JobState.ENQUEUED, reason="test")
    await run(store, job_id, fail=error("second try", exit_code=3, type_="ValueError"), executor_ref="cj-1-run-2")
    detail = (await client.get(f"/api/jobs/{job_id}")).json()
    assert detail["job"]["executor_ref"] == "cj-1-run-2"
    assert detail["job"]["last_error"]["message"] == "second try"
    ends = [h for h in detail["history"] if h["data"] and "exit_code" in h["data"]]
    assert [(h["state"], h["data"]["exit_code"], h["data"]["type"]) for h in ends] == [
        ("Scheduled", 1, "PaymentError"), ("Failed", 3, "ValueError")]


async def test_list_filters_search_and_pages(client, store):
    for i in range(5):
        await enqueue(store, "a" if i % 2 else "b", parameters={"customer": f"c-{i}"})
    first = (await client.get("/api/jobs", params={"limit": 2})).json()
    second = (await client.get("/api/jobs", params={"limit": 2, "before_id": first["next_before_id"]})).json()
    assert first["items"][0]["id"] > first["items"][1]["id"] > second["items"][0]["id"]
    only_a = (await client.get("/api/jobs", params={"job_type": "a"})).json()["items"]
    assert {j["job_type"] for j in only_a} == {"a"} and len(only_a) == 2
    found = (await client.get("/api/jobs", params={"search": "c-3"})).json()
    assert [j["parameters_preview"] for j in found["items"]] == ['{"customer": "c-3"}']
    assert found["scanned"] == 5


async def test_overview_counts_and_servers(client, store):
    ok = await enqueue(store, "resize")
    await run(store, ok, seconds=4)
    await enqueue(store)
    overview = (await client.get("/api/stats/overview")).json()
    assert overview["counts"]["Succeeded"] == 1 and overview["counts"]["Enqueued"] == 1
    assert len(overview["per_minute"]) == 61 and len(overview["per_hour"]) == 25
    assert sum(p["succeeded"] for p in overview["per_minute"]) == 1
    assert overview["durations"][0]["job_type"] == "resize"
    assert (await client.get("/api/stats/counts")).json()["Enqueued"] == 1
    servers = (await client.get("/api/servers")).json()["items"]
    assert [s["id"] for s in servers] == ["server-test-1"] and servers[0]["worker_count"] == 20


async def test_openapi_covers_every_operation(client):
    spec = (await client.get("/api/openapi.json")).json()
    operations = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    expected = {
        ("GET", "/api/jobs"), ("POST", "/api/jobs"), ("GET", "/api/jobs/{job_id}"),
        ("POST", "/api/jobs/batch"), ("POST", "/api/jobs/{job_id}/continuations"),
        ("POST", "/api/jobs/{job_id}/requeue"), ("POST", "/api/jobs/{job_id}/delete"),
        ("DELETE", "/api/jobs/{job_id}"), ("POST", "/api/jobs/bulk"), ("GET", "/api/job-types"),
        ("GET", "/api/recurring"), ("GET", "/api/recurring/{recurring_id}"), ("PUT", "/api/recurring/{recurring_id}"),
        ("POST", "/api/recurring/{recurring_id}/trigger"), ("POST", "/api/recurring/{recurring_id}/pause"),
        ("POST", "/api/recurring/{recurring_id}/resume"), ("DELETE", "/api/recurring/{recurring_id}"),
        ("GET", "/api/servers"), ("GET", "/api/stats/overview"), ("GET", "/api/stats/counts"),
        ("GET", "/metrics"), ("GET", "/healthz"), ("GET", "/readyz"),
    }
    assert expected <= operations, expected - operations
    docs = await client.get("/api/docs")
    assert docs.status_code == 200 and "/api/recurring/{recurring_id}/trigger" in docs.text
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', docs.text)
    assert "/api/docs/assets/swagger-ui-bundle.js" in assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert (await client.get(asset)).status_code == 200, asset
    assert (await client.get("/api/docs/assets/swagger-editor-bundle.js")).json()["error"]["code"] == "not_found"
    # Every API operation documents the one error shape for each error status.
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status in ("400", "401", "403", "404", "409", "422", "503"):
                assert op["responses"][status]["content"]["application/json"]["schema"] == error_ref, (method, path, status)


async def test_jobs_from_the_api_run_the_installations_client_filters(make_client, store):
    await register(store)
    client = make_client(store.options.model_copy(update={"client_filters": ["tests.support.filters:StampFilter"]}))
    created = await client.post("/api/jobs", json={"job_type": "send-invoice", "parameters": {"invoice_id": 7},
                                                   "metadata": {"order": "A-1"}})
    assert created.status_code == 201, created.text
    detail = (await client.get(f"/api/jobs/{created.json()['id']}")).json()
    assert detail["job"]["metadata"] == {"order": "A-1", "stamped": "installation"}
    refused = await client.post("/api/jobs", json={"job_type": "send-invoice", "parameters": {"invoice_id": 8},
                                                   "metadata": {"refuse": True}})
    assert refused.status_code == 422 and "refused by the installation's filter" in refused.text
