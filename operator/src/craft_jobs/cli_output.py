"""What `craft-jobs list` and `show` print: a table (or a wide one), a text
view, JSON or YAML (`-o`), with state colours when stdout is a terminal, and
`--watch` redrawing it until Ctrl+C."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

import yaml
from pydantic import BaseModel

from craft_jobs.states import JobState

OUTPUTS = ("table", "wide", "json", "yaml")
# ANSI SGR codes: green, red, blue, cyan, yellow, grey.
STATE_COLOURS = {
    JobState.SUCCEEDED: "32", JobState.FAILED: "31", JobState.PROCESSING: "34", JobState.ENQUEUED: "36",
    JobState.SCHEDULED: "33", JobState.AWAITING: "33", JobState.DELETED: "90",
}
CLEAR_SCREEN = "\x1b[H\x1b[2J"


def colour_wanted(stream: TextIO) -> bool:
    """Colour for a terminal only, and never with NO_COLOR set (no-color.org) or TERM=dumb."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def paint(text: str, state: JobState | None, colour: bool) -> str:
    code = STATE_COLOURS.get(state) if state is not None else None
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def as_data(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: as_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_data(v) for v in value]
    return value


def dump(data: Any, output: str) -> str:
    """JSON or YAML of models, dicts and lists (the API's shapes)."""
    data = as_data(data)
    if output == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip("\n")
    return json.dumps(data, indent=2, ensure_ascii=False)


def when(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, states: Sequence[JobState | None] = (),
          state_column: int | None = None, colour: bool = False) -> str:
    """Left-aligned columns two spaces apart; the state column painted after padding."""
    cells = [[str(c) if c not in (None, "") else "-" for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for n, row in enumerate(cells):
        padded = [c.ljust(w) for c, w in zip(row, widths)]
        if state_column is not None and n < len(states):
            padded[state_column] = paint(padded[state_column], states[n], colour)
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


Column = tuple[str, Callable[[Any], Any]]
JOB_COLUMNS: list[Column] = [
    ("ID", lambda j: j.id), ("STATE", lambda j: j.state.value), ("TYPE", lambda j: j.job_type),
    ("TENANT", lambda j: j.tenant_id), ("ATTEMPT", lambda j: f"{j.attempt}/{j.max_attempts}"),
    ("CREATED", lambda j: when(j.created_at)),
]
JOB_WIDE_COLUMNS: list[Column] = [
    ("QUEUE", lambda j: j.queue), ("USER", lambda j: j.user_id), ("RUN AT", lambda j: when(j.run_at)),
    ("FINISHED", lambda j: when(j.finished_at)), ("RECURRING", lambda j: j.recurring_id),
]
RECURRING_COLUMNS: list[Column] = [
    ("ID", lambda r: r.id), ("SCHEDULE", lambda r: r.cron or f"every {r.interval_minutes}m"),
    ("TIME ZONE", lambda r: r.time_zone), ("PAUSED", lambda r: str(r.paused).lower()),
    ("NEXT RUN", lambda r: when(r.next_run_at)), ("LAST", lambda r: r.last_job_state.value if r.last_job_state else None),
]
RECURRING_WIDE_COLUMNS: list[Column] = [
    ("TYPE", lambda r: r.job_type), ("QUEUE", lambda r: r.queue), ("TENANT", lambda r: r.tenant_id),
    ("CONCURRENCY", lambda r: r.concurrency_policy.value), ("LAST RUN", lambda r: when(r.last_run_at)),
]


def _listing(items: Sequence[Any], columns: list[Column], states: Sequence[JobState | None], state_column: int,
             colour: bool) -> str:
    rows = [[value(item) for _, value in columns] for item in items]
    return table([name for name, _ in columns], rows, states=states, state_column=state_column, colour=colour)


def jobs_table(jobs: Sequence[Any], *, wide: bool, colour: bool) -> str:
    columns = JOB_COLUMNS + (JOB_WIDE_COLUMNS if wide else [])
    return _listing(jobs, columns, [j.state for j in jobs], 1, colour)


def recurring_table(items: Sequence[Any], *, wide: bool, colour: bool) -> str:
    columns = RECURRING_COLUMNS + (RECURRING_WIDE_COLUMNS if wide else [])
    return _listing(items, columns, [r.last_job_state for r in items], 5, colour)


def _fields(pairs: Sequence[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k + ':':<{width + 1}} {v if v not in (None, '') else '-'}" for k, v in pairs)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def job_text(job: Any, history: Sequence[Any], *, colour: bool) -> str:
    pairs = [
        ("Job", job.id), ("State", paint(job.state.value, job.state, colour)), ("Type", job.job_type),
        ("Queue", job.queue), ("Tenant", job.tenant_id), ("User", job.user_id),
        ("Attempt", f"{job.attempt} (at most {job.max_attempts} retries)"), ("Created", when(job.created_at)),
        ("Scheduled for", when(job.scheduled_for)), ("Run at", when(job.run_at)), ("Finished", when(job.finished_at)),
        ("Recurring", job.recurring_id), ("Parent", job.parent_id),
        ("Parameters", _compact(job.parameters)), ("Metadata", _compact(job.metadata) if job.metadata else None),
    ]
    if job.last_error:
        pairs.append(("Last error", f"{job.last_error.get('type', 'Error')}: {job.last_error.get('message', '')}"))
    rows = [[when(e.created_at), e.state.value, e.reason, (e.data or {}).get("message")] for e in history]
    return _fields(pairs) + "\n\nHistory:\n" + table(
        ["AT", "STATE", "REASON", "MESSAGE"], rows, states=[e.state for e in history], state_column=1, colour=colour)


def recurring_text(recurring: Any, description: str, runs: Sequence[Any], *, colour: bool) -> str:
    pairs = [
        ("Recurring job", recurring.id), ("Type", recurring.job_type),
        ("Schedule", f"{recurring.cron or f'every {recurring.interval_minutes} minutes'} ({description})"),
        ("Time zone", recurring.time_zone), ("Paused", str(recurring.paused).lower()),
        ("Concurrency", recurring.concurrency_policy.value), ("Queue", recurring.queue), ("Tenant", recurring.tenant_id),
        ("Next run", when(recurring.next_run_at)), ("Last run", when(recurring.last_run_at)),
        ("Parameters", _compact(recurring.parameters)),
    ]
    if recurring.schedule_error:
        pairs.append(("Schedule error", recurring.schedule_error))
    return _fields(pairs) + "\n\nRecent runs:\n" + jobs_table(runs, wide=False, colour=colour)


async def watch(render: Callable[[], Awaitable[str]], *, interval: float, title: str, stream: TextIO = sys.stdout) -> None:
    """Prints `render()` every `interval` seconds until Ctrl+C: redrawn in place
    on a terminal, one frame after another (blank line between) otherwise."""
    redraw = stream.isatty()
    first = True
    while True:
        text = await render()
        if redraw:
            stream.write(CLEAR_SCREEN + f"Every {interval:g}s: {title}    {when(datetime.now(timezone.utc))} UTC\n\n")
        elif not first:
            stream.write("\n")
        stream.write(text + "\n")
        stream.flush()
        first = False
        await asyncio.sleep(interval)
