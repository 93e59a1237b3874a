"""Store rows -> the `.status` of BackgroundJobs and RecurringJobs (kube/cr_status.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from craft_jobs.errors import ValidationError
from craft_jobs.kube.cr_status import (
    JobSnapshot,
    background_job_status,
    invalid_spec_condition,
    recurring_job_status,
    status_fingerprint,
)
from craft_jobs.states import JobState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def snapshot(**overrides) -> JobSnapshot:
    values = dict(
        id=7, state=JobState.PROCESSING, attempt=0, runs=1, tenant_id="acme", user_id="user-a",
        started_at=T0, finished_at=None, state_changed_at=T0, last_error=None,
    )
    values.update(overrides)
    return JobSnapshot(**values)


def test_status_of_a_running_job():
    status = background_job_status(snapshot(), T0, generation=1)
    assert status["phase"] == "Processing" and status["jobId"] == "7" and status["attempts"] == 1
    assert status["kubernetesJobName"] == "cj-7-1" and status["startedAt"] == "2026-03-01T12:00:00Z"
    assert status["tenant"] == "acme" and status["user"] == "user-a" and status["observedGeneration"] == 1
    assert [c["type"] for c in status["conditions"]] == ["Accepted"]


def test_status_attempts_count_started_runs():
    assert background_job_status(snapshot(state=JobState.ENQUEUED, runs=0), T0)["attempts"] == 0
    assert background_job_status(snapshot(state=JobState.ENQUEUED, runs=0), T0)["kubernetesJobName"] is None
    assert background_job_status(snapshot(state=JobState.SCHEDULED, attempt=1, runs=1), T0)["attempts"] == 1
    assert background_job_status(snapshot(state=JobState.SUCCEEDED, attempt=2, runs=3), T0)["attempts"] == 3


def test_failed_status_carries_the_error_and_a_condition():
    error = {"type": "RuntimeError", "message": "boom", "stack": "...", "exit_code": 1}
    status = background_job_status(snapshot(state=JobState.FAILED, finished_at=T0, last_error=error), T0)
    assert status["lastError"] == {"type": "RuntimeError", "message": "boom", "exitCode": 1}
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["status"] == "True" and failed["message"] == "boom"
    assert status["finishedAt"] == "2026-03-01T12:00:00Z"


def test_condition_keeps_its_transition_time():
    first = background_job_status(snapshot(), T0)
    later = background_job_status(snapshot(state=JobState.SUCCEEDED), T0 + timedelta(minutes=5), previous=first)
    accepted = next(c for c in later["conditions"] if c["type"] == "Accepted")
    complete = next(c for c in later["conditions"] if c["type"] == "Complete")
    assert accepted["lastTransitionTime"] == "2026-03-01T12:00:00Z"
    assert complete["lastTransitionTime"] == "2026-03-01T12:05:00Z"


def test_fingerprint_ignores_times_only():
    a = background_job_status(snapshot(), T0)
    b = background_job_status(snapshot(), T0 + timedelta(hours=1))
    assert status_fingerprint(a) == status_fingerprint(b)
    assert status_fingerprint(a) != status_fingerprint(background_job_status(snapshot(state=JobState.SUCCEEDED), T0))


def test_invalid_spec_condition():
    cond = invalid_spec_condition(ValidationError("job_type", "unknown job type 'nope'"), T0, 3)
    assert cond == {
        "type": "Accepted", "status": "False", "reason": "InvalidSpec",
        "message": "spec.jobType: unknown job type 'nope'", "lastTransitionTime": "2026-03-01T12:00:00Z",
        "observedGeneration": 3,
    }


def test_recurring_status():
    row = SimpleNamespace(last_run_at=T0, next_run_at=T0 + timedelta(hours=1), paused=False, last_job_id=5,
                          last_job_state=JobState.SUCCEEDED, schedule_error=None)
    status = recurring_job_status(row, T0, 2)
    assert status["lastScheduleTime"] == "2026-03-01T12:00:00Z"
    assert status["nextScheduleTime"] == "2026-03-01T13:00:00Z"
    assert status["lastJob"] == {"jobId": "5", "phase": "Succeeded"}
    assert status["conditions"][0]["reason"] == "Scheduled"
    paused = recurring_job_status(SimpleNamespace(**{**row.__dict__, "paused": True}), T0)
    assert paused["nextScheduleTime"] is None and paused["conditions"][0]["reason"] == "Suspended"
    broken = recurring_job_status(SimpleNamespace(**{**row.__dict__, "schedule_error": "bad"}), T0)
    assert broken["conditions"][0]["status"] == "False" and broken["conditions"][0]["reason"] == "InvalidSchedule"
