"""Benchmark: the operator on the local control plane (real kube-apiserver, Job controller, GC).

    .venv/bin/python bench/kube_cluster.py            # 1,000 BackgroundJobs, and 1,000 plain Jobs as the peer
    .venv/bin/python bench/kube_cluster.py --quick    # 200 of each

The control plane (tests/support/cluster, built once by `make cluster-build`)
runs with the API server's audit log; `craft-jobs operator` runs as its own
process with 20 workers; every pod is a local process started by the node
agent. PostgreSQL: CRAFT_JOBS_BENCH_DATABASE_URL or CRAFT_JOBS_TEST_DATABASE_URL,
else the embedded server.

1. N BackgroundJobs created through the API (16 at a time) -> all N Succeeded:
   the time, and the operator's RSS at the start, half-way and the end;
2. API requests per executed BackgroundJob, by verb: the operator's own (kopf's
   and ours, from the audit log's user agents), and everyone's (the API
   server's `apiserver_request_total`, which counts the Job controller, the
   garbage collector and the node agent too);
3. the peer: N plain batch/v1 Jobs running the same image's interpreter, kept
   at the operator's 20 in flight by this script (what Kubernetes alone costs
   for the same number of pods).

Human lines as it goes; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))

import common  # noqa: E402
from common import emit_json, say  # noqa: E402

NAMESPACE = "default"
WORKERS = 20
# The audit log names verbs as RBAC does; apiserver_request_total by HTTP method.
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "post", "put"}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def request_totals(metrics: str) -> collections.Counter:
    """apiserver_request_total summed by verb (all clients)."""
    totals: collections.Counter = collections.Counter()
    for line in metrics.splitlines():
        if line.startswith("apiserver_request_total{"):
            verb = re.search(r'verb="([A-Z]+)"', line).group(1).lower()
            totals[verb] += float(line.rsplit(" ", 1)[1])
    return totals


def audit_counts(path: Path, since_line: int) -> dict[str, collections.Counter]:
    """Requests by client (user agent's first word) and verb, from the audit log after `since_line`."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    with path.open() as log:
        for number, line in enumerate(log):
            if number < since_line:
                continue
            event = json.loads(line)
            agent = (event.get("userAgent") or "-").split("/")[0].split(" ")[0]
            counts[agent][event["verb"]] += 1
    return counts


def line_count(path: Path) -> int:
    with path.open() as log:
        return sum(1 for _ in log)


def per_job(counter: collections.Counter, jobs: int) -> dict[str, float]:
    result = {verb: round(n / jobs, 2) for verb, n in sorted(counter.items())}
    result["writes"] = round(sum(n for verb, n in counter.items() if verb in WRITE_VERBS) / jobs, 2)
    return result


async def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.5)


async def background_jobs(api, operator, count: int, audit_log: Path, metrics) -> dict:
    from tests.support.kube.client import CrClient

    crs = CrClient(api, NAMESPACE)
    audit_start, metrics_start = line_count(audit_log), request_totals(metrics())
    rss = {"start": rss_mib(operator.process.pid)}
    names = [f"bench-{i}" for i in range(count)]
    queue = list(names)
    started = time.perf_counter()

    async def create() -> None:
        while queue:
            await crs.create("BackgroundJob", queue.pop(), {"jobType": "hello"})

    await asyncio.gather(*(create() for _ in range(16)))
    created = time.perf_counter() - started

    async def succeeded() -> int:
        listing = await api.request("GET", f"/apis/jobs.craft.dev/v1alpha1/namespaces/{NAMESPACE}/backgroundjobs")
        done = sum(1 for b in listing["items"] if (b.get("status") or {}).get("phase") == "Succeeded")
        if "middle" not in rss and done >= count // 2:
            rss["middle"] = rss_mib(operator.process.pid)
        return done

    async def all_succeeded() -> bool:
        return await succeeded() == count

    await wait_until(all_succeeded, 60 + count * 2, f"{count} BackgroundJobs to succeed")
    elapsed = time.perf_counter() - started
    rss["end"] = rss_mib(operator.process.pid)
    # The TTL patches come once the outcomes are recorded; let them land before counting.
    await asyncio.sleep(5)
    clients = audit_counts(audit_log, audit_start)
    ours = clients.get("craft-jobs-operator", collections.Counter()) + clients.get("kopf", collections.Counter())
    everyone = request_totals(metrics()) - metrics_start
    return {
        "seconds": round(elapsed, 1), "created_seconds": round(created, 1), "per_second": round(count / elapsed, 2),
        "operator_rss_mib": {k: round(v, 1) for k, v in rss.items()},
        "operator_requests_per_job": per_job(ours, count),
        "kopf_requests_per_job": per_job(clients.get("kopf", collections.Counter()), count),
        "all_clients_requests_per_job": per_job(everyone, count),
    }


async def plain_jobs(api, count: int) -> dict:
    """The peer: plain Jobs with the same image, at most WORKERS in flight."""
    interpreter = ["python", "-c", "import craft_jobs_runner, craft_jobs.samples.jobs"]
    in_flight: set[str] = set()
    done = 0
    started = time.perf_counter()
    next_index = 0
    while done < count:
        while len(in_flight) < WORKERS and next_index < count:
            name = f"peer-{next_index}"
            next_index += 1
            await api.create_job(NAMESPACE, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                                             "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 60, "template": {"spec": {
                                                 "restartPolicy": "Never", "containers": [{
                                                     "name": "job", "image": "craft-jobs-samples:e2e",
                                                     "command": interpreter}]}}}})
            in_flight.add(name)
        await asyncio.sleep(0.2)
        listing = await api.list_jobs(NAMESPACE, "")
        finished = {j["metadata"]["name"] for j in listing if (j.get("status") or {}).get("succeeded")}
        done += len(in_flight & finished)
        in_flight -= finished
    elapsed = time.perf_counter() - started
    return {"seconds": round(elapsed, 1), "per_second": round(count / elapsed, 2)}


async def run(count: int) -> dict:
    from craft_jobs.store.migrations import migrate
    from tests.support.cluster.controlplane import ControlPlane, api_from_kubeconfig
    from tests.support.cluster.operatorprocess import OperatorProcess

    server = common.Server()
    base = server.start()
    directory = Path(tempfile.mkdtemp(prefix="craft-jobs-bench-cluster-"))
    result: dict = {"jobs": count, "workers": WORKERS}
    plane = ControlPlane(directory, audit=True)
    try:
        async with common.fresh_database(base, f"bench_cluster_{os.getpid()}") as database:
            await migrate(database, "craft_jobs")
            started = time.perf_counter()
            plane.start()
            result["control_plane_start_seconds"] = round(time.perf_counter() - started, 1)
            plane.apply_crds(sorted((ROOT / "crds").glob("*.yaml")))
            operator = OperatorProcess(plane.kubeconfig, database, directory / "logs" / "operator.log",
                                       env={"CRAFT_JOBS_WORKER_COUNT": str(WORKERS), "CRAFT_JOBS_POLLING_INTERVAL_SECONDS": "5",
                                            "CRAFT_JOBS_STATUS_SYNC_SECONDS": "1"}).start()
            api = api_from_kubeconfig(plane.kubeconfig, "bench-client")
            try:
                say(f"{count} BackgroundJobs through the operator ...")
                result["background_jobs"] = await background_jobs(api, operator, count, plane.audit_log, plane.metrics)
                say(f"  {json.dumps(result['background_jobs'])}")
                operator.stop()
                say(f"{count} plain Jobs, {WORKERS} in flight (the peer) ...")
                result["plain_jobs"] = await plain_jobs(api, count)
                say(f"  {json.dumps(result['plain_jobs'])}")
                result["ratio_plain_over_ours_time"] = round(
                    result["plain_jobs"]["seconds"] / result["background_jobs"]["seconds"], 2)
            finally:
                operator.stop()
                api.close()
    finally:
        plane.stop()
        server.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 jobs instead of 1,000")
    parser.add_argument("--jobs", type=int)
    args = parser.parse_args()
    count = args.jobs or (200 if args.quick else 1000)
    emit_json(asyncio.run(run(count)))


if __name__ == "__main__":
    main()
