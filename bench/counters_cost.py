"""What the dashboard's job counters (migration 0009) cost the write path, in
database CPU time.

    .venv/bin/python bench/counters_cost.py             # 5 blocks each way
    .venv/bin/python bench/counters_cost.py --blocks 8

On one database and one client, blocks alternate between the counters on (as
shipped) and off (the triggers disabled, the insert statements without their
counting CTE: `engine.CraftJobsUncounted`). Each block enqueues 1,500 jobs one
by one, 10,000 in batches of 1,000, and claims and completes 2,000 in rounds of
ten (one claim statement and one outcome statement per round). Wall time on a
shared 2-core machine moves by 2-3x between blocks; the CPU time of the
database's backends (from /proc, all of this database's connections) moves
much less, so that is what is compared: the median per job of each phase, on
and off. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import common  # noqa: E402
import psycopg  # noqa: E402
from common import say  # noqa: E402
from engine import CraftJobs, uncounted  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
PHASES = ("enqueue_single", "enqueue_batch", "claim_and_complete")


def backends_cpu_seconds(url: str) -> float:
    """User + system CPU of this database's other backends so far."""
    with psycopg.connect(url, autocommit=True) as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


async def run_phase(craft: CraftJobs, phase: str) -> int:
    from craft_jobs.states import JobState
    from craft_jobs.store.models import Outcome

    store = craft.scheduler.store
    if phase == "enqueue_single":
        for _ in range(1500):
            await craft.enqueue_one()
        return 1500
    if phase == "enqueue_batch":
        for _ in range(10):
            await craft.enqueue_batch(1000)
        return 10_000
    done = 0
    for _ in range(200):
        claimed = await store.claim_jobs("counters-cost", 10)
        await store.finish_jobs("counters-cost", [
            Outcome(job.id, job.runs, JobState.SUCCEEDED, job.attempt, "done") for job in claimed])
        done += len(claimed)
    return done


async def main(blocks: int) -> dict:
    server = common.Server()
    base_url = server.start()
    try:
        async with common.fresh_database(base_url, f"bench_counters_cost_{os.getpid()}") as url:
            craft = CraftJobs(url)
            await craft.ready()
            queries = craft.scheduler.store.queries
            counted = {name: queries[name] for name in ("insert_job", "insert_jobs_batch")}
            per_job: dict[bool, dict[str, list[float]]] = {on: {p: [] for p in PHASES} for on in (True, False)}
            say(f"load average {os.getloadavg()[0]:.2f}; {blocks} blocks each way, alternating, after one untimed pair")
            for block in range(2 * blocks + 2):
                on = block % 2 == 0
                await common.execute(url, f"ALTER TABLE craft_jobs.jobs {'ENABLE' if on else 'DISABLE'} TRIGGER USER")
                for name, query in counted.items():
                    queries[name] = query if on else uncounted(query)
                await common.execute(url, "TRUNCATE craft_jobs.jobs, craft_jobs.job_states, craft_jobs.job_counts")
                for phase in PHASES:
                    before = backends_cpu_seconds(url)
                    jobs = await run_phase(craft, phase)
                    if block >= 2:
                        per_job[on][phase].append((backends_cpu_seconds(url) - before) / jobs * 1e6)
            await craft.close()
    finally:
        server.stop()
    result = {"blocks": blocks, "load_average_end": [round(x, 2) for x in os.getloadavg()]}
    for phase in PHASES:
        on, off = statistics.median(per_job[True][phase]), statistics.median(per_job[False][phase])
        result[phase] = {"on_us": round(on, 1), "off_us": round(off, 1), "cost_us": round(on - off, 1),
                         "cost_percent": round(100 * (on / off - 1), 1) if off else None,
                         "blocks_on_us": [round(x) for x in per_job[True][phase]],
                         "blocks_off_us": [round(x) for x in per_job[False][phase]]}
        say(f"{phase:<20} database CPU per job: on {on:6.1f} µs, off {off:6.1f} µs, "
            f"{on - off:+.1f} µs ({result[phase]['cost_percent']:+.1f}%); blocks on {result[phase]['blocks_on_us']}, "
            f"off {result[phase]['blocks_off_us']}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=5, help="blocks each way (default 5)")
    common.emit_json(asyncio.run(main(parser.parse_args().blocks)))
