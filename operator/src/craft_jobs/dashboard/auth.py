"""Who is calling, and what they may do: token, kubernetes and none modes.

A Principal carries a role (viewer < operator) and, with multi-tenancy, the
tenants granted to it. Credentials come from `Authorization: Bearer ...` or,
for the pages, the session cookie set by the login form.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, Protocol

import pydantic

from craft_jobs.errors import OptionsError
from craft_jobs.job_tokens import RunGrant
from craft_jobs.optionsfile import read_settings_file


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role  # the highest role held; with tenants, per-tenant roles may be lower
    tenants: Mapping[str, Role] | None = None  # None: every tenant, with `role`
    run: RunGrant | None = None  # a running job's credential (dashboard/run_auth.py)

    def role_in(self, tenant: str) -> Role | None:
        if self.tenants is None:
            return self.role
        return self.tenants.get(tenant)

    def tenants_with(self, role: Role) -> list[str] | None:
        """Tenants where this principal holds at least `role`; None means all."""
        if self.tenants is None:
            return None if self.role >= role else []
        return sorted(t for t, r in self.tenants.items() if r >= role)


class Authenticator(Protocol):
    async def authenticate(self, token: str | None) -> Principal | None:
        """The principal behind a bearer token, or None when it is not valid."""


class NoAuth:
    """`none` mode: every caller is an operator of every tenant (loopback only)."""

    async def authenticate(self, token: str | None) -> Principal | None:
        return Principal("local", Role.OPERATOR)


# -- token mode -----------------------------------------------------------------


class TokenEntry(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    name: str = pydantic.Field(min_length=1)
    # The token itself, or its SHA-256 in hex, so the file need not hold secrets in clear.
    token: str | None = pydantic.Field(None, min_length=16)
    sha256: str | None = pydantic.Field(None, pattern=r"^[0-9a-f]{64}$")
    role: Role
    tenants: list[str] = pydantic.Field(default_factory=lambda: ["*"])

    @pydantic.field_validator("role", mode="before")
    @classmethod
    def _role_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return Role[value.upper()]
            except KeyError:
                raise ValueError("must be viewer or operator") from None
        return value

    @pydantic.model_validator(mode="after")
    def _one_secret(self) -> TokenEntry:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError("give exactly one of token or sha256")
        return self

    def digest(self) -> bytes:
        return bytes.fromhex(self.sha256) if self.sha256 else hashlib.sha256(self.token.encode()).digest()

    def principal(self) -> Principal:
        if "*" in self.tenants:
            return Principal(self.name, self.role)
        return Principal(self.name, self.role, {t: self.role for t in self.tenants})


class TokenFile(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    tokens: list[TokenEntry]


def load_token_file(path: Path) -> list[TokenEntry]:
    field = f"CRAFT_JOBS_DASHBOARD_TOKENS_FILE ({path})"
    data = read_settings_file(path, field)
    try:
        return TokenFile.model_validate(data).tokens
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise OptionsError(field, f"{where}: {first['msg']}") from exc


class TokenAuth:
    """Bearer tokens from a file (a mounted Secret); re-read when the file changes."""

    def __init__(self, path: Path):
        self.path = path
        self._mtime: float | None = None
        self._entries: list[tuple[bytes, Principal]] = []
        self._reload()

    def _reload(self) -> None:
        mtime = self.path.stat().st_mtime if self.path.exists() else None
        if mtime is None or mtime != self._mtime:  # a missing file is an error, every time
            self._entries = [(e.digest(), e.principal()) for e in load_token_file(self.path)]
            self._mtime = mtime

    async def authenticate(self, token: str | None) -> Principal | None:
        if not token:
            return None
        self._reload()
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for expected, principal in self._entries:  # no early exit: constant time per entry
            if hmac.compare_digest(expected, digest):
                found = principal
        return found


# -- kubernetes mode ---------------------------------------------------------------

GROUP = "jobs.craft.dev"
RESOURCE = "backgroundjobs"
VIEW_VERB = "list"
OPERATE_VERB = "update"


class KubernetesAuth:
    """TokenReview authenticates; SubjectAccessReviews on backgroundjobs authorize.

    `list` grants viewer and `update` grants operator. With multi-tenancy each
    tenant is a namespace and is asked about separately.
    """

    def __init__(
        self,
        api_client_factory: Callable[[], Any],
        *,
        namespace: str = "",
        tenants: Callable[[], Awaitable[list[str]]] | None = None,
        cache_seconds: float = 30,
    ):
        self._api_client_factory = api_client_factory
        self.namespace = namespace
        self._tenants = tenants
        self.cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}

    async def authenticate(self, token: str | None) -> Principal | None:
        if not token:
            return None
        key = hashlib.sha256(token.encode()).digest()
        cached = self._cache.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        tenants = await self._tenants() if self._tenants else None
        principal = await asyncio.to_thread(self._review, token, tenants)
        self._cache[key] = (time.monotonic() + self.cache_seconds, principal)
        if len(self._cache) > 10_000:
            self._cache.clear()
        return principal

    def _review(self, token: str, tenants: list[str] | None) -> Principal | None:
        from kubernetes import client

        with self._api_client_factory() as api:
            review = client.AuthenticationV1Api(api).create_token_review(
                client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token))
            )
            status = review.status
            if not status or not status.authenticated or not status.user:
                return None
            user = status.user
            authz = client.AuthorizationV1Api(api)

            def role_in(namespace: str) -> Role | None:
                for verb, role in ((OPERATE_VERB, Role.OPERATOR), (VIEW_VERB, Role.VIEWER)):
                    spec = client.V1SubjectAccessReviewSpec(
                        user=user.username, groups=user.groups, uid=user.uid, extra=user.extra,
                        resource_attributes=client.V1ResourceAttributes(
                            group=GROUP, resource=RESOURCE, verb=verb, namespace=namespace or None
                        ),
                    )
                    answer = authz.create_subject_access_review(client.V1SubjectAccessReview(spec=spec))
                    if answer.status and answer.status.allowed:
                        return role
                return None

            if tenants is None:
                role = role_in(self.namespace)
                return None if role is None else Principal(user.username, role)
            granted = {t: r for t in tenants if (r := role_in(t)) is not None}
            if not granted:
                return None
            return Principal(user.username, max(granted.values()), granted)


def default_kubernetes_client() -> Any:
    """An ApiClient from the in-cluster service account, else the local kubeconfig."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()
