"""Local mode: `craft-jobs dev`.

Starts an embedded PostgreSQL (unless a connection string is given), the
engine with the local executor and the dashboard on 127.0.0.1, and with
`--samples` schedules one job of each kind so there is something to watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from datetime import timedelta
from pathlib import Path

from craft_jobs.client.scheduler import JobScheduler
from craft_jobs.engine.engine import Engine
from craft_jobs.engine.local import LocalExecutor
from craft_jobs.options import JobOptions
from craft_jobs.schedules import CronExpressions
from craft_jobs.store.embedded import EmbeddedPostgres

log = logging.getLogger(__name__)
SAMPLE_MODULE = "craft_jobs.samples.jobs"
DEV_STATE_FILE = "dev.json"


def dev_state_path(data_dir: Path) -> Path:
    return Path(data_dir) / DEV_STATE_FILE


def read_dev_connection(data_dir: Path) -> str | None:
    """The connection string of a running `craft-jobs dev`, for the other commands."""
    path = dev_state_path(data_dir)
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("connection_string")


async def schedule_samples(scheduler: JobScheduler) -> dict[str, int | str]:
    hello = await scheduler.schedule("hello", {"name": "Craft Jobs"}, user_id="dev", metadata={"sample": "fire-and-forget"})
    delayed = await scheduler.schedule("send-report", {"report": "weekly", "recipients": ["ops@example.com"]}, delay=timedelta(seconds=30))
    continuation = await scheduler.continue_with(hello, "send-report", {"report": "after hello"})
    flaky = await scheduler.schedule("flaky", {"failures": 2})
    failing = await scheduler.schedule("always-fails", {})
    slow = await scheduler.schedule("slow", {"seconds": 300})
    recurring = await scheduler.schedule_recurring("samples/cleanup", CronExpressions.EVERY_MINUTE, "cleanup", {"older_than_days": 30})
    return {
        "fire-and-forget": hello, "delayed": delayed, "continuation": continuation, "flaky": flaky,
        "always-fails": failing, "slow (delete it to cancel)": slow, "recurring": recurring.id,
    }


def dev_dashboard_settings():
    """Locally the dashboard listens on loopback only, so it needs no login unless asked."""
    from craft_jobs.dashboard.settings import AuthMode, DashboardSettings

    settings = DashboardSettings()
    if "CRAFT_JOBS_DASHBOARD_AUTH_MODE" not in os.environ:
        settings = settings.model_copy(update={"auth_mode": AuthMode.NONE})
    return settings


async def run_dev(options: JobOptions, *, samples: bool, host: str, port: int) -> None:
    embedded = None
    if not options.connection_string:
        embedded = EmbeddedPostgres(options.data_dir)
        options = options.model_copy(update={"connection_string": embedded.start()})
    if samples and SAMPLE_MODULE not in options.job_modules:
        options = options.model_copy(update={"job_modules": [*options.job_modules, SAMPLE_MODULE]})
    if options.enable_dashboard and not options.job_api_url:  # runs schedule jobs through this dashboard
        options = options.model_copy(update={"job_api_url": f"http://{host}:{port}"})
    state_file = dev_state_path(options.data_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    engine = Engine(options, LocalExecutor(options.job_modules, options.cancel_grace_seconds))
    try:
        await engine.start()
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps({"connection_string": options.connection_string}))
        scheduler = JobScheduler(engine.store, options)
        if samples:
            for kind, ref in (await schedule_samples(scheduler)).items():
                print(f"  sample {kind}: {ref}")
        tasks = [asyncio.create_task(stop.wait())]
        if options.enable_dashboard:
            from craft_jobs.dashboard.app import serve

            tasks.append(asyncio.create_task(serve(options, host, port, settings=dev_dashboard_settings(), store=engine.store, stop=stop)))
            print(f"Craft Jobs is running: dashboard at http://{host}:{port}{options.dashboard_path}  (Ctrl+C stops)")
        else:
            print("Craft Jobs is running (dashboard disabled). Ctrl+C stops.")
        print(f"Database: {options.connection_string}")
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop.set()  # whichever ended first, the rest follow
        await asyncio.gather(*tasks)
    finally:
        with contextlib.suppress(FileNotFoundError):
            state_file.unlink()
        await engine.stop()
        if embedded is not None:
            embedded.stop()
