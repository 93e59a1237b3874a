"""`craft-jobs prune`: remove old jobs of one state with their history, in batches.

A dry run by default: it prints what it would remove; `--yes` removes it.
Age counts from when the job entered its state (`state_changed_at`), so a job
created long ago that succeeded yesterday is not old.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from craft_jobs.errors import ValidationError
from craft_jobs.kube.spec import parse_delay
from craft_jobs.states import JobState
from craft_jobs.store.store import JobStore

# Failed is not final, but pruning it is a deliberate act of an operator who named it.
PRUNABLE = (JobState.SUCCEEDED, JobState.DELETED, JobState.FAILED)


@dataclass(frozen=True)
class PruneRequest:
    state: JobState
    older_than: timedelta
    tenant_id: str | None
    batch_size: int


def prune_request(state: str, older_than: str, tenant_id: str | None, batch_size: int) -> PruneRequest:
    """Checks the command's arguments; errors name the argument."""
    names = ", ".join(s.value for s in PRUNABLE)
    try:
        job_state = JobState.named(state)
    except ValueError:
        raise ValidationError("--state", f"{state!r} is not a state; one of {names}") from None
    if job_state not in PRUNABLE:
        raise ValidationError("--state", f"{state} jobs are still live work and cannot be pruned; one of {names}")
    try:
        age = parse_delay(older_than)
    except ValidationError as exc:
        raise ValidationError("--older-than", exc.reason) from None
    if not 1 <= batch_size <= 100_000:
        raise ValidationError("--batch-size", f"{batch_size} is out of range 1-100000")
    return PruneRequest(job_state, age, tenant_id, batch_size)


async def prune(store: JobStore, request: PruneRequest, now: datetime, *, remove: bool,
                say: Callable[[str], None] = print) -> int:
    """Prints what goes (and, with `remove`, removes it); returns the jobs removed or found."""
    cutoff = now - request.older_than
    scope = f"{request.state.value} jobs that entered that state before {cutoff:%Y-%m-%d %H:%M:%S %Z}"
    if request.tenant_id is not None:
        scope += f" (tenant {request.tenant_id})"
    if not remove:
        rows = await store.prune_preview(request.state, cutoff, request.tenant_id)
        total = sum(row["jobs"] for row in rows)
        if not total:
            say(f"no {scope}")
            return 0
        history = sum(row["history_rows"] for row in rows)
        say(f"would remove {total} {scope}, with {history} history rows:")
        for row in rows:
            say(f"  {row['jobs']:>8} {row['job_type']} (ids {row['first_id']}-{row['last_id']})")
        say("dry run: nothing removed; run again with --yes to remove them")
        return total
    jobs = history = batches = 0
    while True:
        removed, removed_history = await store.prune_jobs(request.state, cutoff, request.tenant_id, request.batch_size)
        jobs, history, batches = jobs + removed, history + removed_history, batches + (1 if removed else 0)
        if removed < request.batch_size:
            break
    say(f"removed {jobs} {scope}, with {history} history rows, in {batches} batches")
    return jobs
