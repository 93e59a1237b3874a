"""Standard `logging` with the job's context on every record.

Two paths put the context on records: `JobContext.logger` (an adapter, works
without any configuration, e.g. in the engine's inline executor), and
`JobContextFilter`, which `configure_logging` installs on its root handler so
that records from any library logging during a run carry it too. The filter
reads a contextvar that `execute` sets for the duration of the run.
"""

from __future__ import annotations

import json as _json
import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

JOB_FIELDS = ("job_id", "job_type", "attempt", "tenant_id", "user_id")

_current_job: ContextVar[Mapping[str, Any] | None] = ContextVar("craft_jobs_current_job", default=None)


@contextmanager
def job_log_context(fields: Mapping[str, Any]) -> Iterator[None]:
    """Make `fields` the job context of records emitted in this context."""
    token = _current_job.set(fields)
    try:
        yield
    finally:
        _current_job.reset(token)


def current_job_fields() -> Mapping[str, Any] | None:
    return _current_job.get()


class JobLoggerAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Adds the job fields to every record, keeping any `extra` of the call."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        call_extra = kwargs.get("extra")
        kwargs["extra"] = {**self.extra, **call_extra} if call_extra else self.extra
        return msg, kwargs


class JobContextFilter(logging.Filter):
    """Sets the job fields on every record (None outside a run); never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _current_job.get()
        for name in JOB_FIELDS:
            # A value already on the record (from JobLoggerAdapter) is the more specific one.
            if not hasattr(record, name):
                setattr(record, name, fields.get(name) if fields else None)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, job fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in JOB_FIELDS:
            entry[name] = getattr(record, name, None)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines; the job fields appear only on records of a run."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(job_label)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        job_id = getattr(record, "job_id", None)
        record.job_label = (
            f" [{getattr(record, 'job_type', None)} {job_id} attempt={getattr(record, 'attempt', None)}"
            f" tenant={getattr(record, 'tenant_id', None)} user={getattr(record, 'user_id', None)}]"
            if job_id is not None
            else ""
        )
        return super().formatMessage(record)


_HANDLER_MARK = "_craft_jobs_runner_handler"


def configure_logging(
    json: bool = True, *, level: int | str = logging.INFO, stream: IO[str] | None = None
) -> logging.Handler:
    """Send root logging to `stream` (stderr) as JSON lines or text, with job fields.

    Calling it again replaces the handler it installed before; other handlers
    on the root logger are left alone. Returns the installed handler.
    """
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _HANDLER_MARK, False):
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    handler.addFilter(JobContextFilter())
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
