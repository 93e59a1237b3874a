"""The operator as its own process against the API emulator: shared by
bench/kube_operator.py and bench/soak_operator.py.

    python bench/emulated_operator.py --server URL --database URL [--workers N]

runs `run_operator` (kopf + engine + Kubernetes executor + status sync) until
its stdin closes. `OperatorProcess` starts it and waits until kopf watches.
"""

from __future__ import annotations

# The repository root holds a folder named `operator`: make sure the standard
# library's module is the one in sys.modules before anything imports it.
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
import operator  # noqa: E402,F401

import argparse  # noqa: E402
import asyncio  # noqa: E402
import logging  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))

import common  # noqa: E402

IMAGE = "craft-jobs-samples:bench"
NAMESPACE = "bench"


def operator_main(server: str, database: str, workers: int) -> None:
    """The operator process."""
    from craft_jobs.kube.operator import run_operator
    from craft_jobs.kube.settings import KubeSettings
    from craft_jobs.options import load_options

    logging.basicConfig(level=logging.WARNING)
    options = load_options(connection_string=database, job_modules=["craft_jobs.samples.jobs"],
                           worker_count=workers, polling_interval_seconds=5)
    settings = KubeSettings(default_image=IMAGE, job_namespace=NAMESPACE, health_port=0, status_sync_seconds=1)

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_reader(sys.stdin.fileno(), stop.set)  # parent closes stdin: stop
        await run_operator(options, stop=stop, settings=settings, server=server, stop_grace_seconds=1)

    asyncio.run(main())


class OperatorProcess:
    """The operator in a child process (its memory its own), on `emulator`."""

    def __init__(self, emulator, server: str, database: str, workers: int):
        self.emulator = emulator
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--server", server, "--database", database, "--workers", str(workers)],
            stdin=subprocess.PIPE, cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def ready(self) -> None:
        """Ready when kopf has listed the resources: wait for its watch requests."""
        await common.wait_for(lambda: as_awaitable(self.emulator.requests_by("kopf").get("watch", 0) >= 2), timeout=60)
        await asyncio.sleep(1)

    def stop(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def create_many(crs, names: list[str], spec: dict, concurrency: int = 16) -> float:
    """Creates a BackgroundJob per name, `concurrency` at a time; returns the seconds."""
    queue = list(names)
    started = time.perf_counter()

    async def worker() -> None:
        while queue:
            await crs.create("BackgroundJob", queue.pop(), spec)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def phases(emulator, resource) -> dict[str, int]:
    counts: dict[str, int] = {}
    for body in emulator.list(resource, NAMESPACE):
        phase = (body.get("status") or {}).get("phase") or "-"
        counts[phase] = counts.get(phase, 0) + 1
    return counts


async def as_awaitable(value):
    return value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--workers", type=int, default=100)
    args = parser.parse_args()
    operator_main(args.server, args.database, args.workers)
