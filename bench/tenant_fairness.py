"""Benchmark: a quiet tenant's wait while another tenant floods the queue.

    .venv/bin/python bench/tenant_fairness.py            # about two minutes
    .venv/bin/python bench/tenant_fairness.py --quick

One engine (inline executor, 10 slots, jobs that hold their slot 20 ms) on a
fresh database. The quiet tenant enqueues one job a second, and its
enqueue-to-start latency is measured: first alone, then while the flood
tenant has 10,000 jobs waiting (enqueued in one batch once the quiet tenant
is at work; they keep every slot they may take busy for the whole phase).
Then the same without the engine's headroom for quiet tenants
(`tenant_headroom_slots=0`), with the flood's jobs holding their slot 10-30
ms (20 on average) instead of exactly 20, and last with the flood tenant held
to 9 of the 10 slots by a concurrency limit.
A FIFO queue would make the quiet job wait behind the whole backlog (10,000
x 20 ms / 10 slots = 20 s). Claims fair across tenants take it in the claim
that refills the next freed slot; without headroom that is up to a run's
length, and jobs of one length start and end together (the ten slots move in
lockstep, all freed at once every 20 ms and a little), so most of one. With
the default headroom the flood holds 9 slots and the quiet job takes the
tenth as it comes. Each flood phase also prints how fast the flood's jobs
started, which is what the headroom costs the flood.
Target (issue 13): the flood's p50 and p99 within 2x of the quiet baseline.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import say  # noqa: E402

SLOTS = 10
WORK_MS = 20.0
FLOOD = 10_000


async def quiet_phase(scheduler, job, seconds: int, flood_left) -> list[float]:
    """One quiet job a second for `seconds`; returns their latencies (ms)."""
    import fairness_jobs

    fairness_jobs.QUIET_LATENCIES_MS.clear()
    start = time.monotonic()
    for second in range(seconds):
        await asyncio.sleep(max(0.0, start + second + 1 - time.monotonic()))
        await scheduler.schedule(job, job.Parameters(work_ms=WORK_MS, enqueued_at=common.now()), tenant_id="quiet")
    deadline = time.monotonic() + 10
    while len(fairness_jobs.QUIET_LATENCIES_MS) < seconds and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if flood_left is not None and await flood_left() == 0:
        say("  warning: the flood drained before the phase ended; its later samples saw no flood")
    return list(fairness_jobs.QUIET_LATENCIES_MS)


def summary(latencies: list[float]) -> dict:
    return {"samples": len(latencies), "p50_ms": round(common.percentile(latencies, 50), 1),
            "p99_ms": round(common.percentile(latencies, 99), 1)}


async def run(url: str, seconds: int, flood: int) -> dict:
    from craft_jobs.client import JobScheduler
    from craft_jobs.engine.engine import Engine
    from craft_jobs.engine.inline import InlineExecutor
    from craft_jobs.options import load_options
    from craft_jobs.store.migrations import migrate

    import fairness_jobs

    options = load_options(connection_string=url, worker_count=SLOTS, job_modules=["fairness_jobs"],
                           enable_multi_tenancy=True)
    await migrate(url, options.schema_name)
    scheduler = await JobScheduler.connect(options)
    job = fairness_jobs.WorkJob
    rng = random.Random(13)

    async def flood_left() -> int:
        (left,) = await common.query_one(
            url, "SELECT count(*) FROM craft_jobs.jobs WHERE tenant_id = 'flood' AND state = 'Enqueued'")
        return left

    async def phase(title: str, engine_options, with_flood: bool, spread: bool = False) -> dict:
        await common.execute(url, "DELETE FROM craft_jobs.jobs WHERE tenant_id = 'flood' AND state = 'Enqueued'")
        say(f"{title}: the quiet tenant enqueues one job a second for {seconds} s")
        engine = Engine(engine_options, InlineExecutor())
        await engine.start()
        try:
            if with_flood:
                # The flood comes while the quiet tenant is at work (its one job a
                # second has started here before), as in a running installation.
                await quiet_phase(scheduler, job, 1, None)
                lengths = [rng.uniform(WORK_MS / 2, WORK_MS * 1.5) if spread else WORK_MS for _ in range(flood)]
                await scheduler.schedule_batch([(job, job.Parameters(work_ms=ms)) for ms in lengths], tenant_id="flood")
            left_before, started = await flood_left(), time.monotonic()
            found = summary(await quiet_phase(scheduler, job, seconds, flood_left if with_flood else None))
            if with_flood:
                found["flood_per_s"] = round((left_before - await flood_left()) / (time.monotonic() - started))
        finally:
            await engine.stop(grace_seconds=1)
        flood_rate = f", the flood's jobs started at {found['flood_per_s']}/s" if with_flood else ""
        say(f"  p50 {found['p50_ms']} ms, p99 {found['p99_ms']} ms{flood_rate}")
        return found

    try:
        alone = await phase("alone", options, with_flood=False)
        flooded = await phase(f"{flood:,} flood jobs waiting", options, with_flood=True)
        # The same without the engine's headroom for quiet tenants: every slot is the flood's.
        no_headroom = await phase(f"{flood:,} flood jobs waiting, tenant_headroom_slots=0",
                                  options.model_copy(update={"tenant_headroom_slots": 0}), with_flood=True)
        spread = await phase(f"{flood:,} flood jobs waiting, {WORK_MS / 2:.0f}-{WORK_MS * 1.5:.0f} ms each", options,
                             with_flood=True, spread=True)
        # A concurrency limit below the slots keeps one free for everyone else, on every engine.
        limited = await phase(f"{flood:,} flood jobs waiting, the flood tenant limited to {SLOTS - 1} of {SLOTS} slots",
                              options.model_copy(update={"tenant_concurrency_limits": {"flood": SLOTS - 1}}),
                              with_flood=True)
    finally:
        await scheduler.close()

    def over_alone(found: dict) -> dict:
        return {"p50": round(found["p50_ms"] / alone["p50_ms"], 2), "p99": round(found["p99_ms"] / alone["p99_ms"], 2)}

    return {"alone": alone, "flooded": flooded, "flooded_without_headroom": no_headroom,
            "flooded_spread": spread, "flooded_limited": limited,
            "flooded_over_alone": over_alone(flooded), "without_headroom_over_alone": over_alone(no_headroom),
            "spread_over_alone": over_alone(spread), "limited_over_alone": over_alone(limited),
            "flood_jobs": flood, "slots": SLOTS, "work_ms": WORK_MS}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s phases instead of 20 s")
    args = parser.parse_args()
    seconds = 10 if args.quick else 20
    server = common.Server()
    base = server.start()
    try:
        async with common.fresh_database(base, "bench_tenant_fairness") as url:
            result = await run(url, seconds, FLOOD)
    finally:
        server.stop()
    for name in ("flooded", "without_headroom", "spread", "limited"):
        ratios = result[f"{name}_over_alone"]
        verdict = "within" if max(ratios.values()) <= 2 else "NOT within"
        say(f"{name} / alone: p50 {ratios['p50']}x, p99 {ratios['p99']}x ({verdict} 2x)")
    say(f"load average {common.load_average()}")
    common.emit_json(result)


if __name__ == "__main__":
    asyncio.run(main())
