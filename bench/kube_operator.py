"""Benchmark: the Kubernetes operator against the API emulator.

    .venv/bin/python bench/kube_operator.py            # 1,000 jobs, then 10,000 tracked (several minutes)
    .venv/bin/python bench/kube_operator.py --quick    # 200, then 2,000

The emulator (tests/support/kube: kmock plus uids, selectors, GC) and a
Job controller in "instant" mode (a Job completes as soon as its parameters
Secret exists; no pods run) live in this process; the operator
(`run_operator`: kopf + engine + Kubernetes executor + status sync) runs in a
child process, so its memory is its own. PostgreSQL: CRAFT_JOBS_BENCH_DATABASE_URL
or CRAFT_JOBS_TEST_DATABASE_URL, else the embedded server.

1. time from creating N BackgroundJob resources (through the API, 16 at a
   time) to all N Kubernetes Jobs created, and to all N resources showing
   phase Succeeded;
2. API requests and writes per executed job, as the emulator counted them per
   client (kopf's, and ours: executor + status sync);
3. the operator's RSS with 10,000 jobs tracked: the N done plus delayed ones
   (Scheduled a day ahead), once every resource shows its phase.

Human lines as it goes; the last line is one JSON object.
"""

from __future__ import annotations

# This file is named like the standard library's `operator`, and a script's
# folder comes first on sys.path: drop it before anything imports `operator`.
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
import operator  # noqa: E402,F401  (the standard library's, pinned in sys.modules)

import argparse
import asyncio
import logging
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))

import common  # noqa: E402
from common import emit_json, say  # noqa: E402
from emulated_operator import NAMESPACE, OperatorProcess, create_many, phases  # noqa: E402
from emulated_operator import as_awaitable as _async  # noqa: E402

async def run(count: int, tracked: int, workers: int) -> dict:
    import psutil

    from craft_jobs.kube.api import KubeApi
    from craft_jobs.store.migrations import migrate
    from tests.support.kube.client import CrClient
    from tests.support.kube.emulator import BACKGROUND_JOBS, JOBS
    from tests.support.kube.harness import EmulatedCluster

    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server = common.Server()
    base = server.start()
    result: dict = {"jobs": count, "tracked": tracked, "workers": workers}
    try:
        async with common.fresh_database(base, f"bench_operator_{os.getpid()}") as database:
            await migrate(database, "craft_jobs")
            async with EmulatedCluster(instant=True) as cluster:
                emulator = cluster.emulator
                job_times: list[float] = []
                emulator.listeners.append(
                    lambda kind, res, raw: job_times.append(time.perf_counter()) if res == JOBS and kind == "ADDED" else None)
                proc = OperatorProcess(emulator, cluster.url, database, workers)
                api = KubeApi.connect(cluster.url, user_agent="bench-client", threads=16)
                crs = CrClient(api, NAMESPACE)
                try:
                    await proc.ready()
                    say(f"operator pid {proc.pid} up; creating {count:,} BackgroundJobs")

                    names = [f"job-{i:05d}" for i in range(count)]
                    start = time.perf_counter()
                    create_seconds = await create_many(crs, names, {"jobType": "hello"})
                    say(f"   created {count:,} resources in {create_seconds:.1f} s")
                    ok = await common.wait_for(lambda: _async(len(job_times) >= count), timeout=count * 0.5 + 60)
                    jobs_seconds = (job_times[count - 1] if len(job_times) >= count else time.perf_counter()) - start
                    say(f"   {len(job_times):,} Kubernetes Jobs created {jobs_seconds:.1f} s after the first create"
                        + ("" if ok else " (timed out)"))
                    done = await common.wait_for(
                        lambda: _async(phases(emulator, BACKGROUND_JOBS).get("Succeeded", 0) >= count), timeout=count * 0.5 + 60)
                    succeeded_seconds = time.perf_counter() - start
                    say(f"   all resources Succeeded after {succeeded_seconds:.1f} s" if done
                        else f"   only {phases(emulator, BACKGROUND_JOBS)} after {succeeded_seconds:.1f} s")
                    await asyncio.sleep(2)  # the last status patches
                    kopf = emulator.requests_by("kopf")
                    ours = emulator.requests_by("craft-jobs-operator")
                    requests = kopf["requests"] + ours["requests"]
                    writes = kopf["writes"] + ours["writes"]
                    say(f"   API requests per job: {requests / count:.2f} ({writes / count:.2f} writes: "
                        f"kopf {kopf['writes'] / count:.2f}, executor + status {ours['writes'] / count:.2f})")
                    rss_after_n = psutil.Process(proc.pid).memory_info().rss
                    result.update(
                        create_seconds=round(create_seconds, 2),
                        seconds_to_all_kubernetes_jobs=round(jobs_seconds, 2),
                        kubernetes_jobs_per_second=common.per_second(count, jobs_seconds),
                        seconds_to_all_succeeded=round(succeeded_seconds, 2),
                        api_requests_per_job=round(requests / count, 2),
                        api_writes_per_job=round(writes / count, 2),
                        writes_per_job_by_client={"kopf": round(kopf["writes"] / count, 2),
                                                  "executor_and_status": round(ours["writes"] / count, 2)},
                        requests_by_verb={**{f"kopf_{k}": v for k, v in kopf.items()}, **{f"ours_{k}": v for k, v in ours.items()}},
                        rss_mb_after_jobs=round(rss_after_n / 2**20, 1),
                    )

                    more = tracked - count
                    say(f"creating {more:,} delayed BackgroundJobs (Scheduled a day ahead) to track {tracked:,}")
                    extra = [f"later-{i:05d}" for i in range(more)]
                    await create_many(crs, extra, {"jobType": "hello", "delay": "1d"})
                    tracked_ok = await common.wait_for(
                        lambda: _async(phases(emulator, BACKGROUND_JOBS).get("Scheduled", 0) >= more), timeout=more * 0.1 + 120)
                    rss = psutil.Process(proc.pid).memory_info().rss
                    say(f"   {tracked:,} jobs tracked{'' if tracked_ok else ' (not all shown yet)'}: operator RSS {rss / 2**20:.1f} MiB")
                    result.update(rss_mb_with_tracked=round(rss / 2**20, 1), all_tracked=tracked_ok)
                finally:
                    api.close()
                    proc.stop()
    finally:
        server.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 jobs and 2,000 tracked")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--tracked", type=int, default=None)
    parser.add_argument("--workers", type=int, default=100)
    args = parser.parse_args()
    count = args.jobs or (200 if args.quick else 1000)
    tracked = max(args.tracked or (2000 if args.quick else 10000), count)
    emit_json({"operator": asyncio.run(run(count, tracked, args.workers))})


if __name__ == "__main__":
    main()
