"""Runs each job as a child process of the runner, with the pod's environment.

The child gets exactly what a pod gets (the contract variables, a parameters
file readable only by us, a termination-message path), so a job that works
here works in a cluster. Cancel sends SIGTERM, then SIGKILL after a grace
period; a per-job timeout does the same and counts as a failure.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from craft_jobs_runner import EXIT_CANCELLED, contract

from craft_jobs.engine.executor import ExecutionResult
from craft_jobs.options import ENV_PREFIX
from craft_jobs.pod_contract import job_environment
from craft_jobs.store.models import ClaimedJob

_STDERR_TAIL = 2000
job_log = logging.getLogger("craft_jobs.jobs")


class LocalExecutor:
    name = "local"

    def __init__(self, job_modules: list[str], cancel_grace_seconds: float = 10, python: str = sys.executable):
        self.job_modules = job_modules
        self.cancel_grace_seconds = cancel_grace_seconds
        self.python = python
        self._workdir = Path(tempfile.mkdtemp(prefix="craft-jobs-local-"))
        os.chmod(self._workdir, 0o700)

    def _environment(self, job: ClaimedJob, run_dir: Path) -> dict[str, str]:
        # A pod never sees the control plane's settings (the database password
        # among them); neither does a local run.
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        # The child imports the same job modules as this process, from the same paths.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env.update(job_environment(job))
        env[contract.ENV_JOB_MODULES] = ",".join(self.job_modules)
        env[contract.ENV_PARAMETERS_FILE] = str(run_dir / "parameters.json")
        env[contract.ENV_TERMINATION_MESSAGE_PATH] = str(run_dir / "termination-log")
        env[contract.ENV_CANCEL_GRACE_SECONDS] = str(self.cancel_grace_seconds)
        return env

    async def run(self, job: ClaimedJob, cancel: asyncio.Event) -> ExecutionResult:
        run_dir = self._workdir / f"{job.id}-{job.runs}"
        run_dir.mkdir(mode=0o700)
        try:
            params_file = run_dir / "parameters.json"
            params_file.write_text(json.dumps(job.parameters))
            params_file.chmod(0o600)
            process = await asyncio.create_subprocess_exec(
                self.python, "-m", "craft_jobs_runner",
                env=self._environment(job, run_dir),
                stdin=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
            ref = f"pid:{process.pid}"
            exit_code, timed_out, stderr = await self._supervise(process, job.timeout_seconds, cancel)
            error = self._read_error(run_dir, exit_code, stderr, timed_out, job.timeout_seconds)
            return ExecutionResult(exit_code, error, ref, timed_out)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)

    async def _supervise(self, process, timeout: int | None, cancel: asyncio.Event):
        stderr_task = asyncio.ensure_future(self._relay_logs(process.stderr))
        waiting = asyncio.ensure_future(process.wait())
        cancelled = asyncio.ensure_future(cancel.wait())
        timed_out = False
        try:
            done, _ = await asyncio.wait({waiting, cancelled}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if waiting not in done:
                timed_out = cancelled not in done
                await self._stop(process, waiting)
        except asyncio.CancelledError:
            await self._stop(process, waiting)
            raise
        finally:
            cancelled.cancel()
        stderr = await stderr_task
        code = process.returncode
        # A signal death is reported as -N by asyncio; Kubernetes reports 128+N.
        return (128 - code if code < 0 else code), timed_out, stderr

    @staticmethod
    async def _relay_logs(stream: asyncio.StreamReader) -> str:
        """Passes the run's log lines on to this process's log; returns the tail."""
        tail = ""
        async for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            job_log.info("%s", line)
            tail = (tail + line + "\n")[-_STDERR_TAIL:]
        return tail

    async def _stop(self, process, waiting) -> None:
        """SIGTERM the run's process group, then SIGKILL it after the grace period."""
        self._signal(process, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(waiting), self.cancel_grace_seconds)
        except TimeoutError:
            self._signal(process, signal.SIGKILL)
            await waiting

    @staticmethod
    def _signal(process, signum: int) -> None:
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            pass

    @staticmethod
    def _read_error(run_dir: Path, exit_code: int, stderr: str, timed_out: bool, timeout: int | None):
        if timed_out:
            return {"type": "Timeout", "message": f"the run exceeded its timeout of {timeout} s", "stack": stderr}
        if exit_code == 0:
            return None
        message_file = run_dir / "termination-log"
        if message_file.exists():
            try:
                return json.loads(message_file.read_text())
            except ValueError:
                pass
        if exit_code == EXIT_CANCELLED:
            return {"type": "Cancelled", "message": "the run was stopped", "stack": stderr}
        return {"type": "ProcessExit", "message": f"the runner exited with code {exit_code}", "stack": stderr}

    async def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)
