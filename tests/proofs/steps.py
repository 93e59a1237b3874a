"""Steps the scenarios are made of: start and break processes, create work, wait."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from typing import TypeVar

from tests.proofs.harness import Context, Tracked, resolve
from tests.proofs.local import EngineProcess, schedule_work
from tests.support.cluster.operatorprocess import OperatorProcess

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# -- the operator -------------------------------------------------------------------------


def start_operator(ctx: Context, log: str = "operator.log", **env: str) -> OperatorProcess:
    """An operator for the scenario's namespace; `log` names its own log file when
    a scenario runs more than one (replicas)."""
    operator = ctx.cluster.operator(ctx.database_url, ctx.namespace, ctx.directory / log, **env)
    operator.start()
    ctx.cleanup.callback(operator.stop)
    return operator


def kill_operator(operator: OperatorProcess) -> None:
    """kill -9 (safe to call from the proxy's thread, and twice)."""
    process = operator.process
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGKILL)


def wait_dead(operator: OperatorProcess, timeout: float = 60) -> None:
    wait_until(lambda: operator.process.poll() is not None, timeout, "the operator to die")


def restart_operator(ctx: Context, operator: OperatorProcess, pause: float = 0) -> None:
    """Starts the (dead or stopped) operator again; the fault ends once it is ready."""
    wait_dead(operator)
    time.sleep(pause)
    operator.start()
    ctx.fault_over()


# -- work on the Kubernetes path ---------------------------------------------------------------


def create_background_jobs(ctx: Context, seconds: list[float], prefix: str = "w", **spec) -> list[Tracked]:
    created = []
    for i, duration in enumerate(seconds):
        name = f"{prefix}{i}"
        ctx.cluster.create_background_job(ctx.namespace, name, ctx.work_log, duration, **spec)
        created.append(Tracked("Succeeded", resource=name))
    ctx.jobs += created
    return created


def started_job_ids(ctx: Context) -> set[int]:
    return set(ctx.executions())


def wait_all_started(ctx: Context, jobs: list[Tracked], timeout: float = 90) -> None:
    """Until every job's work has begun (its process wrote its start line)."""
    def check() -> bool:
        resolve(ctx)
        ids = {j.job_id for j in jobs}
        return None not in ids and ids <= started_job_ids(ctx)
    wait_until(check, timeout, f"{len(jobs)} jobs to start", interval=0.3)


def kubernetes_jobs_finished(ctx: Context) -> bool:
    jobs = ctx.cluster.jobs(ctx.namespace)
    return bool(jobs) and all(any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                                  for c in (j.get("status") or {}).get("conditions") or ()) for j in jobs)


# -- work on the local path ----------------------------------------------------------------------


def start_engine(ctx: Context, name: str, **env: str) -> EngineProcess:
    engine = EngineProcess(ctx.database_url, ctx.directory, name, **env).start()
    ctx.cleanup.callback(engine.stop)
    return engine


def schedule(ctx: Context, seconds: list[float]) -> list[Tracked]:
    created = [Tracked("Succeeded", job_id=job_id) for job_id in schedule_work(ctx.database_url, ctx.work_log, seconds)]
    ctx.jobs += created
    return created


def running_on(ctx: Context, server_id: str) -> set[int]:
    import psycopg

    with psycopg.connect(ctx.database_url, autocommit=True) as conn:
        return {row[0] for row in conn.execute(
            "SELECT id FROM craft_jobs.jobs WHERE state = 'Processing' AND server_id = %s", (server_id,))}


# -- PostgreSQL ----------------------------------------------------------------------------------

HEARTBEAT_SECONDS = 2.0  # the engines' and operators' default heartbeat_interval_seconds


def postgres_away(ctx: Context, seconds: float) -> str:
    """PostgreSQL stopped for about `seconds`, back just after the engine's heartbeat
    tried and failed (it tries every HEARTBEAT_SECONDS, from its last beat on): a chosen
    point, so that every run meets the same moment. Whatever reaches the database first
    then is not the heartbeat, which tries again only 2 s later. Returns a note."""
    import psycopg

    with psycopg.connect(ctx.database_url, autocommit=True) as conn:
        beat = conn.execute("SELECT max(heartbeat_at) FROM craft_jobs.servers").fetchone()[0].timestamp()
    ctx.postgres.stop_server()
    # pg_ctl start takes about 0.2 s to accept connections: start 0.1 s after a try.
    tries = math.ceil((time.time() + seconds - beat) / HEARTBEAT_SECONDS)
    time.sleep(max(0.0, beat + tries * HEARTBEAT_SECONDS + 0.1 - time.time()))
    ctx.postgres.start_server()
    ctx.fault_over()
    return f"back {time.time() - (beat + tries * HEARTBEAT_SECONDS):.2f} s after the heartbeat's try"
