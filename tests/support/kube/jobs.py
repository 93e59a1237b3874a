"""Job classes the Kubernetes tests run besides the samples."""

from __future__ import annotations

import os

from craft_jobs_runner import Job, JobContext, NonRetryableError
from craft_jobs_runner.contract import ENV_TENANT_ID, ENV_USER_ID
from pydantic import BaseModel, Field


class ExitWith(Job):
    """Ends its process with a chosen exit code, as a job in any language might."""

    job_type = "kube-exit-with"
    max_attempts = 2

    class Parameters(BaseModel):
        code: int = Field(ge=0, le=255)

    async def run(self, params: Parameters, context: JobContext) -> None:
        os._exit(params.code)


class NeedsEnv(Job):
    """Succeeds only when the pod's extra environment (pod.env / envFrom) is there."""

    job_type = "kube-needs-env"
    max_attempts = 0

    class Parameters(BaseModel):
        names: list[str] = Field(default_factory=list)

    async def run(self, params: Parameters, context: JobContext) -> None:
        missing = [name for name in params.names if not os.environ.get(name)]
        if missing:
            raise RuntimeError(f"missing environment variables: {', '.join(missing)}")


class ExpectsContext(Job):
    """Succeeds only when the run's tenant and user, in its context and in the pod's
    environment, are the ones expected: what reached the pod, not what was asked."""

    job_type = "kube-expects-context"
    max_attempts = 0

    class Parameters(BaseModel):
        tenant: str | None = None
        user: str | None = None

    async def run(self, params: Parameters, context: JobContext) -> None:
        seen = {"context": (context.tenant_id, context.user_id),
                "environment": (os.environ.get(ENV_TENANT_ID), os.environ.get(ENV_USER_ID))}
        wrong = {where: found for where, found in seen.items() if found != (params.tenant, params.user)}
        if wrong:
            raise NonRetryableError(f"expected tenant and user {(params.tenant, params.user)}, saw {wrong}")
