"""Benchmark: what each part of the single-job insert costs, beside pgqueuer on asyncpg.

    .venv/bin/python bench/insert_parts.py              # about two minutes
    .venv/bin/python bench/insert_parts.py --blocks 20 --jobs 500

`JobScheduler.schedule` one job at a time (as in bench/engine.py's
enqueue_single_per_s), with insert_job as it is and with one of its parts
taken out or changed: the job counters (`counted`: an append to
job_count_deltas since migration 0018), the audit row (`audit`, migration
0011), or the counters as the upsert into job_counts they were until schema
version 17. pgqueuer on asyncpg runs in the same blocks. Blocks rotate so
that the machine's drift falls on all alike; each figure is the median of its
blocks. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import engine as engine_bench  # noqa: E402
from common import say  # noqa: E402

PEER = "pgqueuer_asyncpg"


def as_upsert(query: str, schema: str) -> str:
    """The counters as schema version 17 kept them: an upsert into the connection's row of job_counts."""
    return engine_bench.without_cte(
        query, "counted",
        f"), counted AS (\nINSERT INTO \"{schema}\".job_counts AS c (state, tenant_id, queue, job_type, shard, jobs)\n"
        "SELECT state, tenant_id, queue, job_type, pg_backend_pid(), 1 FROM job\n"
        "ON CONFLICT (state, tenant_id, queue, job_type, shard) DO UPDATE SET jobs = c.jobs + 1\n)")


def variants(schema: str) -> dict:
    without = engine_bench.without_cte
    return {
        "as built": lambda q: q,
        "without counters": lambda q: without(q, "counted"),
        "without audit row": lambda q: without(q, "audit"),
        "without both": lambda q: without(without(q, "counted"), "audit"),
        "counters as an upsert": lambda q: as_upsert(q, schema),
    }


async def run(args: argparse.Namespace) -> dict:
    server = common.Server()
    base_url = server.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            systems = await engine_bench.open_systems(stack, ["craft_jobs", PEER], base_url)
            ours = systems["craft_jobs"]
            store = ours.scheduler.store
            built = dict(store.queries)
            kinds = variants(ours.schema)
            names = [*kinds, PEER]
            rates: dict[str, list[float]] = {name: [] for name in names}
            for system in systems.values():
                await engine_bench.enqueue_single(system, 200)  # warm-up: connections, prepared statements
            for block in range(args.blocks):
                shift = block % len(names)
                for name in names[shift:] + names[:shift]:
                    if name == PEER:
                        system = systems[PEER]
                    else:
                        store.queries = dict(built, insert_job=kinds[name](built["insert_job"]))
                        system = ours
                    seconds = await engine_bench.enqueue_single(system, args.jobs)
                    rates[name].append(args.jobs / seconds)
            store.queries = built
    finally:
        server.stop()
    medians = {name: statistics.median(values) for name, values in rates.items()}
    say(f"jobs enqueued one by one per second, median of {args.blocks} blocks of {args.jobs}:")
    for name, value in medians.items():
        say(f"   {name:<24} {value:7.0f}   ratio to {PEER} {value / medians[PEER]:.2f}")
    return {"jobs_per_s": {k: round(v) for k, v in medians.items()},
            "ratio_to_peer": {k: round(v / medians[PEER], 3) for k, v in medians.items()},
            "blocks": args.blocks, "jobs_per_block": args.jobs, "load_average": common.load_average()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=10, help="rounds of every variant and the peer")
    parser.add_argument("--jobs", type=int, default=300, help="jobs per block")
    return parser.parse_args(argv)


if __name__ == "__main__":
    common.emit_json(asyncio.run(run(parse_args())))
