"""Client filters, as Hangfire's IClientFilter: hooks around creating a job.

Filters named in the `client_filters` option ("package.module:Name", a
ClientFilter subclass, made with no arguments, or an instance) run for every
job of the installation: SDK, REST API, CLI and BackgroundJob resources all
schedule through JobScheduler, which runs them before any filters it is given.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from craft_jobs.store.models import NewJob


class ClientFilter:
    """Subclass and override; `on_creating` may change the job or raise to refuse it."""

    def on_creating(self, job: NewJob) -> None:
        return None

    def on_created(self, job: NewJob, job_id: int) -> None:
        return None


def resolve_filter(path: str) -> type[ClientFilter] | ClientFilter:
    """The class or instance `path` names; ValueError says why it cannot be used."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{path!r} is not of the form package.module:Name")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any failure of the user's module, ImportError or not
        raise ValueError(f"{path!r}: cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    target = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"{path!r}: {module_name} has no {attribute}")
        target = getattr(target, part)
    if isinstance(target, ClientFilter) or (isinstance(target, type) and issubclass(target, ClientFilter)):
        return target
    raise ValueError(f"{path!r} is not a craft_jobs.client.ClientFilter subclass or instance")


def installation_filters(paths: Sequence[str]) -> list[ClientFilter]:
    """One filter per path (classes are instantiated here, once per scheduler)."""
    filters = []
    for path in paths:
        target = resolve_filter(path)
        filters.append(target() if isinstance(target, type) else target)
    return filters
