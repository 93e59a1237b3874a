"""Job classes by job type name.

`Job` subclasses add themselves here when their class statement runs, so
importing the modules named in CRAFT_JOB_MODULES is all it takes to make their
types runnable.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .errors import DuplicateJobTypeError, JobModuleImportError, UnknownJobTypeError

if TYPE_CHECKING:
    from .job import Job

_job_classes: dict[str, type[Job]] = {}


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(job_class: type[Job]) -> None:
    """Add `job_class` under its job_type (called by `Job.__init_subclass__`)."""
    job_type = job_class.job_type
    existing = _job_classes.get(job_type)
    # The same qualified name again is a module reload, not a conflict.
    if existing is not None and _qualified_name(existing) != _qualified_name(job_class):
        raise DuplicateJobTypeError(job_type, _qualified_name(existing), _qualified_name(job_class))
    _job_classes[job_type] = job_class


def get_job_class(job_type: str) -> type[Job]:
    try:
        return _job_classes[job_type]
    except KeyError:
        raise UnknownJobTypeError(job_type, registered_job_types()) from None


def registered_job_types() -> list[str]:
    """The registered job type names, sorted."""
    return sorted(_job_classes)


def import_job_modules(names: Iterable[str] | str) -> list[str]:
    """Import job modules so that their classes register.

    Accepts an iterable of module names or the comma-separated form of
    CRAFT_JOB_MODULES; blank entries are skipped. Returns the imported names.
    """
    if isinstance(names, str):
        names = names.split(",")
    imported = []
    for raw_name in names:
        name = raw_name.strip()
        if not name:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise JobModuleImportError(name, exc) from exc
        imported.append(name)
    return imported
