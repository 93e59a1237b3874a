"""Dashboard fixtures: the real app over this test's database, reached over HTTP (httpx, ASGI).

Tokens come from a real tokens file; every role and tenant combination the
tests need is one line in it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from craft_jobs.client.scheduler import JobScheduler
from craft_jobs.dashboard.app import create_app
from craft_jobs.dashboard.settings import DashboardSettings
from craft_jobs.options import JobOptions
from craft_jobs.store.store import JobStore

TOKENS = {
    "operator": {"name": "ops-user", "token": "operator-token-0123456789", "role": "operator"},
    "viewer": {"name": "victor", "token": "viewer-token-0123456789", "role": "viewer"},
    "acme-operator": {"name": "ann", "token": "acme-operator-token-0123", "role": "operator", "tenants": ["acme"]},
    "acme-viewer": {"name": "al", "token": "acme-viewer-token-012345", "role": "viewer", "tenants": ["acme"]},
    "globex-operator": {"name": "gus", "token": "globex-operator-token-01", "role": "operator", "tenants": ["globex"]},
}


def bearer(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]['token']}"}


@pytest.fixture
def tokens_file(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"tokens": list(TOKENS.values())}))
    return path


@pytest.fixture
def scheduler(store, options) -> JobScheduler:
    return JobScheduler(store, options)


AppClient = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def make_client(store: JobStore, tokens_file) -> AsyncIterator[AppClient]:
    """Builds an app (options, settings) and an HTTP client for it."""
    clients: list[httpx.AsyncClient] = []

    def build(options: JobOptions | None = None, who: str | None = "operator", **settings) -> httpx.AsyncClient:
        settings.setdefault("auth_mode", "token")
        settings.setdefault("tokens_file", tokens_file)
        settings.setdefault("allowed_hosts", ["dashboard.test"])
        opts = options or store.options
        app = create_app(opts, store=JobStore(store.connector, opts, store.clock),
                         settings=DashboardSettings(**settings))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dashboard.test",
                                   headers=bearer(who) if who else {})
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(make_client) -> httpx.AsyncClient:
    return make_client()


@pytest.fixture
def tenant_options(options) -> JobOptions:
    return options.model_copy(update={"enable_multi_tenancy": True})
