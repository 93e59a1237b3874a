"""Run credentials: what lets a running job schedule jobs in its own tenant.

A run's credential names the job, the run (claim) it belongs to, its tenant
and user, and when it lapses, signed with a key derived from the
installation's signing key (the store's `installation` row). It is made
from the claimed job alone, so every operator makes the same one for a run
(the Kubernetes executor compares a Secret it finds with the one it would
write). The API accepts it only while that run is still in progress
(`JobStore.run_in_progress`): a run that ended, was requeued or rescued has
a dead credential, whatever its expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from craft_jobs.store.models import ClaimedJob, SchedulerAccess

PREFIX = "cjrun1."
# A run without a timeout keeps its credential this long after its claim;
# START_SLACK leaves room for a pod to start. The store's check that the run
# is still in progress ends it sooner: these only bound a leaked one.
DEFAULT_LIFETIME = timedelta(hours=24)
START_SLACK = timedelta(hours=1)
_KEY_PURPOSE = b"craft-jobs run credential"


@dataclass(frozen=True)
class RunGrant:
    job_id: int
    run: int
    tenant_id: str
    user_id: str | None
    expires_at: datetime

    @property
    def principal_name(self) -> str:
        return f"job:{self.job_id}"


def grant_for(job: ClaimedJob) -> RunGrant:
    lifetime = timedelta(seconds=job.timeout_seconds) if job.timeout_seconds else DEFAULT_LIFETIME
    return RunGrant(job.id, job.runs, job.tenant_id, job.user_id, job.started_at + START_SLACK + lifetime)


def access_for(api_url: str, signing_key: str) -> Callable[[ClaimedJob], SchedulerAccess]:
    """What the dispatcher gives each run it starts."""
    return lambda job: SchedulerAccess(api_url, mint(signing_key, grant_for(job)))


def _key(signing_key: str) -> bytes:
    return hmac.new(signing_key.encode(), _KEY_PURPOSE, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(signing_key: str, grant: RunGrant) -> str:
    body = json.dumps([grant.job_id, grant.run, grant.tenant_id, grant.user_id, grant.expires_at.timestamp()],
                      separators=(",", ":")).encode()
    payload = _b64(body)
    signature = _b64(hmac.new(_key(signing_key), payload.encode(), hashlib.sha256).digest())
    return f"{PREFIX}{payload}.{signature}"


def looks_like_run_token(token: str | None) -> bool:
    return bool(token) and token.startswith(PREFIX)


def read(signing_key: str, token: str, now: datetime) -> RunGrant | None:
    """The grant of a valid, unexpired credential; None for anything else."""
    payload, _, signature = token.removeprefix(PREFIX).partition(".")
    expected = _b64(hmac.new(_key(signing_key), payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        return None
    try:
        job_id, run, tenant_id, user_id, expires = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    grant = RunGrant(int(job_id), int(run), str(tenant_id), user_id, datetime.fromtimestamp(expires, now.tzinfo))
    return grant if grant.expires_at > now else None
