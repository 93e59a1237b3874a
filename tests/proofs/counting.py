"""The counts of one job, from its expected state, its stored state and its executions.

Pure, so that tests/proofs/test_counting.py can show each count can go up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.proofs.records import Execution, overlaps


@dataclass
class Verdict:
    lost: bool = False           # not in its expected state, or (expected Succeeded) its work never completed
    ran_twice: bool = False      # more than one execution
    after_loss: bool = False     # ... and each one before the last was cut off before it finished
    overlapping: bool = False    # two executions alive at once
    mismatched: bool = False     # store state (or resource, or a scenario rule) not as expected
    problems: list[str] = field(default_factory=list)


def judge(expected: str, state: str, runs: list[Execution], other_mismatches: list[str] = ()) -> Verdict:
    verdict = Verdict()
    completed = sum(r.completed for r in runs)
    if state != expected or (expected == "Succeeded" and not completed):
        verdict.lost = True
        verdict.problems.append(f"lost: state {state}, {completed} completed executions")
    if len(runs) > 1:
        verdict.ran_twice = True
        verdict.after_loss = all(not r.completed for r in runs[:-1])
        if not verdict.after_loss:
            verdict.problems.append(f"completed and then executed again ({len(runs)} executions)")
    if overlaps(runs):
        verdict.overlapping = True
        verdict.problems.append("two executions at the same time")
    mismatches = ([] if state == expected else [f"store state {state}, expected {expected}"]) + list(other_mismatches)
    if mismatches:
        verdict.mismatched = True
        verdict.problems += mismatches
    return verdict
