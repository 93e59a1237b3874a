"""Rendering pages: templates get the shared context; values are escaped by Jinja."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from craft_jobs.dashboard.state import TEMPLATES, DashboardState
from craft_jobs.engine.executor import executor_label


def pretty_json(value: Any) -> str:
    # A plain str, so Jinja escapes it: "<script>" in a parameter stays text.
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def script_json(value: str) -> Markup:
    # For a <script type="application/json"> block: entities are not decoded
    # there, so escape what could close the element instead.
    return Markup(value.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def moment(value: datetime | None, style: str = "relative") -> Markup | str:
    """A <time> that live.js shows in the page's zone (UTC or the browser's).

    `relative` reads "3 min ago" with the absolute time on hover; `absolute`
    the other way round; `since` is how long ago as a duration ("12 s").
    Without JavaScript the text is the UTC time."""
    if value is None:
        return "—"
    iso = value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return Markup('<time datetime="{}" data-style="{}">{}</time>').format(iso, style, when(value))


def in_zone(value: datetime | None, zone: str) -> str:
    """The time on the wall clock of `zone` (a recurring job's own time zone)."""
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({zone})"


def run_time(job: Any) -> Markup | str:
    """How long a run took, or for a running job how long it has run (live)."""
    started, finished = getattr(job, "started_at", None), getattr(job, "finished_at", None)
    if started is None:
        return "—"
    if finished is not None and finished >= started:
        return seconds((finished - started).total_seconds())
    if job.state.value == "Processing":
        return moment(started, "since")
    return "—"


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters.update(pretty=pretty_json, script_json=script_json, when=when, seconds=seconds,
                                  executor_label=executor_label, moment=moment, in_zone=in_zone, run_time=run_time)
    templates.env.globals["urlencode"] = lambda **kw: urlencode({k: v for k, v in kw.items() if v not in (None, "")})
    return templates


def render(request: Request, state: DashboardState, template: str, **context: Any) -> Response:
    return state.templates.TemplateResponse(
        request, template, {**state.page_context(request), "notice": request.query_params.get("notice"), **context}
    )


def back(state: DashboardState, path: str, notice: str) -> RedirectResponse:
    """After a POST, see the result with GET (no resubmission on reload)."""
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{state.base}{path}{separator}{urlencode({'notice': notice})}", status_code=303)
