"""A running job schedules jobs in its own tenant (`context.scheduler`), in a
local process, through the real REST API served over HTTP, with its run's
credential: nothing more, and only while the run lasts."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
import uvicorn

from craft_jobs.dashboard.app import create_app
from craft_jobs.dashboard.settings import DashboardSettings
from craft_jobs.engine.local import LocalExecutor
from craft_jobs.states import JobState
from craft_jobs.store.audit_store import AuditFilter, AuditStore
from craft_jobs.store.store import JobStore
from craft_jobs_runner import SchedulerError
from craft_jobs_runner.scheduler import RunScheduler
from tests.support.jobs import FanOut
from tests.support.polling import eventually


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def api(store, options, tmp_path):
    """The dashboard's API on a real port; the options of runs that reach it."""
    port = _free_port()
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [{"name": "ops", "token": "operator-token-0123456789", "role": "operator"}]}))
    run_options = options.model_copy(update={"enable_multi_tenancy": True, "job_api_url": f"http://127.0.0.1:{port}"})
    app = create_app(run_options, store=JobStore(store.connector, run_options),  # the real clock, as the engine
                     settings=DashboardSettings(auth_mode="token", tokens_file=tokens))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, server.started), timeout=10, what="uvicorn started")
    yield run_options
    server.should_exit = True
    await task


async def test_a_run_schedules_jobs_continuations_and_delays_in_its_tenant_and_no_more(
        api, start_engine, scheduler, store, tmp_path):
    out = tmp_path / "seen.json"
    await start_engine(LocalExecutor(api.job_modules, 2), engine_options=api, use_clock=False)
    parent = await scheduler.schedule(FanOut, {"path": str(out)}, tenant_id="acme", user_id="ann")

    async def succeeded():
        job = await store.get_job(parent)
        assert job.state is not JobState.FAILED, job.last_error
        return job.state is JobState.SUCCEEDED

    await eventually(succeeded, timeout=30, what="the fan-out job succeeded")
    seen = json.loads(out.read_text())
    made = [await store.get_job(job_id) for job_id in [*seen["children"], seen["delayed"], seen["continuation"]]]
    for child in made:
        assert (child.tenant_id, child.user_id, child.scheduled_by_job_id) == ("acme", "ann", parent)
        (audited,) = await AuditStore(store).list(AuditFilter(job_id=child.id))
        assert (audited.action.value, audited.surface.value, audited.actor) == ("schedule", "api", f"job:{parent}")
    assert made[2].state is JobState.SCHEDULED
    assert made[3].parent_id == parent

    other_tenant, delete = seen["refused"]["other_tenant"], seen["refused"]["delete"]
    assert other_tenant[0] == 403 and "may not schedule jobs in tenant 'globex'" in other_tenant[1]
    assert delete[0] == 403 and "may only schedule jobs" in delete[1]

    # The run has ended: its credential, leaked, is dead.
    async with httpx.AsyncClient(base_url=api.job_api_url) as client:
        late = await client.post("/api/jobs", json={"job_type": "test-noop"},
                                 headers={"Authorization": f"Bearer {seen['token']}"})
        assert late.status_code == 401 and "has ended" in late.json()["error"]["message"]
        forged = seen["token"][:-4] + ("AAAA" if not seen["token"].endswith("AAAA") else "BBBB")
        assert (await client.post("/api/jobs", json={"job_type": "test-noop"},
                                  headers={"Authorization": f"Bearer {forged}"})).status_code == 401
        detail = (await client.get(f"/api/jobs/{parent}", headers={"Authorization": "Bearer operator-token-0123456789"})).json()
    assert sorted(c["id"] for c in detail["scheduled"]) == sorted(job.id for job in made)


async def test_without_an_api_address_a_run_is_told_why_it_cannot_schedule(start_engine, scheduler, store, options, tmp_path):
    await start_engine(LocalExecutor(options.job_modules, 2), use_clock=False)
    job_id = await scheduler.schedule(FanOut, {"path": str(tmp_path / "seen.json")})

    async def ended():
        job = await store.get_job(job_id)
        return job if job.state is JobState.FAILED else None

    job = await eventually(ended, timeout=30, what="the fan-out job failed, retrying cannot help")
    assert job.last_error["type"].endswith("SchedulerUnavailableError") and job.attempt == 0
    assert "set the job_api_url option" in job.last_error["message"]


async def test_an_unreachable_api_is_named():
    with pytest.raises(SchedulerError, match=r"the API at http://127.0.0.1:9 cannot be reached") as raised:
        await RunScheduler("http://127.0.0.1:9", "t").schedule("send-mail", {"to": "a@example.com"})
    assert raised.value.status == 0
