"""Benchmark: Craft Jobs against procrastinate and pgqueuer, on one PostgreSQL, in one run.

    .venv/bin/python bench/engine.py            # about 17 minutes on 2 cores
    .venv/bin/python bench/engine.py --quick    # about 4 minutes
    .venv/bin/python bench/engine.py --systems craft_jobs --profile /tmp/craft.prof

For each system, in a fresh database of its own and with no-op jobs run
in-process (our InlineExecutor; the peers' own in-process workers):

1. enqueue one by one: sequential awaits from one process;
2. enqueue in batches of 1,000;
   (both in four rounds, the systems' order rotating between rounds)
3. claim-and-complete throughput: N jobs are enqueued first, then a worker
   starts; the clock runs from starting it until the database shows every job
   done (checked with a query, not just counted). Once with 10 slots for all,
   once with 20 slots and each system's documented best settings;
4. enqueue-to-start latency at a steady 20 jobs/s, the worker idle and waiting
   before the first job: the enqueuer stamps each job's parameters with
   `common.now()` just before its enqueue call, the job reads the clock first
   thing when it runs.
   (3 and 4 in one round per system, the order rotated: each goes first once)

pgqueuer runs twice, as two systems: on psycopg 3 like the others, and on
asyncpg, its default driver. Human-readable lines go out as it runs; the last
line is one JSON object: {"systems": {...}, "ratio_to_best_peer": {...},
"best_peer": {...}} (ratios > 1 mean we are ahead). All on the default asyncio
event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import contextlib
import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import common  # noqa: E402
from common import RECORDER, say  # noqa: E402

import psycopg  # noqa: E402

CONCURRENCY = 10
# The second throughput round: pgqueuer's default batch of 10 needs at least
# twice as many slots (it refuses fewer), so at 10 slots it runs batches of 5.
BEST_SLOTS = 20
PGQUEUER_BATCH = 10  # pgqueuer's default batch_size, and its own benchmark's
BATCH_SIZE = 1000
LATENCY_RATE = 20.0  # jobs per second
ENQUEUE_ROUNDS = 4
WARM_UP_JOBS = 1000
METRICS = ("enqueue_single_per_s", "enqueue_batch_per_s", "throughput_per_s", "throughput_best_per_s",
           "latency_p50_ms", "latency_p99_ms")
HIGHER_IS_BETTER = {"enqueue_single_per_s", "enqueue_batch_per_s", "throughput_per_s", "throughput_best_per_s"}
SYSTEMS = ("craft_jobs", "procrastinate", "pgqueuer", "pgqueuer_asyncpg")


@dataclass(frozen=True)
class Sizes:
    # Jobs enqueued one by one. About half a millisecond each: with fewer,
    # a round lasted a quarter second and the ratio moved by 10% with noise.
    single: int
    batched: int  # jobs enqueued in batches of BATCH_SIZE
    throughput: int  # jobs pre-enqueued, then processed (each round)
    throughput_deadline: float  # seconds; a system slower than that is rated on what it did
    latency_seconds: float  # how long jobs arrive at LATENCY_RATE, over all rounds


FULL = Sizes(single=6000, batched=20_000, throughput=10_000, throughput_deadline=90, latency_seconds=40)
QUICK = Sizes(single=1200, batched=4000, throughput=2000, throughput_deadline=20, latency_seconds=8)


# -- the systems ---------------------------------------------------------------------
#
# Each adapter offers the same steps; `ready` is called once in a fresh database.
# `start_worker(slots)` runs a worker with that many concurrent jobs, at the
# system's documented best settings for that many.


class CraftJobs:
    name = "craft_jobs"
    schema = "craft_jobs"
    job_counts = True

    def __init__(self, url: str):
        self.url = url
        self.engine = None
        self.scheduler = None
        self._own_scheduler = False

    async def ready(self) -> None:
        from craft_jobs.client import JobScheduler
        from craft_jobs.options import load_options
        from craft_jobs.store.migrations import migrate

        import noop_jobs

        self.job = noop_jobs.NoopJob
        self.options = load_options(
            connection_string=self.url,
            schema_name=self.schema,
            worker_count=CONCURRENCY,
            job_modules=["noop_jobs"],
            polling_interval_seconds=15,
        )
        await migrate(self.url, self.schema)
        if not self.job_counts:  # the A/B variant below
            await common.execute(self.url, f"ALTER TABLE {self.schema}.jobs DISABLE TRIGGER USER")
        # Enqueue phases run without an engine, as for the peers: a client's own pool.
        self.scheduler = await JobScheduler.connect(self.options)
        self._own_scheduler = True

    def params(self, enqueued_at: float = 0.0) -> Any:
        return self.job.Parameters(enqueued_at=enqueued_at)

    async def enqueue_one(self, enqueued_at: float = 0.0) -> None:
        await self.scheduler.schedule(self.job, self.params(enqueued_at))

    async def enqueue_batch(self, count: int) -> None:
        await self.scheduler.schedule_batch([(self.job, self.params()) for _ in range(count)])

    async def start_worker(self, slots: int = CONCURRENCY) -> None:
        from craft_jobs.engine.engine import Engine
        from craft_jobs.engine.inline import InlineExecutor

        self.engine = Engine(self.options.model_copy(update={"worker_count": slots}), InlineExecutor())
        await self.engine.start()

    async def stop_worker(self) -> None:
        await self.engine.stop()
        self.engine = None

    async def counts(self) -> tuple[int, int]:
        """(jobs done, jobs in the table)."""
        return await common.query_one(
            self.url,
            f"SELECT count(*) FILTER (WHERE state = 'Succeeded'), count(*) FROM {self.schema}.jobs",
        )

    async def clear(self) -> None:
        await common.execute(self.url, f"TRUNCATE {self.schema}.jobs, {self.schema}.job_states")

    async def analyze(self) -> None:
        await common.execute(self.url, f"ANALYZE {self.schema}.jobs", f"ANALYZE {self.schema}.job_states")

    async def close(self) -> None:
        if self.engine is not None:
            await self.stop_worker()
        if self.scheduler is not None and self._own_scheduler:
            await self.scheduler.close()


class Procrastinate:
    name = "procrastinate"

    def __init__(self, url: str):
        self.url = url
        self.worker_task: asyncio.Task | None = None

    async def ready(self) -> None:
        import procrastinate

        # A pool ceiling that 20 slots never wait on (our engine's: 14 and 2 for its dispatcher).
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=self.url, min_size=1, max_size=BEST_SLOTS + 4)
        )

        @self.app.task(name="noop")
        async def noop(enqueued_at: float = 0.0) -> None:
            RECORDER.started(enqueued_at)

        self.task = noop
        await self.app.open_async()
        await self.app.schema_manager.apply_schema_async()

    async def enqueue_one(self, enqueued_at: float = 0.0) -> None:
        await self.task.defer_async(enqueued_at=enqueued_at)

    async def enqueue_batch(self, count: int) -> None:
        await self.task.batch_defer_async(*({"enqueued_at": 0.0} for _ in range(count)))

    async def start_worker(self, slots: int = CONCURRENCY) -> None:
        # Its only documented lever for throughput: concurrency (one job per fetch).
        self.worker_task = asyncio.create_task(
            self.app.run_worker_async(
                concurrency=slots, wait=True, install_signal_handlers=False, listen_notify=True
            )
        )
        await asyncio.sleep(0)

    async def stop_worker(self) -> None:
        self.worker_task.cancel()
        try:
            await self.worker_task
        except asyncio.CancelledError:
            pass
        self.worker_task = None

    async def counts(self) -> tuple[int, int]:
        return await common.query_one(
            self.url, "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FROM procrastinate_jobs"
        )

    async def clear(self) -> None:
        await common.execute(self.url, "TRUNCATE procrastinate_jobs, procrastinate_events CASCADE")

    async def analyze(self) -> None:
        await common.execute(self.url, "ANALYZE procrastinate_jobs", "ANALYZE procrastinate_events")

    async def close(self) -> None:
        if self.worker_task is not None:
            await self.stop_worker()
        await self.app.close_async()


class PgQueuer:
    """pgqueuer on psycopg 3, as the other systems."""

    name = "pgqueuer"

    def __init__(self, url: str):
        self.url = url
        self.worker_task: asyncio.Task | None = None
        self.worker_conn = None

    async def connect(self):
        """A connection and pgqueuer's driver over it."""
        from pgqueuer import PsycopgDriver

        conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        return conn, PsycopgDriver(conn)

    async def ready(self) -> None:
        from pgqueuer import Queries

        # pgqueuer's drivers wrap one connection: one for the client, one for the
        # worker, as its docs advise (a dedicated connection for the QueueManager).
        self.conn, driver = await self.connect()
        self.queries = Queries(driver)
        await self.queries.install()
        await self.queries.optimize_autovacuum()  # its checklist's `pgq autovac`

    async def enqueue_one(self, enqueued_at: float = 0.0) -> None:
        await self.queries.enqueue("noop", json.dumps({"enqueued_at": enqueued_at}).encode())

    async def enqueue_batch(self, count: int) -> None:
        payload = json.dumps({"enqueued_at": 0.0}).encode()
        await self.queries.enqueue(["noop"] * count, [payload] * count, [0] * count)

    async def start_worker(self, slots: int = CONCURRENCY) -> None:
        from pgqueuer import Queries, QueueManager

        self.worker_conn, driver = await self.connect()
        self.qm = QueueManager(Queries(driver))

        @self.qm.entrypoint("noop")
        async def noop(job) -> None:
            RECORDER.started(json.loads(job.payload)["enqueued_at"])

        # max_concurrent_tasks must be at least twice the batch size.
        self.worker_task = asyncio.create_task(
            self.qm.run(batch_size=min(PGQUEUER_BATCH, slots // 2), max_concurrent_tasks=slots)
        )
        await asyncio.sleep(0)

    async def stop_worker(self) -> None:
        self.qm.shutdown.set()
        try:
            await asyncio.wait_for(self.worker_task, 30)
        finally:
            self.worker_task = None
            await self.worker_conn.close()

    async def counts(self) -> tuple[int, int]:
        # A done job leaves the queue table; the log keeps one row per step of it.
        return await common.query_one(
            self.url,
            "SELECT count(*) FILTER (WHERE status = 'successful'), count(*) FILTER (WHERE status = 'queued')"
            " FROM pgqueuer_log",
        )

    async def clear(self) -> None:
        await common.execute(self.url, "TRUNCATE pgqueuer, pgqueuer_log, pgqueuer_statistics")

    async def analyze(self) -> None:
        await common.execute(self.url, "ANALYZE pgqueuer", "ANALYZE pgqueuer_log")

    async def close(self) -> None:
        if self.worker_task is not None:
            await self.stop_worker()
        await self.conn.close()


class PgQueuerAsyncpg(PgQueuer):
    """pgqueuer on asyncpg, its default driver (which its docs find about twice
    as fast as its psycopg one)."""

    name = "pgqueuer_asyncpg"

    async def connect(self):
        import asyncpg
        from pgqueuer import AsyncpgDriver

        # asyncpg takes no libpq key=value strings (nor their socket folders as `host=`).
        params = psycopg.conninfo.conninfo_to_dict(self.url)
        conn = await asyncpg.connect(
            host=params.get("host"), port=params.get("port"), user=params.get("user"),
            password=params.get("password"), database=params.get("dbname"),
        )
        return conn, AsyncpgDriver(conn)


def without_cte(query: str, cte: str, replacement: str = ")") -> str:
    """`query` with its CTE `cte` taken out, or replaced by `replacement` (which
    closes the CTE before it)."""
    stripped = re.sub(rf"\), {cte} AS \(\n.*?\n\)(?=[\n,])", replacement, query, count=1, flags=re.DOTALL)
    assert stripped != query, f"no CTE {cte!r} in the statement"
    return stripped


def uncounted(query: str) -> str:
    """An insert statement without its `counted` CTE (the job counters, migration 0009)."""
    stripped = without_cte(query, "counted")
    assert "job_counts" not in stripped, "the counting CTE was not found"
    return stripped


class CraftJobsUncounted(CraftJobs):
    """Craft Jobs without the dashboard's job counters (migration 0009): its
    triggers disabled and its insert statements without their counting CTE.
    `--systems craft_jobs,craft_jobs_uncounted` runs the two side by side, in
    rotated rounds like any peer, and the "ratio to the best peer" is then
    what the counters cost (counted over uncounted). Not in the default run."""

    name = "craft_jobs_uncounted"
    job_counts = False

    async def ready(self) -> None:
        await super().ready()
        # A copy: load_queries' dict is shared by every store in the process,
        # craft_jobs' included, which must keep its counters.
        queries = self.scheduler.store.queries = dict(self.scheduler.store.queries)
        for name in ("insert_job", "insert_jobs_batch"):
            queries[name] = uncounted(queries[name])


ADAPTERS = {cls.name: cls for cls in (CraftJobs, Procrastinate, PgQueuer, PgQueuerAsyncpg, CraftJobsUncounted)}


# -- the phases -------------------------------------------------------------------------


async def all_done(system, expected: int) -> bool:
    done, total = await system.counts()
    return done >= expected and total >= expected


async def enqueue_single(system, count: int) -> float:
    """Seconds to enqueue `count` jobs one by one, into an empty table."""
    await system.clear()
    start = time.perf_counter()
    for _ in range(count):
        await system.enqueue_one()
    elapsed = time.perf_counter() - start
    done, total = await system.counts()
    assert total == count, f"{system.name}: {total} jobs stored, expected {count}"
    return elapsed


async def enqueue_batched(system, count: int) -> float:
    """Seconds to enqueue `count` jobs in batches of BATCH_SIZE, into an empty table."""
    await system.clear()
    start = time.perf_counter()
    for offset in range(0, count, BATCH_SIZE):
        await system.enqueue_batch(min(BATCH_SIZE, count - offset))
    elapsed = time.perf_counter() - start
    _, total = await system.counts()
    assert total == count, f"{system.name}: {total} jobs stored, expected {count}"
    return elapsed


def rotated(names: list[str], round_number: int) -> list[str]:
    """The systems' order in a round: each round starts one system later."""
    shift = round_number % len(names)
    return names[shift:] + names[:shift]


async def in_rounds(systems: dict[str, Any], count: int, phase) -> dict[str, float]:
    """Jobs per second of each system over ENQUEUE_ROUNDS rounds of count/ENQUEUE_ROUNDS
    jobs, the systems' order rotating from round to round: who goes first, and a
    drift in the machine's load during the phase, then touch all of them alike.
    Each system first does one untimed warm-up round."""
    names = list(systems)
    seconds = dict.fromkeys(names, 0.0)
    per_round = max(1, count // ENQUEUE_ROUNDS)
    for name in names:  # untimed: first connections, prepared statements, caches
        await phase(systems[name], min(per_round, WARM_UP_JOBS))
    for round_number in range(ENQUEUE_ROUNDS):
        for name in rotated(names, round_number):
            seconds[name] += await phase(systems[name], per_round)
    return {name: common.per_second(per_round * ENQUEUE_ROUNDS, seconds[name]) for name in names}


async def throughput(
    system, count: int, deadline: float, profile: cProfile.Profile | None, slots: int
) -> tuple[float, dict]:
    """Jobs per second from starting a worker with `slots` slots until the
    database shows all `count` done; a system still busy after `deadline`
    seconds is rated on the jobs done by then (marked partial), so that a slow
    one cannot stall the run."""
    await system.clear()
    for offset in range(0, count, BATCH_SIZE):
        await system.enqueue_batch(min(BATCH_SIZE, count - offset))
    await system.analyze()
    RECORDER.reset(count)
    if profile is not None:
        profile.enable()
    start = time.perf_counter()
    await system.start_worker(slots)
    started = await RECORDER.wait_all_started(timeout=deadline)
    remaining = max(1.0, deadline - (time.perf_counter() - start))
    finished = started and await common.wait_for(lambda: all_done(system, count), timeout=remaining, interval=0.01)
    elapsed = time.perf_counter() - start
    if profile is not None:
        profile.disable()
    done, _ = await system.counts()
    await system.stop_worker()
    if not finished and done == 0:
        raise RuntimeError(f"{system.name}: no job done in {deadline:.0f} s ({RECORDER.count} started)")
    detail = {"jobs": count, "done": done, "seconds": round(elapsed, 3), "partial": not finished}
    return common.per_second(done, elapsed), detail


async def latency(system, count: int) -> tuple[list[float], float]:
    """One round: `count` jobs at LATENCY_RATE to an idle, waiting worker;
    returns their enqueue-to-start latencies (ms) and the seconds sending took."""
    await system.clear()
    RECORDER.reset(count)
    await system.start_worker()
    await asyncio.sleep(1.5)  # idle and waiting (LISTEN set up, first empty poll done)

    async def send(_: int) -> None:
        await system.enqueue_one(common.now())

    sent_in = await common.paced(count, LATENCY_RATE, send)
    started = await RECORDER.wait_all_started(timeout=30)
    finished = started and await common.wait_for(lambda: all_done(system, count), timeout=30)
    await system.stop_worker()
    if not finished:
        raise RuntimeError(f"{system.name}: only {RECORDER.count} of {count} latency jobs ran")
    return list(RECORDER.latencies_ms), sent_in


async def open_systems(stack: contextlib.AsyncExitStack, names: list[str], base_url: str) -> dict[str, Any]:
    """One fresh database per system, created now and dropped when `stack` closes."""
    systems = {}
    for name in names:
        database = f"bench_{name}_{os.getpid()}"
        url = await stack.enter_async_context(common.fresh_database(base_url, database))
        system = ADAPTERS[name](url)
        await system.ready()
        stack.push_async_callback(system.close)
        systems[name] = system
        say(f"   {name}: database {database}")
    return systems


async def throughput_phase(
    systems: dict[str, Any], sizes: Sizes, results: dict, metric: str, slots: int, profile: cProfile.Profile | None
) -> None:
    """One round per system, the order rotated so that each goes first once;
    a system's figure is its jobs done over its time in all rounds."""
    rounds: dict[str, list[dict]] = {name: [] for name in systems}
    for round_number in range(len(systems)):
        for name in rotated(list(systems), round_number):
            value, detail = await throughput(
                systems[name], sizes.throughput, sizes.throughput_deadline,
                profile if name == "craft_jobs" else None, slots)
            rounds[name].append(detail)
            if detail["partial"]:
                how = f"only {detail['done']:,} of {detail['jobs']:,} done in the database after {detail['seconds']:.1f} s"
            else:
                how = f"{detail['jobs']:,} jobs in {detail['seconds']:.2f} s, all done in the database"
            say(f"   {name:<16} {value:>9,.0f} jobs/s  ({how})")
    for name, details in rounds.items():
        done, seconds = sum(d["done"] for d in details), sum(d["seconds"] for d in details)
        value = results[name][metric] = common.per_second(done, seconds)
        results[name][metric.replace("_per_s", "_detail")] = {
            "slots": slots, "jobs": sum(d["jobs"] for d in details), "done": done, "seconds": round(seconds, 3),
            "partial": any(d["partial"] for d in details),
            "rounds_per_s": [common.per_second(d["done"], d["seconds"]) for d in details],
        }
        say(f"   {name:<16} {value:>9,.0f} jobs/s  over all rounds")


async def run_phases(systems: dict[str, Any], sizes: Sizes, profile_path: str | None) -> dict[str, dict[str, Any]]:
    """Phase by phase, each system in turn: a drift in the machine's background
    load then touches all systems alike instead of one system's whole run."""
    results: dict[str, dict[str, Any]] = {name: {} for name in systems}

    say(f"-- enqueue one by one ({sizes.single:,} sequential awaits, in {ENQUEUE_ROUNDS} rounds)")
    for name, value in (await in_rounds(systems, sizes.single, enqueue_single)).items():
        results[name]["enqueue_single_per_s"] = value
        say(f"   {name:<16} {value:>9,.0f} jobs/s")

    say(f"-- enqueue in batches of {BATCH_SIZE:,} ({sizes.batched:,} jobs, in {ENQUEUE_ROUNDS} rounds)")
    for name, value in (await in_rounds(systems, sizes.batched, enqueue_batched)).items():
        results[name]["enqueue_batch_per_s"] = value
        say(f"   {name:<16} {value:>9,.0f} jobs/s")

    profile = cProfile.Profile() if profile_path and "craft_jobs" in systems else None
    for slots, metric, how in (
        (CONCURRENCY, "throughput_per_s", "all at the same settings"),
        (BEST_SLOTS, "throughput_best_per_s", "each at its documented best settings"),
    ):
        say(f"-- claim and complete with {slots} slots, {how} ({sizes.throughput:,} jobs enqueued first,"
            f" {len(systems)} rounds)")
        await throughput_phase(systems, sizes, results, metric, slots, profile if slots == CONCURRENCY else None)
    if profile is not None:
        profile.dump_stats(profile_path)
        say(f"   (profile of our {CONCURRENCY}-slot throughput phase written to {profile_path})")

    per_round = int(sizes.latency_seconds * LATENCY_RATE) // len(systems)
    say(f"-- enqueue-to-start latency at {LATENCY_RATE:.0f} jobs/s ({per_round * len(systems)} jobs in"
        f" {len(systems)} rounds, worker idle and waiting)")
    latencies: dict[str, list[float]] = {name: [] for name in systems}
    sending: dict[str, float] = dict.fromkeys(systems, 0.0)
    for round_number in range(len(systems)):
        for name in rotated(list(systems), round_number):
            values, sent_in = await latency(systems[name], per_round)
            latencies[name] += values
            sending[name] += sent_in
    for name, values in latencies.items():
        p50, p99 = round(common.percentile(values, 50), 2), round(common.percentile(values, 99), 2)
        detail = {
            "jobs": len(values),
            "achieved_rate_per_s": common.per_second(len(values), sending[name]),
            "min_ms": round(min(values), 2),
            "max_ms": round(max(values), 2),
            "p90_ms": round(common.percentile(values, 90), 2),
        }
        results[name].update(latency_p50_ms=p50, latency_p99_ms=p99, latency_detail=detail)
        say(f"   {name:<16} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   (p90 {detail['p90_ms']:.1f}, max {detail['max_ms']:.1f})")
    return results


def best_peers(systems: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    """For each figure, the peer that did best on it."""
    peers = {k: v for k, v in systems.items() if k != "craft_jobs"}
    pick = {True: max, False: min}
    return {
        metric: pick[metric in HIGHER_IS_BETTER](peers, key=lambda name: peers[name][metric]) if peers else None
        for metric in METRICS
    }


def ratios(systems: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Ours over the best peer for throughputs, best peer over ours for latencies: > 1 = ahead."""
    ours = systems.get("craft_jobs")
    out: dict[str, float | None] = {}
    for metric, peer in best_peers(systems).items():
        if not ours or peer is None or not ours.get(metric):
            out[metric] = None
            continue
        best = systems[peer][metric]
        if metric in HIGHER_IS_BETTER:
            out[metric] = round(ours[metric] / best, 3) if best else None
        else:
            out[metric] = round(best / ours[metric], 3)
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    sizes = QUICK if args.quick else FULL
    server = common.Server()
    base_url = server.start()
    load_at_start = os.getloadavg()
    say(f"load average {load_at_start[0]:.2f} {load_at_start[1]:.2f} {load_at_start[2]:.2f}")
    try:
        info = common.describe_server(base_url)
        say(f"PostgreSQL {info['version']} ({server.source}), synchronous_commit={info.get('synchronous_commit')}, "
            f"{os.cpu_count()} CPUs; {'quick' if args.quick else 'full'} sizes: {sizes}")
        async with contextlib.AsyncExitStack() as stack:
            adapters = await open_systems(stack, args.systems, base_url)
            systems = await run_phases(adapters, sizes, args.profile)
    finally:
        server.stop()
    load_at_end = os.getloadavg()
    summary = {
        "systems": {k: {m: v[m] for m in METRICS} for k, v in systems.items()},
        "ratio_to_best_peer": ratios(systems),
        "best_peer": best_peers(systems),
        "load_average": {"start": [round(x, 2) for x in load_at_start], "end": [round(x, 2) for x in load_at_end]},
    }
    say()
    say("ratio to the best peer (> 1 = we are ahead; targets: every figure > 1, throughput_per_s >= 1.5, p99 >= 1):")
    for metric, value in summary["ratio_to_best_peer"].items():
        say(f"   {metric:<22} {'-' if value is None else f'{value:.2f}'}  (best peer: {summary['best_peer'][metric]})")
    say(f"load average at the end {load_at_end[0]:.2f} {load_at_end[1]:.2f} {load_at_end[2]:.2f}")
    details = ("throughput_detail", "throughput_best_detail", "latency_detail")
    say(f"details: {json.dumps({k: {d: v[d] for d in details} for k, v in systems.items()})}")
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer jobs: about 4 minutes on 2 cores")
    parser.add_argument(
        "--systems", default=",".join(SYSTEMS),
        help=f"comma-separated subset of {','.join(SYSTEMS)} (default: all), or craft_jobs_uncounted (an A/B)",
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile our throughput phase into FILE")
    args = parser.parse_args(argv)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(args.systems) - set(ADAPTERS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    return args


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)  # "App in __main__": intended here
    result = asyncio.run(main(parse_args()))
    common.emit_json(result)
