"""Benchmark: what the audit row costs an enqueue, A/B in one process on one database.

    .venv/bin/python bench/audit_cost.py            # about a minute
    .venv/bin/python bench/audit_cost.py --rounds 12 --single 500 --batch 2000

Single jobs: `JobScheduler.schedule` (audited, as every SDK call is) against
the same job built by the scheduler and stored without its audit row (as a
recurring fire is). Batches: the same insert_jobs_batch statement with and
without its row. In alternating rounds, so that the load of a shared machine
falls on both alike. Prints jobs/s per round and the ratio of the medians; the
last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import say  # noqa: E402


async def run(args: argparse.Namespace) -> dict:
    from craft_jobs.audit import Caller, Surface
    from craft_jobs.client.scheduler import JobScheduler
    from craft_jobs.clock import SystemClock
    from craft_jobs.engine.engine import connect_store, register_job_types
    from craft_jobs.options import load_options
    from craft_jobs.store.migrations import migrate

    server = common.Server()
    base_url = server.start()
    try:
        async with common.fresh_database(base_url, f"bench_audit_{id(args)}") as url:
            options = load_options(connection_string=url)
            await migrate(url, options.schema_name)
            store = await connect_store(options, SystemClock(), startup_timeout=10, pool_size=5)
            try:
                await register_job_types(store, ["noop_jobs"])
                return await _rounds(JobScheduler(store, options), args, Caller(Surface.SDK, "bench-user"))
            finally:
                await store.close()
    finally:
        server.stop()


async def _rounds(scheduler, args: argparse.Namespace, caller) -> dict:
    from craft_jobs.audit import acting_as
    from craft_jobs.states import JobState
    from craft_jobs.store.models import BatchItem, NewJob

    from noop_jobs import NoopJob

    store = scheduler.store
    params = NoopJob.Parameters(enqueued_at=0.0)

    async def schedule_audited() -> None:
        await scheduler.schedule(NoopJob, params)

    async def schedule_plain() -> None:
        # What schedule() does, less the audit row (no client filters are installed).
        job = await scheduler._new_job(  # noqa: SLF001 (the benchmark's baseline)
            NoopJob, params, state=JobState.ENQUEUED, scheduled_for=store.clock.now(), queue=None, tenant_id=None,
            user_id=None, metadata=None, max_attempts=None, retry=None, timeout_seconds=None, image=None,
            reason="created")
        await store.insert_job(dataclasses.replace(job, audit=None))

    shared = NewJob(job_type="", parameters={}, state=JobState.ENQUEUED, scheduled_for=store.clock.now(), max_attempts=0)
    batches = {"audited": dataclasses.replace(shared, audit=caller), "plain": shared}
    items = [BatchItem("noop", '{"enqueued_at":0.0}', 3) for _ in range(args.batch)]
    singles = {"audited": schedule_audited, "plain": schedule_plain}
    figures: dict[str, list[float]] = {"single_audited": [], "single_plain": [], "batch_audited": [], "batch_plain": []}
    with acting_as(caller.surface, caller.actor):
        for round_ in range(args.rounds):
            # Alternate which goes first, so neither always meets a warmer cache.
            order = ("audited", "plain") if round_ % 2 == 0 else ("plain", "audited")
            for name in order:
                started = time.perf_counter()
                for _ in range(args.single):
                    await singles[name]()
                figures[f"single_{name}"].append(args.single / (time.perf_counter() - started))
                started = time.perf_counter()
                await store.insert_batch(batches[name], items, None)
                figures[f"batch_{name}"].append(args.batch / (time.perf_counter() - started))
            say(f"round {round_ + 1}: " + "  ".join(f"{k} {v[-1]:,.0f}/s" for k, v in figures.items()))
    medians = {k: round(statistics.median(v), 1) for k, v in figures.items()}
    ratios = {kind: round(medians[f"{kind}_audited"] / medians[f"{kind}_plain"], 3) for kind in ("single", "batch")}
    say(f"medians (jobs/s): {medians}")
    say(f"audited / plain: single {ratios['single']:.3f}, batch {ratios['batch']:.3f}")
    return {"medians_per_s": medians, "audited_over_plain": ratios, "rounds": args.rounds,
            "single_per_round": args.single, "batch_size": args.batch}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="rounds of each variant (default 8)")
    parser.add_argument("--single", type=int, default=400, help="single enqueues per round (default 400)")
    parser.add_argument("--batch", type=int, default=2000, help="jobs per batch (default 2000)")
    print(json.dumps(asyncio.run(run(parser.parse_args(argv)))))


if __name__ == "__main__":
    main()
