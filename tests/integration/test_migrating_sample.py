"""The ported quick start in docs/migrating-from-hangfire.md, run as the page shows it."""

from __future__ import annotations

import re
import sys
import types
from datetime import timedelta
from pathlib import Path

import pytest

from craft_jobs.states import JobState
from tests.support.polling import eventually

PAGE = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-hangfire.md"
MODULE = "migrating_from_hangfire_sample"


def sample_source() -> str:
    found = re.search(r"<!-- ported-sample:start -->\s*```python\n(.*?)```\s*<!-- ported-sample:end -->",
                      PAGE.read_text(), re.DOTALL)
    assert found, "the page lost its ported sample"
    return found.group(1)


@pytest.fixture(scope="module")
def sample():
    module = types.ModuleType(MODULE)
    sys.modules[MODULE] = module  # the job classes register under this module's name
    exec(compile(sample_source(), str(PAGE), "exec"), module.__dict__)  # noqa: S102
    return module


async def test_the_ported_quick_start_runs(sample, store, options, start_engine, clock):
    from craft_jobs.client.scheduler import JobScheduler
    from craft_jobs.engine.engine import register_job_types

    await register_job_types(store, options.job_modules)
    scheduler = JobScheduler(store, options)
    engine = await start_engine()
    job_id = await sample.register_user(scheduler, "user@example.com", "John Doe")
    await sample.schedule_maintenance(scheduler)

    async def both_emails_sent():
        return len(sample.OUTBOX) == 2

    await eventually(both_emails_sent, 20, what="the welcome e-mail and its continuation")
    assert sample.OUTBOX == [("user@example.com", "Welcome, John Doe"), ("user@example.com", "Welcome, John Doe, again")]
    assert (await store.get_job(job_id)).job_type == "SendWelcomeEmailJob"

    recurring = {r.id: r for r in await store.list_recurring(None)}
    assert recurring["database-cleanup"].cron == "0 2 * * *" and recurring["health-check"].interval_minutes == 5
    [migration] = await store.list_jobs(job_type="DataMigrationJob")
    assert migration.max_attempts == 0
    clock.advance(timedelta(days=1))
    await engine.maintenance.run_due_work()

    async def recurring_ran():
        jobs = await store.list_jobs(job_type="DatabaseCleanupJob") + await store.list_jobs(job_type="HealthCheckJob")
        return len(jobs) == 2 and all(j.state is JobState.SUCCEEDED for j in jobs)

    await eventually(recurring_ran, 20, what="the clean-up and the health check to fire and succeed")
