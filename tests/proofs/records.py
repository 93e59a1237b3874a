"""What the job processes wrote (work.py): executions per job, and overlaps.

An execution is one process's run of one job: from its `start` line to its
`end` line, or, for a run killed outright, to its last line. Two executions
of one job overlap when the later one started before the earlier one's last
line. (A run killed less than a tick after its last line could hide an
overlap shorter than a tick, 0.25 s; every rescue or re-run path takes far
longer than that.)
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Execution:
    job_id: int
    pid: int
    attempt: int
    start: float
    last: float
    outcome: str | None  # "done", "cancelled", or None: killed before it could say

    @property
    def completed(self) -> bool:
        return self.outcome == "done"


def read_executions(path: Path) -> dict[int, list[Execution]]:
    """Job id -> its executions, in the order they started."""
    by_run: dict[tuple[int, int], Execution] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            event = json.loads(line)
            key = (event["job_id"], event["pid"])
            if event["event"] == "start":
                by_run[key] = Execution(event["job_id"], event["pid"], event["attempt"], event["t"], event["t"], None)
                continue
            run = by_run.get(key)
            if run is None:  # a line without its start: the file was damaged, say so loudly
                raise ValueError(f"{path}: {event['event']} of job {event['job_id']} pid {event['pid']} without a start")
            run.last = max(run.last, event["t"])
            if event["event"] == "end":
                run.outcome = event["outcome"]
    jobs: dict[int, list[Execution]] = defaultdict(list)
    for run in sorted(by_run.values(), key=lambda r: r.start):
        jobs[run.job_id].append(run)
    return dict(jobs)


def overlaps(executions: list[Execution]) -> bool:
    """Whether two executions of one job were alive at the same time."""
    for i, earlier in enumerate(executions):
        for later in executions[i + 1:]:
            if later.start < earlier.last:
                return True
    return False
