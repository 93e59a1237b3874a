"""Who did what, from where: the audit trail's vocabulary and the current caller.

Every surface says who is calling before it acts, with `acting_as(surface,
actor)`; the JobScheduler records each action under that caller. Without one
the caller is the SDK, and the actor falls back to the job's user, the job
context's user, and finally the PostgreSQL role the SDK connected as.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from enum import Enum


class Surface(str, Enum):
    KUBECTL = "kubectl"
    SDK = "sdk"
    API = "api"
    DASHBOARD = "dashboard"
    CLI = "cli"


class AuditAction(str, Enum):
    SCHEDULE = "schedule"
    TRIGGER = "trigger"
    REQUEUE = "requeue"
    DELETE = "delete"
    PAUSE = "pause"
    RESUME = "resume"
    APPLY = "apply"  # a recurring job created or changed
    LOGIN = "login"


class AuditOutcome(str, Enum):
    OK = "ok"
    REFUSED = "refused"
    NOT_FOUND = "not_found"


class TargetKind(str, Enum):
    JOB = "job"
    BATCH = "batch"  # one schedule_batch call
    RECURRING = "recurring"
    SESSION = "session"


@dataclass(frozen=True)
class Caller:
    surface: Surface
    actor: str | None = None


_caller: ContextVar[Caller | None] = ContextVar("craft_jobs_audit_caller", default=None)


_SDK = Caller(Surface.SDK)


def current_caller() -> Caller:
    return _caller.get() or _SDK


@contextlib.contextmanager
def acting_as(surface: Surface, actor: str | None) -> Iterator[Caller]:
    caller = Caller(surface, actor)
    token = _caller.set(caller)
    try:
        yield caller
    finally:
        _caller.reset(token)


def set_caller(surface: Surface, actor: str | None) -> None:
    """For a request's whole task (the dashboard's dependencies): reset with the task."""
    _caller.set(Caller(surface, actor))
