"""What every request handler shares: the store, the scheduler, auth, templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from craft_jobs.client.scheduler import JobScheduler
from craft_jobs.dashboard.auth import Authenticator
from craft_jobs.dashboard.metrics import StoreMetrics
from craft_jobs.dashboard.settings import DashboardSettings
from craft_jobs.options import JobOptions
from craft_jobs.states import JobState
from craft_jobs.store.stats import StatsStore
from craft_jobs.store.store import JobStore

TEMPLATES = Path(__file__).parent / "templates"
SESSION_COOKIE = "craft_jobs_session"
CSRF_COOKIE = "craft_jobs_csrf"


@dataclass
class DashboardState:
    options: JobOptions
    settings: DashboardSettings
    auth: Authenticator
    templates: Jinja2Templates
    store: JobStore | None = None
    stats: StatsStore | None = None
    scheduler: JobScheduler | None = None
    metrics: StoreMetrics | None = None
    # The installation's, read once: it checks the credentials of runs (run_auth.py).
    signing_key: str | None = None

    @property
    def base(self) -> str:
        """The pages' prefix ('' when the dashboard is mounted at /)."""
        return "" if self.options.dashboard_path == "/" else self.options.dashboard_path

    def page_context(self, request: Request) -> dict[str, Any]:
        return {
            "base": self.base,
            "states": list(JobState),
            "principal": getattr(request.state, "principal", None),
            "csrf_token": getattr(request.state, "csrf_token", ""),
            "live_ms": int(self.settings.live_interval_seconds * 1000),
            "auth_mode": self.settings.auth_mode.value,
            "multi_tenancy": self.options.enable_multi_tenancy,
        }
