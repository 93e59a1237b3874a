"""The table, the defects with their evidence, and the JSON last line."""

from __future__ import annotations

import json

from tests.proofs.harness import Result

COLUMNS = ("scenario", "executor", "jobs", "lost", "ran twice", "after loss", "overlapping", "mismatches",
           "recover s", "re-run allowed")


def table(results: list[Result]) -> str:
    rows = [COLUMNS] + [(
        r.name, r.executor, str(r.jobs), str(r.lost), str(r.ran_twice), str(r.rerun_after_loss), str(r.overlapping),
        str(r.mismatches), "never" if r.recover_s is None else f"{r.recover_s:.1f}", "yes" if r.allows_rerun else "no",
    ) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def legend() -> str:
    return ("lost: never reached its expected final state, or never completed its work | ran twice: executed more "
            "than once in total | after loss: of those, every earlier execution was cut off before it finished "
            "(allowed only where 're-run allowed': its executor was lost before reporting) | overlapping: two "
            "executions alive at once | mismatches: store state, BackgroundJob status or history not as expected | "
            "recover s: from the fault's end to the last job's final state")


def defects(results: list[Result]) -> str:
    lines = []
    for r in results:
        if not r.defective:
            continue
        lines.append(f"DEFECT {r.name} ({r.fault}){': ' + r.error if r.error else ''}")
        lines += [f"  {p}" for p in r.problems]
        if r.ran_twice and not r.allows_rerun:
            lines.append("  re-runs in a scenario where nothing was lost before reporting")
    return "\n".join(lines)


def json_line(results: list[Result]) -> str:
    return json.dumps({"scenarios": [r.json() for r in results]}, separators=(",", ":"))


def observations(results: list[Result]) -> str:
    """What the scenarios noticed beyond the table's counts (see Context.observations)."""
    return "\n".join(f"NOTE {r.name}: {n.removeprefix('observed: ')}" for r in results for n in r.notes
                     if n.startswith("observed: "))
