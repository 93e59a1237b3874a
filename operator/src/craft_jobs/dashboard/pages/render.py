"""Rendering pages: templates get the shared context; values are escaped by Jinja."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

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
                                  executor_label=executor_label)
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
