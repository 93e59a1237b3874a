"""Client filters, as Hangfire's IClientFilter: hooks around creating a job."""

from __future__ import annotations

from craft_jobs.store.models import NewJob


class ClientFilter:
    """Subclass and override; `on_creating` may change the job or raise to refuse it."""

    def on_creating(self, job: NewJob) -> None:
        return None

    def on_created(self, job: NewJob, job_id: int) -> None:
        return None
