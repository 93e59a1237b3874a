"""`craft-jobs operator` as its own process against a control plane, as it runs in a cluster,
and `craft-jobs dashboard` beside it (the REST API its job pods schedule jobs through)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.cluster.controlplane import free_port

ROOT = Path(__file__).resolve().parents[3]
TEST_JOB_MODULES = "craft_jobs.samples.jobs,tests.support.kube.jobs"


@dataclass
class OperatorProcess:
    kubeconfig: Path
    connection_string: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    health_port: int = 0

    def start(self, timeout: float = 60) -> OperatorProcess:
        self.health_port = free_port()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "craft_jobs.cli", *self.command()], env=self.environment(),
                                        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command()[0]} exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.command()[0]} was not ready after {timeout} s:\n{self.log_tail()}")
            time.sleep(0.2)
        return self

    def command(self) -> list[str]:
        return ["operator"]

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "CRAFT_JOBS_CONNECTION_STRING": self.connection_string,
            "CRAFT_JOBS_JOB_MODULES": TEST_JOB_MODULES,
            "CRAFT_JOBS_DEFAULT_IMAGE": "craft-jobs-samples:e2e",
            "CRAFT_JOBS_HEALTH_HOST": "127.0.0.1",
            "CRAFT_JOBS_HEALTH_PORT": str(self.health_port),
            "CRAFT_JOBS_POLLING_INTERVAL_SECONDS": "1",
            "CRAFT_JOBS_STATUS_SYNC_SECONDS": "0.3",
            "CRAFT_JOBS_TERMINATION_GRACE_SECONDS": "5",
            "CRAFT_JOBS_JOB_RESYNC_SECONDS": "5",
            "CRAFT_JOBS_POD_START_TIMEOUT_SECONDS": "15",
            "PYTHONPATH": str(ROOT),
            **self.env,
        }

    def ready(self) -> bool:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/readyz", timeout=2) as response:
                return response.status == 200
        return False

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@dataclass
class DashboardProcess(OperatorProcess):
    """The dashboard on 127.0.0.1 (no auth, loopback only): what the operator's
    `job_api_url` names, so job pods schedule jobs through its REST API."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}"

    def command(self) -> list[str]:
        return ["dashboard", "--host", "127.0.0.1", "--port", str(self.health_port)]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "CRAFT_JOBS_CONNECTION_STRING": self.connection_string,
                "CRAFT_JOBS_DASHBOARD_AUTH_MODE": "none", "PYTHONPATH": str(ROOT), **self.env}
