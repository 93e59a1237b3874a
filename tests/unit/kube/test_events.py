"""Which Events a BackgroundJob's status change posts, and how Events aggregate."""

from __future__ import annotations

from craft_jobs.kube.events import event_name, recurring_events, transition_events


def status(phase: str, attempts: int = 1, **extra) -> dict:
    return {"phase": phase, "jobId": "7", "kubernetesJobName": f"cj-7-{attempts}", "attempts": attempts, **extra}


def reasons(previous: dict | None, current: dict) -> list[str]:
    return [reason for _, reason, _ in transition_events(previous, current)]


def test_each_phase_change_has_its_event():
    assert transition_events(None, status("Enqueued", 0)) == [("Normal", "Accepted", "stored as job 7 (Enqueued)")]
    assert transition_events(status("Enqueued", 0), status("Processing")) == [
        ("Normal", "Started", "attempt 1 of job 7 started as Job cj-7-1")]
    [(kind, reason, message)] = transition_events(status("Processing"), status("Scheduled", lastError={"message": "boom"}))
    assert (kind, reason) == ("Warning", "Retrying") and message.endswith("retrying: boom")
    [(kind, reason, message)] = transition_events(status("Processing"), status("Failed", lastError={"message": "boom"}))
    assert (kind, reason) == ("Warning", "Failed") and "boom" in message
    assert reasons(status("Processing"), status("Succeeded")) == ["Succeeded"]


def test_a_quick_run_seen_only_when_it_ended_still_shows_its_start():
    assert reasons(None, status("Succeeded")) == ["Accepted", "Started", "Succeeded"]
    assert transition_events(None, status("Succeeded"))[0][2] == "stored as job 7"
    assert reasons(status("Enqueued", 0), status("Failed")) == ["Started", "Failed"]
    assert reasons(status("Enqueued", 0), status("Scheduled")) == ["Started", "Retrying"]


def test_attempts_between_two_passes_each_start_and_fail_before_the_last():
    assert reasons(None, status("Succeeded", 3)) == [
        "Accepted", "Started", "Retrying", "Started", "Retrying", "Started", "Succeeded"]
    events = transition_events(status("Processing", 1), status("Processing", 3))
    assert [(r, m) for _, r, m in events] == [
        ("Retrying", "attempt 1 of job 7 failed, retrying"),
        ("Started", "attempt 2 of job 7 started"),
        ("Retrying", "attempt 2 of job 7 failed, retrying"),
        ("Started", "attempt 3 of job 7 started as Job cj-7-3")]
    assert reasons(status("Scheduled", 1), status("Succeeded", 2)) == ["Started", "Succeeded"]
    assert reasons(status("Processing", 1), status("Scheduled", 2)) == ["Retrying", "Started", "Retrying"]


def test_a_requeued_job_starts_counting_again_without_a_second_accepted():
    assert reasons(status("Failed", 3), status("Enqueued", 0)) == []
    assert reasons(status("Failed", 3), status("Processing", 1)) == ["Started"]
    # A run interrupted by a shutdown goes back without using its attempt, then starts again.
    assert reasons(status("Processing", 1), status("Enqueued", 0)) == []


def test_no_event_without_a_change_or_for_a_delayed_job_seen_again():
    assert transition_events(status("Processing"), status("Processing")) == []
    assert transition_events(status("Enqueued"), status("Scheduled")) == []
    assert transition_events(status("Processing"), status("Deleted")) == []


def test_one_event_per_resource_and_reason():
    assert event_name("report", "uid-1", "Retrying") == event_name("report", "uid-1", "Retrying")
    assert event_name("report", "uid-1", "Retrying") != event_name("report", "uid-1", "Started")
    assert event_name("report", "uid-1", "Started") != event_name("report", "uid-2", "Started")
    assert len(event_name("x" * 253, "u", "Started")) <= 253


def recurring(job: str | None, phase: str | None = None, ready: str = "Scheduled", message: str = "") -> dict:
    return {"lastJob": {"jobId": job, "phase": phase} if job else None,
            "conditions": [{"type": "Ready", "reason": ready, "message": message}]}


def test_a_recurring_job_tells_each_fire_and_its_outcome():
    assert recurring_events(None, recurring(None)) == []
    assert recurring_events(recurring(None), recurring("4", "Enqueued")) == [("Normal", "Fired", "fired job 4")]
    assert recurring_events(recurring("4", "Enqueued"), recurring("4", "Processing")) == []
    assert recurring_events(recurring("4", "Processing"), recurring("4", "Succeeded")) == [
        ("Normal", "RunSucceeded", "job 4 succeeded")]
    assert [r for _, r, _ in recurring_events(recurring("4", "Succeeded"), recurring("5", "Failed"))] == ["Fired", "RunFailed"]
    assert recurring_events(recurring("5", "Failed"), recurring("5", "Failed")) == []
    assert recurring_events(recurring("5", "Processing"), recurring("5", "Failed"), "disk full") == [
        ("Warning", "RunFailed", "job 5 failed: disk full")]


def test_a_schedule_that_becomes_invalid_is_a_warning_once():
    bad = recurring("4", "Succeeded", ready="InvalidSchedule", message="time zone 'Mars/Base' is unknown")
    assert recurring_events(recurring("4", "Succeeded"), bad) == [
        ("Warning", "InvalidSchedule", "time zone 'Mars/Base' is unknown")]
    assert recurring_events(bad, bad) == []
