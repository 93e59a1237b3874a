"""The operator's part of the soak (bench/soak.py --only operator).

N BackgroundJobs through the real operator (kopf + engine + Kubernetes
executor + status sync, bench/emulated_operator.py) in its own process,
against the API emulator with the "instant" Job controller. They come in
waves of `WAVE`: each wave is created, must all show phase Succeeded with one
attempt and one Kubernetes Job each, and is then deleted, so that the
resources alive stay about the same and the operator's memory should too.
At the end every stored job must have run once.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time

import common
from common import CHECKPOINTS, load_average, rss_mib, say
from emulated_operator import NAMESPACE, OperatorProcess, as_awaitable, create_many

WAVE = 500


def wave_status(emulator, resource, names: set[str]) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for body in emulator.list(resource, NAMESPACE):
        if body["metadata"]["name"] in names:
            status = body.get("status") or {}
            counts[(status.get("phase") or "-", status.get("attempts"))] += 1
    return counts


async def operator_soak(count: int, max_growth_mib: float, workers: int = 100) -> dict:
    from craft_jobs.kube.api import KubeApi
    from craft_jobs.store.migrations import migrate
    from tests.support.kube.client import CrClient
    from tests.support.kube.emulator import BACKGROUND_JOBS, JOBS
    from tests.support.kube.harness import EmulatedCluster

    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    count = max(WAVE, count // WAVE * WAVE)
    result: dict = {"jobs": count, "wave": WAVE, "workers": workers, "load_average_start": load_average()}
    say(f"operator soak: {count:,} BackgroundJobs in waves of {WAVE}, on the API emulator; "
        f"load average {result['load_average_start']}")
    server = common.Server()
    base = server.start()
    try:
        async with common.fresh_database(base, f"bench_soak_operator_{os.getpid()}") as database:
            await migrate(database, "craft_jobs")
            async with EmulatedCluster(instant=True) as cluster:
                emulator = cluster.emulator
                jobs_added: collections.Counter = collections.Counter()
                emulator.listeners.append(
                    lambda kind, res, raw: jobs_added.update([raw["metadata"]["name"]]) if res == JOBS and kind == "ADDED" else None)
                proc = OperatorProcess(emulator, cluster.url, database, workers)
                api = KubeApi.connect(cluster.url, user_agent="bench-client", threads=16)
                crs = CrClient(api, NAMESPACE)
                try:
                    await proc.ready()
                    # The emulator (and the Job controller) live in this process: its RSS is printed
                    # beside the operator's, so that a slow emulator shows as such.
                    rss, emulator_rss = {"start": rss_mib(proc.pid)}, {"start": rss_mib(os.getpid())}
                    say(f"   operator pid {proc.pid} up: RSS {rss['start']} MiB; emulator {emulator_rss['start']} MiB")
                    marks = [(f"{int(p * 100)}%", p) for p in CHECKPOINTS]
                    bad_waves, started = [], time.perf_counter()
                    for first in range(0, count, WAVE):
                        names = {f"soak-{i:05d}" for i in range(first, first + WAVE)}
                        await create_many(crs, sorted(names), {"jobType": "hello"})
                        await common.wait_for(
                            lambda: as_awaitable(wave_status(emulator, BACKGROUND_JOBS, names)[("Succeeded", 1)] >= WAVE),
                            timeout=WAVE * 0.5 + 60, interval=0.5)
                        seen = wave_status(emulator, BACKGROUND_JOBS, names)
                        if seen[("Succeeded", 1)] != WAVE:
                            bad_waves.append({"first": first, "seen": {f"{p}/{a}": n for (p, a), n in seen.items()}})
                        await asyncio.gather(*(crs.delete("BackgroundJob", name) for name in names))
                        done = first + WAVE
                        while marks and done >= marks[0][1] * count:
                            name, _ = marks.pop(0)
                            rss[name], emulator_rss[name] = rss_mib(proc.pid), rss_mib(os.getpid())
                            say(f"   {name}: {done:,} Succeeded after {time.perf_counter() - started:.0f} s; "
                                f"RSS {rss[name]} MiB; emulator {emulator_rss[name]} MiB")
                    seconds = time.perf_counter() - started
                    # Deleted resources leave the operator's caches once kopf has seen them go.
                    await common.wait_for(lambda: as_awaitable(not emulator.list(BACKGROUND_JOBS, NAMESPACE)), timeout=120, interval=0.5)
                    rss["end"], emulator_rss["end"] = rss_mib(proc.pid), rss_mib(os.getpid())
                    say(f"   end: {count:,} BackgroundJobs in {seconds:.0f} s, {count / seconds:,.1f}/s; "
                        f"RSS {rss['end']} MiB; emulator {emulator_rss['end']} MiB")
                    # Events stay, as on an API server within its --event-ttl (1 h by default).
                    result["emulator_live_objects"] = emulator.live_counts()
                    say(f"   the emulator holds {result['emulator_live_objects']}")
                    stored = await common.query_one(
                        database, "SELECT count(*), count(*) FILTER (WHERE runs <> 1), "
                        "count(*) FILTER (WHERE state NOT IN ('Succeeded', 'Deleted')) FROM craft_jobs.jobs")
                finally:
                    api.close()
                    proc.stop()
    finally:
        server.stop()
    twice = sum(1 for n in jobs_added.values() if n > 1)
    check = {"stored": stored[0], "runs_not_one": stored[1], "not_final": stored[2], "kubernetes_jobs": len(jobs_added),
             "kubernetes_jobs_created_twice": twice, "waves_not_all_succeeded_once": bad_waves[:5]}
    growth = round(rss["end"] - rss["50%"], 1)
    result.update(seconds=round(seconds, 1), resources_per_second=common.per_second(count, seconds), rss_mib=rss, emulator_rss_mib=emulator_rss,
                  rss_growth_mib_middle_to_end=growth, rss_growth_bound_mib=max_growth_mib, check=check,
                  load_average_end=load_average())
    say(f"   check: {check['stored']:,} stored jobs, {check['runs_not_one']} with runs other than 1, "
        f"{check['not_final']} not final; {check['kubernetes_jobs']:,} Kubernetes Jobs, {twice} created twice; "
        f"{len(bad_waves)} waves not all Succeeded once")
    say(f"   RSS growth middle -> end: {growth:+.1f} MiB (bound {max_growth_mib} MiB)")
    failures = []
    if check["stored"] != count or check["runs_not_one"] or check["not_final"] or twice or bad_waves \
            or check["kubernetes_jobs"] != count:
        failures.append("BackgroundJobs lost, run twice or in the wrong state")
    if growth > max_growth_mib:
        failures.append(f"RSS grew {growth} MiB between the middle and the end (bound {max_growth_mib})")
    result["failures"] = failures
    return result
