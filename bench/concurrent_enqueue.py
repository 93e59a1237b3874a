"""Benchmark: enqueue one job at a time from concurrent producers in one process.

    .venv/bin/python bench/concurrent_enqueue.py            # about a minute
    .venv/bin/python bench/concurrent_enqueue.py --quick

What an async web application does under load: PRODUCERS tasks each await one
enqueue after another, on PRODUCERS connections, for Craft Jobs, procrastinate
and pgqueuer, each in a fresh database of its own, in rotated rounds as in
engine.py. Not one of issue 2's figures; it shows what a NOTIFY per enqueue
costs when commits could be flushed together (store/notifier.py).
The last line is one JSON object: {"systems": {name: jobs_per_s}, "ratio_to_best_peer": r}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import say  # noqa: E402

import psycopg  # noqa: E402

PRODUCERS = 10
ROUNDS = 3


class CraftJobs:
    name = "craft_jobs"

    async def open(self, url: str) -> None:
        from craft_jobs.client import JobScheduler
        from craft_jobs.clock import SystemClock
        from craft_jobs.engine.engine import connect_store
        from craft_jobs.options import load_options
        from craft_jobs.store.migrations import migrate

        import noop_jobs

        self.url, self.job = url, noop_jobs.NoopJob
        options = load_options(connection_string=url, job_modules=["noop_jobs"])
        await migrate(url, options.schema_name)
        store = await connect_store(options, SystemClock(), startup_timeout=10, pool_size=PRODUCERS)
        self.scheduler = JobScheduler(store, options)

    def producer(self, index: int):
        return lambda: self.scheduler.schedule(self.job, self.job.Parameters())

    async def clear(self) -> None:
        await common.execute(self.url, "TRUNCATE craft_jobs.jobs, craft_jobs.job_states")

    async def close(self) -> None:
        await self.scheduler.close()


class Procrastinate:
    name = "procrastinate"

    async def open(self, url: str) -> None:
        import procrastinate

        self.url = url
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=url, min_size=1, max_size=PRODUCERS))

        @self.app.task(name="noop")
        async def noop(enqueued_at: float = 0.0) -> None:
            return None

        self.task = noop
        await self.app.open_async()
        await self.app.schema_manager.apply_schema_async()

    def producer(self, index: int):
        return lambda: self.task.defer_async(enqueued_at=0.0)

    async def clear(self) -> None:
        await common.execute(self.url, "TRUNCATE procrastinate_jobs, procrastinate_events CASCADE")

    async def close(self) -> None:
        await self.app.close_async()


class PgQueuer:
    name = "pgqueuer"

    async def open(self, url: str) -> None:
        from pgqueuer import PsycopgDriver, Queries

        # Its driver wraps one connection: one per producer.
        self.url = url
        self.connections = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(PRODUCERS)]
        self.queries = [Queries(PsycopgDriver(c)) for c in self.connections]
        await self.queries[0].install()
        self.payload = json.dumps({"enqueued_at": 0.0}).encode()

    def producer(self, index: int):
        return lambda: self.queries[index].enqueue("noop", self.payload)

    async def clear(self) -> None:
        await common.execute(self.url, "TRUNCATE pgqueuer, pgqueuer_log, pgqueuer_statistics")

    async def close(self) -> None:
        for connection in self.connections:
            await connection.close()


async def one_round(system, jobs: int) -> float:
    """Seconds for PRODUCERS tasks to enqueue `jobs` in all, into an empty table."""
    await system.clear()

    async def produce(index: int) -> None:
        enqueue = system.producer(index)
        for _ in range(jobs // PRODUCERS):
            await enqueue()

    start = time.perf_counter()
    await asyncio.gather(*(produce(i) for i in range(PRODUCERS)))
    return time.perf_counter() - start


async def main(jobs: int) -> dict:
    server = common.Server()
    base_url = server.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            systems = []
            for cls in (CraftJobs, Procrastinate, PgQueuer):
                url = await stack.enter_async_context(common.fresh_database(base_url, f"bench_conc_{cls.name}_{os.getpid()}"))
                system = cls()
                await system.open(url)
                stack.push_async_callback(system.close)
                systems.append(system)
            say(f"-- enqueue one by one from {PRODUCERS} concurrent producers ({jobs:,} jobs, {ROUNDS} rounds)")
            for system in systems:  # untimed warm-up
                await one_round(system, PRODUCERS * 20)
            seconds = dict.fromkeys((s.name for s in systems), 0.0)
            for round_number in range(ROUNDS):
                shift = round_number % len(systems)
                for system in systems[shift:] + systems[:shift]:
                    seconds[system.name] += await one_round(system, jobs // ROUNDS)
    finally:
        server.stop()
    done = jobs // ROUNDS // PRODUCERS * PRODUCERS * ROUNDS
    rates = {name: common.per_second(done, s) for name, s in seconds.items()}
    for name, rate in rates.items():
        say(f"   {name:<14} {rate:>9,.0f} jobs/s")
    best_peer = max(rate for name, rate in rates.items() if name != "craft_jobs")
    return {"systems": rates, "ratio_to_best_peer": round(rates["craft_jobs"] / best_peer, 3)}


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)  # "App in __main__": intended here
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer jobs")
    common.emit_json(asyncio.run(main(1500 if parser.parse_args().quick else 9000)))
