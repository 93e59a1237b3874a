"""Limits on what a job carries, checked by the scheduler so every surface
(SDK, REST API, CLI, BackgroundJob/RecurringJob resources) refuses the same
input with the same field named.

PostgreSQL refuses NUL in text and jsonb, a job's metadata travels in one
environment variable (Linux caps one at 128 KiB), and deeply nested JSON
breaks every reader that recurses (the job page, `json.dumps`): so each is
refused up front instead of failing later.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from craft_jobs.errors import ValidationError

METADATA_MAX_BYTES = 16_384
JSON_MAX_DEPTH = 32
TIMEOUT_MAX_SECONDS = 30 * 86_400
MAX_DELAY = timedelta(days=3650)


def check_text(value: Any, field: str) -> Any:
    """`value` unchanged, unless it is a string holding a NUL byte."""
    if isinstance(value, str) and "\x00" in value:
        raise ValidationError(field, "contains a NUL byte")
    return value


def check_json(value: Any, field: str, max_depth: int = JSON_MAX_DEPTH) -> Any:
    """`value` unchanged, unless it nests deeper than `max_depth` or holds a NUL
    byte in a key or string; the error names the path (`parameters.a.0.b`)."""
    stack = [(value, field, 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict):
            children = []
            for key, child in item.items():
                if isinstance(key, str) and "\x00" in key:
                    raise ValidationError(path, f"has a key with a NUL byte: {key!r}")
                children.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, (list, tuple)):
            children = [(child, f"{path}.{i}", depth + 1) for i, child in enumerate(item)]
        else:
            check_text(item, path)
            continue
        if children and depth >= max_depth:
            raise ValidationError(field, f"nests deeper than {max_depth} levels")
        stack.extend(children)
    return value


def check_json_text(text: str, field: str) -> str:
    """`text` (JSON) unchanged, after the checks of `check_json`. Most JSON has
    no escaped NUL and fewer brackets than the depth limit, which settles it
    without parsing: a job's hot path pays two substring counts."""
    if "\\u0000" in text or text.count("{") + text.count("[") >= JSON_MAX_DEPTH:
        check_json(json.loads(text), field)
    return text


def check_metadata(metadata: dict[str, Any], field: str = "metadata") -> dict[str, Any]:
    try:
        text = json.dumps(metadata, separators=(",", ":"), default=str)
    except RecursionError:
        raise ValidationError(field, f"nests deeper than {JSON_MAX_DEPTH} levels") from None
    check_json_text(text, field)
    size = len(text.encode())
    if size > METADATA_MAX_BYTES:
        raise ValidationError(field, f"{size} bytes is over the limit of {METADATA_MAX_BYTES} bytes")
    return metadata


def check_timeout(timeout: Any) -> int | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= TIMEOUT_MAX_SECONDS:
        raise ValidationError(
            "timeout_seconds", f"must be a whole number of seconds from 1 to {TIMEOUT_MAX_SECONDS} (30 days), got {timeout!r}"
        )
    return timeout


def check_delay(delay: timedelta, field: str = "delay") -> timedelta:
    if delay > MAX_DELAY:
        raise ValidationError(field, f"must be at most {MAX_DELAY.days} days")
    return delay
