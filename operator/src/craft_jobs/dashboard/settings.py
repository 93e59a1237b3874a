"""Dashboard settings, from `CRAFT_JOBS_DASHBOARD_*` variables (pydantic-settings)."""

from __future__ import annotations

import ipaddress
from enum import Enum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from craft_jobs.errors import OptionsError

ENV_PREFIX = "CRAFT_JOBS_DASHBOARD_"


class AuthMode(str, Enum):
    TOKEN = "token"
    KUBERNETES = "kubernetes"
    NONE = "none"


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    auth_mode: AuthMode = AuthMode.TOKEN
    # token mode: a YAML or JSON file (a mounted Secret) listing tokens, roles and tenants.
    tokens_file: Path | None = None
    # kubernetes mode: where SubjectAccessReviews ask about backgroundjobs. With
    # multi-tenancy each tenant is a namespace; without, this namespace ("" = all).
    kubernetes_namespace: str = ""
    auth_cache_seconds: float = Field(30, ge=0, le=3600)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # Mark cookies Secure (set when served over HTTPS, e.g. behind an ingress).
    secure_cookies: bool = False
    # /metrics without credentials (every tenant's counts to anyone who can connect).
    public_metrics: bool = False
    # A file (a mounted Secret) holding the bearer token Prometheus scrapes /metrics
    # with; it opens /metrics only, with every tenant's series.
    metrics_token_file: Path | None = None
    # Host names (or addresses) the pages and API answer to, against DNS
    # rebinding; "*" accepts any. None: 127.0.0.1, localhost, ::1 and the bind
    # address. Requests with a bearer token (token and kubernetes auth) and the
    # health probes are exempt: a rebinding page cannot send a token it does not know.
    allowed_hosts: list[str] | None = None
    # How often the pages fetch themselves to update (a change shows within this plus a render).
    live_interval_seconds: float = Field(1.5, ge=0.5, le=60)


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def host_name(header: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def allowed_host_names(settings: DashboardSettings, bind_host: str | None) -> frozenset[str] | None:
    """The Host names accepted (None: any)."""
    if settings.allowed_hosts is not None:
        names = [host_name(h) for h in settings.allowed_hosts if h.strip()]
        return None if "*" in names else frozenset(names)
    return frozenset({*LOOPBACK_NAMES, host_name(bind_host or settings.host)})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: DashboardSettings, host: str) -> None:
    """`none` auth may only listen on loopback: anyone who can connect is an operator."""
    if settings.auth_mode is AuthMode.NONE and not is_loopback(host):
        raise OptionsError(
            f"{ENV_PREFIX}AUTH_MODE (auth_mode)",
            f"'none' refuses to listen on {host!r}: bind 127.0.0.1 or ::1, or use auth mode 'token' or 'kubernetes'",
        )
