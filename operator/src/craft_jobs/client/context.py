"""The caller's context (tenant, user, metadata), set once per request.

    with job_context(tenant_id="acme", user_id="user-a@acme"):
        await scheduler.schedule(...)

Explicit arguments to the scheduler win over the context.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CallerContext:
    tenant_id: str | None = None
    user_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


_current: contextvars.ContextVar[CallerContext] = contextvars.ContextVar("craft_jobs_caller", default=CallerContext())


def current_context() -> CallerContext:
    return _current.get()


@contextlib.contextmanager
def job_context(
    tenant_id: str | None = None, user_id: str | None = None, metadata: dict[str, Any] | None = None
) -> Iterator[CallerContext]:
    outer = _current.get()
    inner = CallerContext(
        tenant_id=tenant_id if tenant_id is not None else outer.tenant_id,
        user_id=user_id if user_id is not None else outer.user_id,
        metadata={**outer.metadata, **(metadata or {})},
    )
    token = _current.set(inner)
    try:
        yield inner
    finally:
        _current.reset(token)
