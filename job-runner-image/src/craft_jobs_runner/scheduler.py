"""`context.scheduler`: a running job schedules jobs in its own tenant.

It calls the control plane's REST API with the run's credential (a file the
engine or operator wrote beside the parameters), so it works the same in a
local process and in a pod, with the standard library only. The API takes
the tenant and user from the credential and records this job as the new
jobs' origin; the credential dies with the run.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from . import contract
from .errors import ContextError, NonRetryableError, RunnerError

_TIMEOUT_SECONDS = 30


class SchedulerError(RunnerError):
    """The API refused or could not be reached; `status` is the HTTP status (0: not reached)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


class SchedulerUnavailableError(SchedulerError, NonRetryableError):
    """The run was given no way to schedule: retrying cannot help until the engine's options change."""


class RunScheduler:
    """Schedules jobs from inside a run; `available` is False when the engine
    gives runs no API address (its `job_api_url` option is not set)."""

    def __init__(self, api_url: str | None = None, token: str | None = None):
        self.api_url = api_url.rstrip("/") if api_url else None
        self._token = token

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> RunScheduler:
        url = env.get(contract.ENV_API_URL, "").strip()
        token_file = env.get(contract.ENV_SCHEDULER_TOKEN_FILE, "").strip()
        if not url or not token_file:
            return cls()
        try:
            token = Path(token_file).read_text().strip()
        except OSError as exc:
            raise ContextError(contract.ENV_SCHEDULER_TOKEN_FILE, f"{token_file} cannot be read: {exc}") from None
        return cls(url, token)

    @property
    def available(self) -> bool:
        return bool(self.api_url and self._token)

    async def schedule(
        self,
        job: Any,
        params: BaseModel | Mapping[str, Any] | None = None,
        *,
        delay: timedelta | float | None = None,
        at: datetime | None = None,
        queue: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        max_attempts: int | None = None,
        timeout_seconds: int | None = None,
    ) -> int:
        """Fire-and-forget, delayed (`delay`) or at a time (`at`); returns the new job's id.
        `job` is a Job class or a job type name."""
        body = self._body(job, params, queue, metadata, max_attempts, timeout_seconds)
        if delay is not None:
            body["delay_seconds"] = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
        if at is not None:
            body["at"] = at.isoformat()
        return (await self._post("/api/jobs", body))["id"]

    async def continue_with(
        self,
        parent_id: int | str,
        job: Any,
        params: BaseModel | Mapping[str, Any] | None = None,
        *,
        on: str = "Succeeded",
        queue: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """A job that runs once `parent_id` is Succeeded (or any final state: `on="Finished"`)."""
        body = {**self._body(job, params, queue, metadata, None, None), "on": on}
        return (await self._post(f"/api/jobs/{int(parent_id)}/continuations", body))["id"]

    @staticmethod
    def _body(job: Any, params: Any, queue: str | None, metadata: Mapping[str, Any] | None,
              max_attempts: int | None, timeout_seconds: int | None) -> dict[str, Any]:
        job_type = job if isinstance(job, str) else getattr(job, "job_type", None)
        if not isinstance(job_type, str) or not job_type:
            raise SchedulerError(f"job must be a Job class or a job type name, got {job!r}")
        if isinstance(params, BaseModel):
            params = params.model_dump(mode="json")
        body: dict[str, Any] = {"job_type": job_type, "parameters": dict(params or {})}
        for name, value in (("queue", queue), ("metadata", dict(metadata) if metadata else None),
                            ("max_attempts", max_attempts), ("timeout_seconds", timeout_seconds)):
            if value is not None:
                body[name] = value
        return body

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if not self.available:
            raise SchedulerUnavailableError(
                "this run cannot schedule jobs: its engine gives runs no API address"
                " (set the job_api_url option, CRAFT_JOBS_JOB_API_URL, or Helm's jobs.scheduler values)")
        return await asyncio.to_thread(self._post_now, path, body)

    def _post_now(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.api_url + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._token}"})
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise SchedulerError(f"the API refused {path} ({exc.code}): {_message(exc)}", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            raise SchedulerError(f"the API at {self.api_url} cannot be reached: {exc}") from None


def _message(error: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(error.read())
    except ValueError:
        return error.reason or "no detail"
    if isinstance(detail, dict):
        inner = detail.get("error") if isinstance(detail.get("error"), dict) else detail
        message, field = inner.get("message") or inner.get("detail"), inner.get("field")
        if message:
            return f"{field}: {message}" if field else str(message)
    return json.dumps(detail)[:500]
