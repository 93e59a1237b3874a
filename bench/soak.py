"""Soak: many jobs through the engine and the operator; memory must stay flat.

    .venv/bin/python bench/soak.py                        # 100,000 engine jobs, 10,000 BackgroundJobs
    .venv/bin/python bench/soak.py --quick                # 5,000 and 1,000
    .venv/bin/python bench/soak.py --only engine --executor local --engine-jobs 2000
    .venv/bin/python bench/soak.py --only operator --operator-jobs 10000

Engine: the engine runs in a child process of its own (so its RSS is its
own), with the inline executor (`engine/inline.py`, the default: a process
per run costs more than the engine itself, see bench/README.md) or the local
executor (`--executor local`: `craft-jobs dev`, the command a user runs).
This process enqueues through the SDK (`JobScheduler`) while the engine runs,
keeping about `--backlog` runs ahead of it: mostly no-op and short jobs in
batches, and one by one some that fail and are retried (some until they end
Failed), some delayed, some continuations (chains of two), plus two
recurring jobs firing every minute. Every run appends "<job id> <attempt>" to
a file (bench/soak_jobs.py); at the end every job must be in its expected
final state, with exactly its expected runs in that file, in the row's
`runs` and in its state history (Processing rows): none lost, none run twice.

Operator: bench/soak_operator.py (10,000 BackgroundJobs in waves, on the API
emulator).

The engine's (or operator's) RSS is printed at the start, 25/50/75% and the
end, with the throughput of each quarter; the run fails (exit 1) when a job
is lost, runs twice or ends in another state, or when RSS grows by more than
`--max-rss-growth-mib` between the middle and the end (see bench/README.md
for why that bound). Human lines as it goes; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import os
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.append(str(BENCH))

import common  # noqa: E402
import soak_jobs  # noqa: E402
from common import CHECKPOINTS, emit_json, load_average, rss_mib, say  # noqa: E402

FINAL_STATES = ("Succeeded", "Failed", "Deleted")
RECURRING_IDS = ("soak-every-minute-a", "soak-every-minute-b")
# A flaky job's retries: short backoff, so a retried job is done within seconds.
RETRIES = 3
DOOMED_RETRIES = 1
BATCH = 500


# -- the engine's process -------------------------------------------------------------


def engine_child(database: str, workers: int) -> None:
    """The engine with the inline executor; answers "stats" on stdin with its
    live object and task counts; stops when stdin closes."""
    import logging

    from craft_jobs.engine.engine import Engine
    from craft_jobs.engine.inline import InlineExecutor
    from craft_jobs.options import load_options

    logging.basicConfig(level=logging.WARNING)
    # The soak's jobs fail on purpose: their tracebacks are expected, not news.
    logging.getLogger("craft_jobs_runner.jobs").setLevel(logging.CRITICAL)
    options = load_options(connection_string=database, job_modules=["soak_jobs"], worker_count=workers)

    async def main() -> None:
        engine = Engine(options, InlineExecutor(options.cancel_grace_seconds))
        stop = asyncio.Event()

        def on_stdin() -> None:
            line = sys.stdin.readline()
            if not line:
                stop.set()
                return
            stats = {"objects": len(gc.get_objects()), "tasks": len(asyncio.all_tasks())}
            print(json.dumps(stats), flush=True)

        asyncio.get_running_loop().add_reader(sys.stdin.fileno(), on_stdin)
        await engine.start()
        print(json.dumps({"ready": True}), flush=True)
        try:
            await stop.wait()
        finally:
            await engine.stop(grace_seconds=5)

    asyncio.run(main())


class EngineProcess:
    """The engine under test, in its own process."""

    def __init__(self, executor: str, database: str, workers: int, executions_log: Path, data_dir: Path):
        self.executor, self.database, self.workers = executor, database, workers
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CRAFT_JOBS_")},
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCH)]),
            soak_jobs.EXECUTIONS_LOG_ENV: str(executions_log),
        }
        self.data_dir = data_dir
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        if self.executor == "local":
            # What a user runs: `craft-jobs dev` on their database, without the dashboard.
            env = {**self.env, "CRAFT_JOBS_CONNECTION_STRING": self.database, "CRAFT_JOBS_ENABLE_DASHBOARD": "false",
                   "CRAFT_JOBS_WORKER_COUNT": str(self.workers), "CRAFT_JOBS_DATA_DIR": str(self.data_dir)}
            command = [str(Path(sys.executable).with_name("craft-jobs")), "dev", "--job-modules", "soak_jobs"]
            self.proc = await asyncio.create_subprocess_exec(
                *command, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=str(self.data_dir))
            await self._read_until(lambda line: line.startswith("Craft Jobs is running"))
        else:
            command = [sys.executable, __file__, "--engine-child", "--database", self.database, "--workers", str(self.workers)]
            self.proc = await asyncio.create_subprocess_exec(
                *command, env=self.env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            await self._read_until(lambda line: '"ready"' in line)

    async def _read_until(self, done) -> str:
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), 120)
            if not raw:
                raise RuntimeError(f"the engine process exited ({await self.proc.wait()}) before it was ready")
            line = raw.decode()
            if done(line):
                return line

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def objects(self) -> int | None:
        """Live Python objects in the engine (inline only: `craft-jobs dev` has no such query)."""
        if self.executor != "inline":
            return None
        self.proc.stdin.write(b"stats\n")
        await self.proc.stdin.drain()
        return json.loads(await self._read_until(lambda line: '"objects"' in line))["objects"]

    async def stop(self) -> int:
        if self.executor == "local":
            self.proc.terminate()  # Ctrl+C's path: SIGTERM stops `craft-jobs dev`
        else:
            self.proc.stdin.close()
        try:
            return await asyncio.wait_for(self.proc.wait(), 60)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()


# -- what the jobs wrote down ----------------------------------------------------------------


class ExecutionsLog:
    """Reads the runs the jobs appended, as they come."""

    def __init__(self, path: Path):
        self.path = path
        self.path.touch()
        self._file = path.open("rb")
        self._partial = b""
        self.runs: collections.Counter[tuple[int, int]] = collections.Counter()
        self.recurring = 0
        self.total = 0

    def read_new(self) -> int:
        data = self._partial + self._file.read()
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            job_id, attempt, job_type = line.split()
            self.runs[(int(job_id), int(attempt))] += 1
            self.recurring += job_type == soak_jobs.SoakRecurring.job_type.encode()
        self.total += len(lines)
        return self.total - self.recurring  # the runs of the jobs enqueued one by one or in batches

    def close(self) -> None:
        self._file.close()


# -- the mix -------------------------------------------------------------------------------------


class Expected:
    """What each job must end as: its state and its number of runs."""

    def __init__(self) -> None:
        self.jobs: dict[int, tuple[str, int]] = {}
        self.kinds: collections.Counter[str] = collections.Counter()
        self.runs = 0

    def add(self, job_id: int, kind: str, state: str = "Succeeded", runs: int = 1) -> None:
        self.jobs[job_id] = (state, runs)
        self.kinds[kind] += 1
        self.runs += runs


async def enqueue_block(scheduler, size: int, rng: random.Random, expected: Expected) -> None:
    """`size` jobs (a multiple of 100): 80% no-op and 8% short in one batch;
    one by one 4% flaky (1-2 failures, retried), 1% failing for good, 4%
    delayed 1-15 s, and 1% chains of parent + two continuations (3%)."""
    from craft_jobs.backoff import RetryPolicy

    from soak_jobs import SoakFlaky, SoakNoop, SoakShort

    retry = RetryPolicy(max_attempts=RETRIES, base_seconds=0.5, max_seconds=2)
    doomed = RetryPolicy(max_attempts=DOOMED_RETRIES, base_seconds=0.5, max_seconds=2)
    hundreds = size // 100
    batch = [(SoakNoop, None)] * (80 * hundreds) + [(SoakShort, {"sleep_ms": rng.randint(5, 30)}) for _ in range(8 * hundreds)]
    for job_id, (job, _) in zip(await scheduler.schedule_batch(batch), batch):
        expected.add(job_id, "noop" if job is SoakNoop else "short")
    for _ in range(4 * hundreds):
        failures = rng.randint(1, 2)
        expected.add(await scheduler.schedule(SoakFlaky, {"failures": failures}, retry=retry), "flaky", runs=failures + 1)
    for _ in range(hundreds):
        job_id = await scheduler.schedule(SoakFlaky, {"failures": 11}, retry=doomed)
        expected.add(job_id, "failing", state="Failed", runs=DOOMED_RETRIES + 1)
    for _ in range(4 * hundreds):
        expected.add(await scheduler.schedule(SoakNoop, delay=timedelta(seconds=rng.uniform(1, 15))), "delayed")
    for _ in range(hundreds):
        parent = await scheduler.schedule(SoakNoop)
        child = await scheduler.continue_with(parent, SoakNoop)
        grandchild = await scheduler.continue_with(child, SoakNoop)
        for job_id in (parent, child, grandchild):
            expected.add(job_id, "continuation chain")


# -- the check -------------------------------------------------------------------------------------


async def check_store(database: str, expected: Expected, log: ExecutionsLog) -> dict:
    """Every job against the store and the executions log."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        rows = await (await conn.execute(
            "SELECT id, state::text, runs, recurring_id FROM craft_jobs.jobs")).fetchall()
        started = dict(await (await conn.execute(
            "SELECT job_id, count(*) FROM craft_jobs.job_states WHERE state = 'Processing' GROUP BY job_id")).fetchall())
    runs_by_job: collections.Counter[int] = collections.Counter()
    for (job_id, _attempt), count in log.runs.items():
        runs_by_job[job_id] += count
    twice = sum(1 for count in log.runs.values() if count > 1)  # one attempt run more than once
    stored = {job_id: (state, runs, recurring) for job_id, state, runs, recurring in rows}
    lost = [job_id for job_id in expected.jobs if job_id not in stored]
    mismatches: list[str] = []
    recurring_fires = 0
    for job_id, (state, runs, recurring) in stored.items():
        if recurring is not None:
            recurring_fires += 1
            want_state, want_runs = "Succeeded", 1
        elif job_id in expected.jobs:
            want_state, want_runs = expected.jobs[job_id]
        else:
            mismatches.append(f"job {job_id}: in the store, never scheduled by the soak")
            continue
        seen = (state, runs_by_job[job_id], runs, started.get(job_id, 0))
        if seen != (want_state, want_runs, want_runs, want_runs):
            mismatches.append(f"job {job_id}: {state}, {seen[1]} runs written down, runs={runs}, "
                              f"{seen[3]} Processing rows; expected {want_state} after {want_runs}")
    strangers = [job_id for job_id in runs_by_job if job_id not in stored]
    lost_runs = [job_id for job_id in lost if runs_by_job[job_id] == 0]
    return {"jobs": len(expected.jobs), "recurring_fires": recurring_fires, "lost": len(lost),
            "lost_never_ran": len(lost_runs), "attempts_run_twice": twice, "mismatches": len(mismatches),
            "runs_of_unknown_jobs": len(strangers), "examples": (mismatches + [f"lost {j}" for j in lost])[:10]}


async def unfinished(database: str) -> int:
    row = await common.query_one(
        database, "SELECT count(*) FROM craft_jobs.jobs WHERE state NOT IN ('Succeeded', 'Failed', 'Deleted')")
    return row[0]


# -- the engine soak --------------------------------------------------------------------------------


async def engine_soak(count: int, executor: str, workers: int, backlog: int, max_growth_mib: float,
                      max_object_growth: int, seed: int) -> dict:
    from craft_jobs.client import JobScheduler
    from craft_jobs.options import load_options
    from craft_jobs.store.migrations import migrate

    count = max(100, count // 100 * 100)
    rng = random.Random(seed)
    server = common.Server()
    base = server.start()
    result: dict = {"executor": executor, "jobs": count, "workers": workers, "load_average_start": load_average()}
    say(f"engine soak: {count:,} jobs, {executor} executor, {workers} workers, PostgreSQL from {server.source}; "
        f"load average {result['load_average_start']}")
    try:
        with tempfile.TemporaryDirectory(prefix="craft-jobs-soak-") as tmp:
            async with common.fresh_database(base, f"bench_soak_{os.getpid()}") as database:
                await migrate(database, "craft_jobs")
                log = ExecutionsLog(Path(tmp) / "executions.log")
                engine = EngineProcess(executor, database, workers, log.path, Path(tmp))
                await engine.start()
                scheduler = await JobScheduler.connect(load_options(connection_string=database))
                try:
                    result.update(await drive(engine, scheduler, log, count, rng, backlog))
                    for recurring_id in RECURRING_IDS:
                        await scheduler.remove_recurring(recurring_id)
                    # A fire in flight when the recurring jobs were removed ends within seconds.
                    await common.wait_for(lambda: _zero(unfinished(database)), timeout=60, interval=0.5)
                    log.read_new()
                    check = await check_store(database, result.pop("_expected"), log)
                finally:
                    await scheduler.close()
                    result["engine_exit_code"] = await engine.stop()
                    log.close()
    finally:
        server.stop()
    result["check"] = check
    result["load_average_end"] = load_average()
    rss = result["rss_mib"]
    growth = round(rss["end"] - rss["50%"], 1)
    objects = result.get("objects") or {}
    object_growth = objects["end"] - objects["50%"] if objects else None
    result.update(rss_growth_mib_middle_to_end=growth, rss_growth_bound_mib=max_growth_mib,
                  object_growth_middle_to_end=object_growth)
    say(f"   check: {check['jobs']:,} jobs and {check['recurring_fires']} recurring fires; lost {check['lost']}, "
        f"attempts run twice {check['attempts_run_twice']}, mismatches {check['mismatches']}, "
        f"runs of unknown jobs {check['runs_of_unknown_jobs']}")
    for example in check["examples"]:
        say(f"     {example}")
    say(f"   RSS growth middle -> end: {growth:+.1f} MiB (bound {max_growth_mib} MiB)"
        + ("" if object_growth is None else f"; live objects {object_growth:+,} (bound {max_object_growth:,})"))
    failures = []
    if check["lost"] or check["attempts_run_twice"] or check["mismatches"] or check["runs_of_unknown_jobs"]:
        failures.append("jobs lost, run twice or in the wrong state")
    if growth > max_growth_mib:
        failures.append(f"RSS grew {growth} MiB between the middle and the end (bound {max_growth_mib})")
    if object_growth is not None and object_growth > max_object_growth:
        failures.append(f"live objects grew by {object_growth:,} between the middle and the end (bound {max_object_growth:,})")
    result["failures"] = failures
    return result


async def _zero(pending) -> bool:
    return await pending == 0


async def drive(engine: EngineProcess, scheduler, log: ExecutionsLog, count: int, rng: random.Random, backlog: int) -> dict:
    """Enqueues `count` jobs while the engine runs, never more than `backlog`
    runs ahead of it; samples RSS at the start, 25/50/75% of the runs and the end."""
    expected = Expected()
    for recurring_id in RECURRING_IDS:
        await scheduler.schedule_recurring(recurring_id, job=soak_jobs.SoakRecurring, interval_minutes=1)
    rss = {"start": rss_mib(engine.pid)}
    objects = {"start": await engine.objects()}
    say(f"   engine pid {engine.pid} up: RSS {rss['start']} MiB" + _objects_text(objects["start"]))
    # The runs expected in total are known only once every job is enqueued: checkpoints
    # count jobs enqueued and runs done against the mix's runs per job (~1.1).
    started = time.perf_counter()
    marks = [(f"{int(p * 100)}%", p) for p in CHECKPOINTS]
    last_mark_time, last_mark_runs = started, 0
    quarters: dict[str, float] = {}
    submitted = 0
    runs_per_job = None
    while True:
        done = log.read_new()
        if submitted < count and expected.runs - done < backlog:
            await enqueue_block(scheduler, min(BATCH, count - submitted), rng, expected)
            submitted = len(expected.jobs)
            runs_per_job = expected.runs / submitted
            continue
        total_runs = count * runs_per_job
        while marks and done >= marks[0][1] * total_runs:
            name, _ = marks.pop(0)
            now = time.perf_counter()
            rss[name], objects[name] = rss_mib(engine.pid), await engine.objects()
            quarters[name] = common.per_second(done - last_mark_runs, now - last_mark_time)
            last_mark_time, last_mark_runs = now, done
            say(f"   {name}: {done:,} runs after {now - started:.0f} s, {quarters[name]:,.0f} runs/s; "
                f"RSS {rss[name]} MiB" + _objects_text(objects[name]))
        if submitted >= count and done >= expected.runs:
            break
        if time.perf_counter() - started > 3600:
            say("   gave up after an hour")
            break
        await asyncio.sleep(0.2)
    seconds = time.perf_counter() - started
    rss["end"], objects["end"] = rss_mib(engine.pid), await engine.objects()
    quarters["end"] = common.per_second(done - last_mark_runs, time.perf_counter() - last_mark_time)
    say(f"   end: {done:,} runs of {count:,} jobs in {seconds:.0f} s, {count / seconds:,.0f} jobs/s "
        f"({done / seconds:,.0f} runs/s, and {log.recurring} recurring fires); RSS {rss['end']} MiB" + _objects_text(objects["end"]))
    return {"_expected": expected, "seconds": round(seconds, 1), "jobs_per_second": common.per_second(count, seconds),
            "runs_per_second": common.per_second(done, seconds), "runs_per_second_by_quarter": quarters,
            "rss_mib": rss, "objects": objects if objects["start"] is not None else None,
            "mix": dict(expected.kinds)}


def _objects_text(objects: int | None) -> str:
    return "" if objects is None else f", {objects:,} live objects"


# -- entry -----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5,000 engine jobs and 1,000 BackgroundJobs")
    parser.add_argument("--only", choices=["engine", "operator"])
    parser.add_argument("--engine-jobs", type=int)
    parser.add_argument("--executor", choices=["inline", "local"], default="inline")
    parser.add_argument("--workers", type=int, default=20, help="the engine's worker_count (default 20)")
    parser.add_argument("--backlog", type=int, default=2000, help="runs enqueued ahead of the engine (default 2,000)")
    parser.add_argument("--max-rss-growth-mib", type=float, default=8.0)
    parser.add_argument("--max-object-growth", type=int, default=10000)
    parser.add_argument("--operator-jobs", type=int)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--engine-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_child:
        engine_child(args.database, args.workers)
        return
    result: dict = {}
    if args.only in (None, "engine"):
        jobs = args.engine_jobs or (5000 if args.quick else 100_000)
        result["engine"] = asyncio.run(engine_soak(jobs, args.executor, args.workers, args.backlog,
                                                   args.max_rss_growth_mib, args.max_object_growth, args.seed))
    if args.only in (None, "operator"):
        import soak_operator

        jobs = args.operator_jobs or (1000 if args.quick else 10_000)
        result["operator"] = asyncio.run(soak_operator.operator_soak(jobs, args.max_rss_growth_mib))
    failures = [f"{part}: {failure}" for part, figures in result.items() for failure in figures["failures"]]
    for failure in failures:
        say(f"FAILED {failure}")
    emit_json({"soak": result, "ok": not failures})
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
