"""The control plane's half of the pod contract: the environment a job run gets.

The local executor and the Kubernetes Job manifest both use it, so a job sees
the same context wherever it runs. Parameters are never put here: they go to
a file (locally) or a Secret (in a cluster), as they may hold personal data.
"""

from __future__ import annotations

import json

from craft_jobs_runner import contract

from craft_jobs.store.models import ClaimedJob


def job_environment(job: ClaimedJob) -> dict[str, str]:
    env = {
        contract.ENV_JOB_ID: str(job.id),
        contract.ENV_JOB_TYPE: job.job_type,
        contract.ENV_JOB_ATTEMPT: str(job.attempt),
        contract.ENV_JOB_CREATED_AT: job.created_at.isoformat(),
        contract.ENV_JOB_SCHEDULED_FOR: job.scheduled_for.isoformat(),
        contract.ENV_JOB_METADATA: json.dumps(job.metadata, separators=(",", ":")),
    }
    if job.tenant_id:
        env[contract.ENV_TENANT_ID] = job.tenant_id
    if job.user_id:
        env[contract.ENV_USER_ID] = job.user_id
    if job.scheduler_access is not None:  # the credential itself goes to a file, as parameters do
        env[contract.ENV_API_URL] = job.scheduler_access.api_url
    return env
