"""JobOptions: the seed's options, from arguments, `CRAFT_JOBS_*` variables or a file.

Arguments win over the environment, which wins over the file named by
`CRAFT_JOBS_CONFIG_FILE` (JSON or YAML, shaped like the seed's `JobOptions`
section, optionsfile.py). An out-of-range value stops start-up with a message
naming the option and its range (`OptionsError`), never a silent clamp.
"""

from __future__ import annotations

import os
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import pydantic
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from craft_jobs.connstrings import ConnectionStringError, to_libpq
from craft_jobs.errors import OptionsError
from craft_jobs.optionsfile import CONFIG_FILE_ENV, read_options_file

SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
ENV_PREFIX = "CRAFT_JOBS_"
# An engine that misses heartbeats stops its local runs two intervals before
# the others may rescue them (engine/heartbeat.py): that needs three.
HEARTBEATS_PER_TIMEOUT = 3
_EXAMPLE_NAMES = {"tenant": "acme", "queue": "emails"}


class Mode(str, Enum):
    LOCAL = "local"
    CLUSTER = "cluster"


class JobOptions(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    mode: Mode = Mode.LOCAL
    connection_string: str | None = None
    enable_dashboard: bool = True
    dashboard_path: str = "/jobs"
    worker_count: int = Field(20, ge=1, le=100)
    max_retry_attempts: int = Field(3, ge=0, le=10)
    enable_automatic_retry: bool = True
    job_expiration_days: int = Field(7, ge=1, le=365)
    # How long audit rows are kept; None: as long as jobs (job_expiration_days).
    audit_retention_days: int | None = Field(None, ge=1, le=3650)
    enable_multi_tenancy: bool = False
    schema_name: str = "craft_jobs"
    polling_interval_seconds: float = Field(15, ge=1, le=60)
    enable_detailed_logging: bool = False
    # Beyond the seed's list: what the engine needs to find jobs and bound input.
    job_modules: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Client filters for every job of the installation: "package.module:Name", comma-separated.
    client_filters: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_parameters_bytes: int = Field(65536, ge=1024, le=1048576)
    # A lost engine's jobs are rescued about server_timeout_seconds after its last heartbeat.
    heartbeat_interval_seconds: float = Field(2, ge=1, le=60)
    server_timeout_seconds: float = Field(10, ge=5, le=600)
    # How long a cancelled run (deleted, or its engine stopping) has to stop by itself.
    cancel_grace_seconds: float = Field(10, ge=0, le=600)
    # Every connection: connect within this, and a peer silent for about as long is gone.
    database_connect_timeout_seconds: float = Field(5, ge=1, le=60)
    database_statement_timeout_seconds: float = Field(30, ge=1, le=3600)
    data_dir: Path = Path(".craft-jobs")
    # The REST API's base URL as job runs reach it (http://host:port, without
    # /api): with it, a run may schedule jobs in its own tenant (context.scheduler).
    job_api_url: str | None = None
    # Runs in flight per tenant across all engines (None: no limit; 0 holds a
    # tenant's jobs); `tenant_concurrency_limits` overrides it per tenant.
    tenant_concurrency_limit: int | None = Field(None, ge=0, le=100000)
    tenant_concurrency_limits: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    # Slots of each engine that one tenant may not fill while another tenant
    # has had runs there in the last minute, so that a quiet tenant's job
    # starts at once beside another's backlog (engine/headroom.py); 0 lends
    # every slot to whichever tenant has work.
    tenant_headroom_slots: int = Field(1, ge=0, le=100)
    # Runs in flight per queue across all engines (a queue's quota), e.g. emails=5.
    queue_concurrency_limits: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)

    @field_validator("connection_string")
    @classmethod
    def _translate_seed_connection_string(cls, value: str | None) -> str | None:
        return None if value is None else to_libpq(value)

    @field_validator("schema_name")
    @classmethod
    def _schema_is_identifier(cls, value: str) -> str:
        if not SQL_IDENTIFIER.match(value):
            raise ValueError("must be a lower-case SQL identifier: letters, digits and _, at most 63")
        return value

    @field_validator("job_api_url")
    @classmethod
    def _api_url_is_http(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError("must be an http:// or https:// URL, for example http://craft-jobs-dashboard.jobs.svc")
        if value.endswith("/api"):
            raise ValueError("give the base URL, without /api")
        return value

    @field_validator("dashboard_path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/") or (len(value) > 1 and value.endswith("/")):
            raise ValueError("must start with / and not end with /")
        return value

    @field_validator("job_modules", "client_filters", mode="before")
    @classmethod
    def _split_modules(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("tenant_concurrency_limits", "queue_concurrency_limits", mode="before")
    @classmethod
    def _parse_limits(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        """`acme=5,globex=0` (the environment's form) or a mapping (a file's)."""
        if not isinstance(value, str):
            return value
        what = info.field_name.split("_")[0]
        limits = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, equals, number = part.rpartition("=")
            if not equals or not name.strip() or not number.strip().isdigit():
                raise ValueError(f"{part!r} is not {what}=limit (for example {_EXAMPLE_NAMES[what]}=5)")
            limits[name.strip()] = int(number)
        return limits

    @field_validator("tenant_concurrency_limits", "queue_concurrency_limits")
    @classmethod
    def _limits_in_range(cls, value: dict[str, int], info: pydantic.ValidationInfo) -> dict[str, int]:
        what = info.field_name.split("_")[0]
        for name, limit in value.items():
            if name == "*":  # the store's key for the default (tenant_concurrency_limit)
                raise ValueError(f"'*' is not a {what} name; tenant_concurrency_limit sets the default")
            if not 0 <= limit <= 100000:
                raise ValueError(f"the limit of {what} {name!r}, {limit}, is out of range 0-100000")
        return value

    @field_validator("client_filters")
    @classmethod
    def _filters_import(cls, value: list[str]) -> list[str]:
        from craft_jobs.client.filters import resolve_filter

        for path in value:
            resolve_filter(path)  # at start, not at the first job
        return value

    @property
    def notify_channel(self) -> str:
        return f"craft_jobs_{self.schema_name}"

    @property
    def limits_concurrency(self) -> bool:
        """Whether any tenant or queue has a concurrency limit (claims then take turns)."""
        return (self.tenant_concurrency_limit is not None or bool(self.tenant_concurrency_limits)
                or bool(self.queue_concurrency_limits))

    def tenant_limit(self, tenant_id: str) -> int | None:
        return self.tenant_concurrency_limits.get(tenant_id, self.tenant_concurrency_limit)

    @property
    def outage_after_seconds(self) -> float:
        """A server whose heartbeat is this late was cut off, and the others may have
        been too: it rescues nothing until it heartbeats again, and then waits a
        full server timeout (engine/heartbeat.py)."""
        return 2 * self.heartbeat_interval_seconds


def load_options(**overrides: Any) -> JobOptions:
    """Build options from explicit overrides, the environment and the options
    file, in that order of precedence; errors name the option and where it was set."""
    explicit = {k: v for k, v in overrides.items() if v is not None}
    file_path = os.environ.get(CONFIG_FILE_ENV, "").strip()
    from_file = read_options_file(Path(file_path), set(JobOptions.model_fields)) if file_path else {}
    in_environment = {key.upper() for key in os.environ}
    # Passed as arguments, the file's values would beat the environment: keep only those it does not set.
    file_values = {
        name: value for name, (_, value) in from_file.items()
        if name not in explicit and f"{ENV_PREFIX}{name.upper()}" not in in_environment
    }
    try:
        options = JobOptions(**{**file_values, **explicit})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "options"
        where = f"{from_file[name][0]} in {file_path}" if name in file_values else f"{ENV_PREFIX}{name.upper()}"
        raise OptionsError(f"{where} ({name})", _describe(first)) from exc
    except SettingsError as exc:
        raise OptionsError("options", str(exc)) from exc
    if options.server_timeout_seconds < HEARTBEATS_PER_TIMEOUT * options.heartbeat_interval_seconds:
        raise OptionsError(
            f"{ENV_PREFIX}SERVER_TIMEOUT_SECONDS (server_timeout_seconds)",
            f"{options.server_timeout_seconds:g} must be at least {HEARTBEATS_PER_TIMEOUT} times"
            f" heartbeat_interval_seconds ({options.heartbeat_interval_seconds:g})",
        )
    if options.mode is Mode.CLUSTER and not options.connection_string:
        raise OptionsError(
            f"{ENV_PREFIX}CONNECTION_STRING (connection_string)",
            "is required in cluster mode: a PostgreSQL URL such as postgresql://user@host/db",
        )
    return options


def _describe(error: dict[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    if isinstance(ctx.get("error"), ConnectionStringError):
        return str(ctx["error"])  # never the string itself: it holds the password
    if error["loc"] and error["loc"][0] == "client_filters" and "error" in ctx:
        return str(ctx["error"])  # it names the path at fault
    if error["type"] in ("greater_than_equal", "less_than_equal"):
        field = JobOptions.model_fields[str(error["loc"][0])]
        low = next((m.ge for m in field.metadata if getattr(m, "ge", None) is not None), None)
        high = next((m.le for m in field.metadata if getattr(m, "le", None) is not None), None)
        return f"{error['input']!r} is out of range {low}-{high}"
    if error["type"] == "extra_forbidden":
        return "is not a known option"
    message = str(ctx.get("error", error["msg"]))
    return f"{error.get('input')!r}: {message}"
