"""The local side: engine processes (engine.py) and jobs scheduled through the SDK."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from craft_jobs.client.scheduler import JobScheduler
from craft_jobs.options import load_options
from tests.proofs import work

ROOT = Path(__file__).resolve().parents[2]


class EngineProcess:
    def __init__(self, url: str, directory: Path, name: str, **env: str):
        self.url = url
        self.directory = directory
        self.name = name
        self.env = env
        self.process: subprocess.Popen | None = None
        self.server_id = ""

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}.log"

    def start(self, timeout: float = 60) -> EngineProcess:
        ready = self.directory / f"{self.name}.ready"
        ready.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
               "CRAFT_JOBS_POLLING_INTERVAL_SECONDS": "1", **self.env}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "tests.proofs.engine", self.url, str(ready)],
                                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"engine {self.name} exited with {self.process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"engine {self.name} not ready after {timeout} s; see {self.log_path}")
            time.sleep(0.1)
        self.server_id = ready.read_text()
        return self

    def kill(self) -> None:
        """kill -9: no chance to record, release or tell its children anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 60) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def schedule_work(url: str, log: Path, seconds: list[float]) -> list[int]:
    """One proof-work job per entry of `seconds`, through the SDK; their ids."""
    async def schedule() -> list[int]:
        scheduler = await JobScheduler.connect(load_options(connection_string=url, job_modules=[work.MODULE]))
        try:
            return [await scheduler.schedule(work.ProofWork, work.ProofWork.Parameters(log=str(log), seconds=s))
                    for s in seconds]
        finally:
            await scheduler.close()
    return asyncio.run(schedule())
