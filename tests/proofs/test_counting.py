"""The proofs' counts can fail: each one goes up on the executions that should raise it."""

from __future__ import annotations

import json

from tests.proofs.counting import judge
from tests.proofs.records import Execution, read_executions


def run(start: float, last: float, outcome: str | None, pid: int = 1) -> Execution:
    return Execution(job_id=7, pid=pid, attempt=0, start=start, last=last, outcome=outcome)


def test_one_completed_execution_is_clean():
    verdict = judge("Succeeded", "Succeeded", [run(0, 5, "done")])
    assert verdict.problems == [] and not (verdict.lost or verdict.ran_twice or verdict.overlapping or verdict.mismatched)


def test_succeeded_in_the_store_without_completed_work_is_lost():
    assert judge("Succeeded", "Succeeded", [run(0, 2, None)]).lost
    assert judge("Succeeded", "Succeeded", []).lost


def test_a_rerun_after_a_cut_off_execution_is_after_a_loss():
    verdict = judge("Succeeded", "Succeeded", [run(0, 2, None, pid=1), run(12, 17, "done", pid=2)])
    assert verdict.ran_twice and verdict.after_loss and not verdict.overlapping and verdict.problems == []


def test_completed_work_done_again_is_no_loss():
    verdict = judge("Succeeded", "Succeeded", [run(0, 5, "done", pid=1), run(9, 14, "done", pid=2)])
    assert verdict.ran_twice and not verdict.after_loss


def test_two_executions_at_once_overlap_even_if_one_was_killed():
    verdict = judge("Succeeded", "Succeeded", [run(0, 8, None, pid=1), run(7.5, 13, "done", pid=2)])
    assert verdict.overlapping


def test_wrong_final_state_or_resource_is_a_mismatch():
    assert judge("Deleted", "Failed", [run(0, 1, "cancelled")]).mismatched
    assert judge("Succeeded", "Succeeded", [run(0, 1, "done")], ["BackgroundJob phase Processing"]).mismatched


def test_lines_become_executions_per_process(tmp_path):
    path = tmp_path / "work.jsonl"
    lines = [{"event": "start", "job_id": 3, "attempt": 0, "pid": 10, "t": 1.0},
             {"event": "start", "job_id": 3, "attempt": 0, "pid": 11, "t": 1.4},
             {"event": "tick", "job_id": 3, "pid": 10, "t": 1.5},
             {"event": "end", "job_id": 3, "pid": 11, "t": 2.0, "outcome": "done"}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    runs = read_executions(path)[3]
    assert [(r.pid, r.last, r.outcome) for r in runs] == [(10, 1.5, None), (11, 2.0, "done")]
    assert judge("Succeeded", "Succeeded", runs).overlapping
