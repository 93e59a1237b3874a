"""Which Event a BackgroundJob's phase change posts, and how Events aggregate."""

from __future__ import annotations

from craft_jobs.kube.events import event_name, transition_event


def status(phase: str, **extra) -> dict:
    return {"phase": phase, "jobId": "7", "kubernetesJobName": "cj-7-1", "attempts": 1, **extra}


def test_each_phase_change_has_its_event():
    assert transition_event(None, status("Enqueued"))[:2] == ("Normal", "Accepted")
    assert transition_event(status("Enqueued"), status("Processing"))[:2] == ("Normal", "Started")
    kind, reason, message = transition_event(status("Processing"), status("Scheduled", lastError={"message": "boom"}))
    assert (kind, reason) == ("Warning", "Retrying") and message.endswith("retrying: boom")
    kind, reason, message = transition_event(status("Processing"), status("Failed", lastError={"message": "boom"}))
    assert (kind, reason) == ("Warning", "Failed") and "boom" in message
    assert transition_event(status("Processing"), status("Succeeded"))[:2] == ("Normal", "Succeeded")


def test_no_event_without_a_change_or_for_a_delayed_job_seen_again():
    assert transition_event(status("Processing"), status("Processing")) is None
    assert transition_event(status("Enqueued"), status("Scheduled")) is None


def test_one_event_per_resource_and_reason():
    assert event_name("report", "uid-1", "Retrying") == event_name("report", "uid-1", "Retrying")
    assert event_name("report", "uid-1", "Retrying") != event_name("report", "uid-1", "Started")
    assert event_name("report", "uid-1", "Started") != event_name("report", "uid-2", "Started")
    assert len(event_name("x" * 253, "u", "Started")) <= 253
