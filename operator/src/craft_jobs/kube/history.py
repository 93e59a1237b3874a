"""RecurringJob history limits, as CronJob applies them.

After each run of a RecurringJob, only its newest `successfulJobsHistoryLimit`
succeeded and `failedJobsHistoryLimit` failed Kubernetes Jobs are kept; older
ones are deleted (their Secrets go with them). The runs' history stays in
PostgreSQL either way.
"""

from __future__ import annotations

import logging
from typing import Any

from craft_jobs.kube.api import KubeApi, KubeApiError
from craft_jobs.kube.manifest import LABEL_RECURRING, recurring_label

log = logging.getLogger(__name__)

RECURRING_JOBS = "recurringjobs"
DEFAULT_LIMITS = {True: 3, False: 1}  # CronJob's defaults: succeeded, failed


def jobs_beyond_limits(jobs: list[dict[str, Any]], limits: dict[bool, int], finished) -> list[dict[str, Any]]:
    """The finished Jobs to delete, oldest past each limit; unfinished ones are kept."""
    doomed = []
    for succeeded, limit in limits.items():
        done = [j for j in jobs if (state := finished(j)) is not None and state[0] is succeeded]
        done.sort(key=lambda j: (j["metadata"].get("creationTimestamp") or "", j["metadata"]["name"]), reverse=True)
        doomed.extend(done[limit:])
    return doomed


async def prune_recurring_history(api: KubeApi, namespace: str, recurring_id: str, finished) -> int:
    """Applies the RecurringJob's history limits; returns how many Jobs were deleted."""
    name = recurring_id.rsplit("/", 1)[-1]
    try:
        resource = await api.get_custom(RECURRING_JOBS, namespace, name)
        if resource is None:
            return 0
        spec = resource.get("spec") or {}
        limits = {
            True: int(spec.get("successfulJobsHistoryLimit", DEFAULT_LIMITS[True])),
            False: int(spec.get("failedJobsHistoryLimit", DEFAULT_LIMITS[False])),
        }
        jobs = await api.list_jobs(namespace, f"{LABEL_RECURRING}={recurring_label(recurring_id)}")
        doomed = jobs_beyond_limits(jobs, limits, finished)
        for job in doomed:
            await api.delete_job(namespace, job["metadata"]["name"])
        return len(doomed)
    except KubeApiError as exc:
        log.warning("cannot apply the history limits of RecurringJob %s/%s: %s", namespace, name, exc)
        return 0
