"""The operator's own settings (env `CRAFT_JOBS_*`), next to JobOptions.

They only matter in a cluster, so they live here rather than in
`craft_jobs.options`: the default job image, the watched namespaces, the
webhook switch, and where Jobs of SDK/API jobs (which have no resource) run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class KubeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRAFT_JOBS_", extra="ignore", frozen=True)

    # The image of jobs whose spec names none (Helm: jobs.defaultImage).
    default_image: str | None = None
    # Namespaces to watch; empty means the whole cluster (Helm: rbac.namespaces).
    namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Where Jobs of SDK/API jobs run (they have no resource, hence no namespace);
    # defaults to the first watched namespace, else "default".
    job_namespace: str | None = None
    webhook_enabled: bool = False
    webhook_port: int = Field(9443, ge=1, le=65535)
    webhook_cert_dir: Path = Path("/etc/craft-jobs/webhook")
    health_host: str = "0.0.0.0"
    health_port: int = Field(8081, ge=0, le=65535)
    # How long finished Jobs stay (for `kubectl logs`), then Kubernetes removes them.
    job_ttl_seconds: int = Field(3600, ge=0, le=7 * 86400)
    # Seconds a pod gets between SIGTERM and SIGKILL.
    termination_grace_seconds: int = Field(30, ge=1, le=3600)
    # How often the store -> resource status sync runs; changes within one
    # period are written as one status patch.
    status_sync_seconds: float = Field(2.0, ge=0.05, le=60)
    # How long a run's pod may take to start its container (image pull,
    # scheduling, Secrets, admission) before the run fails with the pod's reason.
    pod_start_timeout_seconds: float = Field(600.0, ge=1, le=86400)
    # The executor's safety net: a full re-list of its Jobs this often.
    job_resync_seconds: float = Field(30.0, ge=1, le=600)
    image_pull_policy: str | None = None
    # How long a BackgroundJob waits for the BackgroundJob it continues to be
    # created (`kubectl apply -f` of one file may send the child first) before
    # its spec is refused.
    parent_wait_seconds: float = Field(60.0, ge=0, le=3600)

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def effective_job_namespace(self) -> str:
        if self.job_namespace:
            return self.job_namespace
        return self.namespaces[0] if self.namespaces else "default"
