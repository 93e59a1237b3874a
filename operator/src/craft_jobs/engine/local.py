"""Runs each job as a child process of the runner, with the pod's environment.

The child gets exactly what a pod gets (the contract variables, a parameters
file readable only by us, a termination-message path), so a job that works
here works in a cluster. Cancel sends SIGTERM; the runner gives the job
`cancel_grace_seconds` to stop, and only STOP_MARGIN_SECONDS after that, once
the runner has had its chance to exit 143, is the run's process group killed.
A per-job timeout does the same and counts as a failure.

Each child also gets a lifeline (see craft_jobs_runner.lifeline): a pipe whose
write end only this process holds. If this process dies, or `fence()` closes
it, the child kills itself and everything it started, at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from craft_jobs_runner import EXIT_CANCELLED, contract

from craft_jobs.engine.executor import PROCESS_REF_PREFIX, STOP_MARGIN_SECONDS, ExecutionResult
from craft_jobs.options import ENV_PREFIX
from craft_jobs.pod_contract import job_environment
from craft_jobs.store.models import ClaimedJob

_STDERR_TAIL = 2000
job_log = logging.getLogger("craft_jobs.jobs")
_LEVELS = logging.getLevelNamesMapping()
# The runner's text format starts "2026-03-05 10:00:00,123 WARNING ...".
_TEXT_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ([A-Z]+) ")


class _LineLevels:
    """The level each stderr line of a run is relayed at: a record's own level.

    JSON lines (the runner's default) carry "level"; text records start with
    it, and the lines after one (its traceback) keep it. Anything else (a
    print to stderr, a crash before logging was set up) is INFO.
    """

    def __init__(self) -> None:
        self._text_level = logging.INFO

    def of(self, line: str) -> int:
        if line.startswith("{"):
            try:
                level = _LEVELS.get(json.loads(line).get("level"))
            except (ValueError, AttributeError):
                level = None
            self._text_level = logging.INFO
            return level if isinstance(level, int) else logging.INFO
        match = _TEXT_RECORD.match(line)
        if match:
            self._text_level = _LEVELS.get(match.group(1), logging.INFO)
        return self._text_level


class LocalExecutor:
    name = "local"

    def __init__(self, job_modules: list[str], cancel_grace_seconds: float = 10, python: str = sys.executable):
        self.job_modules = job_modules
        self.cancel_grace_seconds = cancel_grace_seconds
        self.python = python
        self._workdir = Path(tempfile.mkdtemp(prefix="craft-jobs-local-"))
        os.chmod(self._workdir, 0o700)
        # fence() runs on the heartbeat thread, so that a blocked event loop cannot delay it.
        self._lock = threading.Lock()
        self._lifelines: dict[int, int] = {}  # job id -> write end of its lifeline
        self._fenced_runs: set[int] = set()
        self._fence_reason: str | None = None

    def fence(self, reason: str) -> None:
        """Stops every run at once (closing its lifeline) and starts none until `unfence()`."""
        with self._lock:
            self._fence_reason = reason
            for job_id in list(self._lifelines):
                self._fenced_runs.add(job_id)
                os.close(self._lifelines.pop(job_id))

    def unfence(self) -> None:
        with self._lock:
            self._fence_reason = None

    def _open_lifeline(self, job_id: int) -> int | None:
        """The read end for the child, or None while fenced."""
        with self._lock:
            if self._fence_reason is not None:
                return None
            read_end, self._lifelines[job_id] = os.pipe()
            return read_end

    def _close_lifeline(self, job_id: int) -> str | None:
        """Closes the run's lifeline; returns the fence's reason if a fence stopped the run."""
        with self._lock:
            write_end = self._lifelines.pop(job_id, None)
            if write_end is not None:
                os.close(write_end)
            if job_id in self._fenced_runs:
                self._fenced_runs.discard(job_id)
                return self._fence_reason or "its engine stopped the run"
            return None

    def _environment(self, job: ClaimedJob, run_dir: Path, lifeline: int) -> dict[str, str]:
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
        env[contract.ENV_LIFELINE_FD] = str(lifeline)
        if job.scheduler_access is not None:
            env[contract.ENV_SCHEDULER_TOKEN_FILE] = str(run_dir / "scheduler-token")
        return env

    async def run(self, job: ClaimedJob, cancel: asyncio.Event) -> ExecutionResult:
        lifeline = self._open_lifeline(job.id)
        if lifeline is None:
            reason = self._fence_reason or "its engine stopped the run"
            return ExecutionResult(None, {"type": "Interrupted", "message": reason, "stack": ""}, interrupted=reason)
        run_dir = self._workdir / f"{job.id}-{job.runs}"
        try:
            run_dir.mkdir(mode=0o700)
            _write_private(run_dir / "parameters.json", json.dumps(job.parameters))
            if job.scheduler_access is not None:
                _write_private(run_dir / "scheduler-token", job.scheduler_access.token)
            process = await self._spawn(job, run_dir, lifeline)
            ref = f"{PROCESS_REF_PREFIX}{process.pid}"
            exit_code, timed_out, stderr = await self._supervise(process, job, cancel)
            error = self._read_error(run_dir, exit_code, stderr, timed_out, job.timeout_seconds)
            return ExecutionResult(exit_code, error, ref, timed_out, interrupted=self._close_lifeline(job.id))
        finally:
            self._close_lifeline(job.id)
            shutil.rmtree(run_dir, ignore_errors=True)

    async def _spawn(self, job: ClaimedJob, run_dir: Path, lifeline: int):
        try:
            return await asyncio.create_subprocess_exec(
                self.python, "-m", "craft_jobs_runner",
                env=self._environment(job, run_dir, lifeline),
                stdin=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                pass_fds=(lifeline,),
            )
        finally:
            os.close(lifeline)  # the child has its copy; ours would keep the pipe open

    async def _supervise(self, process, job: ClaimedJob, cancel: asyncio.Event):
        timeout = job.timeout_seconds
        stderr_task = asyncio.ensure_future(self._relay_logs(process.stderr, job))
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
    async def _relay_logs(stream: asyncio.StreamReader, job: ClaimedJob) -> str:
        """Passes the run's log lines on to this process's log, each at its
        record's level (so this process's level filters a job's lines too);
        returns the tail."""
        tail = ""
        levels = _LineLevels()
        context = {"job_id": job.id, "job_type": job.job_type, "attempt": job.attempt}
        async for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            level = levels.of(line)
            if job_log.isEnabledFor(level):
                job_log.log(level, "%s", line, extra=context)
            tail = (tail + line + "\n")[-_STDERR_TAIL:]
        return tail

    async def _stop(self, process, waiting) -> None:
        """SIGTERM the run's process group; SIGKILL it only once the runner's own
        grace has passed and it still has not exited."""
        self._signal(process, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(waiting), self.cancel_grace_seconds + STOP_MARGIN_SECONDS)
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


def _write_private(path: Path, text: str) -> None:
    """Only the run may read it (parameters may hold personal data; a credential is one)."""
    path.write_text(text)
    path.chmod(0o600)
