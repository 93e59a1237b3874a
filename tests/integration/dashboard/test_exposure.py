"""What the dashboard shows to whom before any page: /metrics, the Host check, CSRF with mixed credentials."""

from __future__ import annotations

import pytest

from craft_jobs.dashboard.app import create_app
from craft_jobs.dashboard.settings import DashboardSettings
from craft_jobs.errors import OptionsError
from craft_jobs.states import JobState
from tests.integration.dashboard.conftest import TOKENS, bearer
from tests.integration.dashboard.factory import enqueue
from tests.integration.dashboard.test_metrics_and_pages import samples

METRICS_TOKEN = "prometheus-scrape-token-0123456789"


@pytest.fixture
def metrics_token_file(tmp_path):
    path = tmp_path / "metrics-token"
    path.write_text(METRICS_TOKEN + "\n")
    return path


async def test_metrics_need_credentials_by_default(make_client, store, metrics_token_file):
    anonymous = make_client(who=None)
    refused = await anonymous.get("/metrics")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert "craft_jobs_jobs" not in refused.text
    assert (await make_client(who=None, metrics_token_file=metrics_token_file).get(
        "/metrics", headers={"Authorization": "Bearer not-the-metrics-token-000"})).status_code == 401
    scraper = make_client(who=None, metrics_token_file=metrics_token_file)
    scraped = await scraper.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200 and ("craft_jobs_database_up", ()) in samples(scraped.text)
    # The metrics token opens /metrics and nothing else.
    assert (await scraper.get("/api/jobs", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).status_code == 401
    opened = make_client(who=None, public_metrics=True)
    assert (await opened.get("/metrics")).status_code == 200


def test_a_missing_metrics_token_file_fails_at_start(options, tmp_path):
    with pytest.raises(OptionsError) as caught:
        create_app(options, settings=DashboardSettings(auth_mode="none", metrics_token_file=tmp_path / "absent"))
    assert caught.value.field == "CRAFT_JOBS_DASHBOARD_METRICS_TOKEN_FILE (metrics_token_file)"


async def test_metrics_show_a_tenant_only_its_own_series(make_client, store, tenant_options, metrics_token_file):
    await enqueue(store, tenant_id="acme")
    await enqueue(store, tenant_id="globex")
    await enqueue(store, tenant_id="globex")
    ann = samples((await make_client(tenant_options, who="acme-operator").get("/metrics")).text)
    assert ann[("craft_jobs_tenant_jobs", (("state", "Enqueued"), ("tenant", "acme")))] == 1
    assert not [key for key in ann if ("tenant", "globex") in key[1]]
    # Installation-wide series add up every tenant's jobs: not for a tenant's eyes.
    assert not [key for key in ann if key[0] in ("craft_jobs_jobs", "craft_jobs_transitions_total")]
    scraper = make_client(tenant_options, who=None, metrics_token_file=metrics_token_file)
    everything = samples((await scraper.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).text)
    assert everything[("craft_jobs_jobs", (("state", "Enqueued"),))] == 3
    assert everything[("craft_jobs_tenant_jobs", (("state", "Enqueued"), ("tenant", "globex")))] == 2
    admin = samples((await make_client(tenant_options, who="operator").get("/metrics")).text)
    assert admin[("craft_jobs_tenant_jobs", (("state", "Enqueued"), ("tenant", "acme")))] == 1


async def test_only_configured_host_names_are_served(make_client, store):
    local = make_client(who=None, auth_mode="none", allowed_hosts=None)
    job_id = await enqueue(store)
    for host in ("127.0.0.1:8080", "localhost", "[::1]:8080", "LOCALHOST:1"):
        assert (await local.get("/api/jobs", headers={"host": host})).status_code == 200, host
    # A rebinding page: its own name now resolves to 127.0.0.1.
    for path in ("/api/jobs", "/jobs/jobs", "/metrics"):
        rebound = await local.get(path, headers={"host": "evil.example:8080"})
        assert rebound.status_code == 400 and rebound.json()["error"]["field"] == "Host", path
    deleted = await local.post(f"/api/jobs/{job_id}/delete", headers={"host": "evil.example", "X-Requested-By": "x"})
    assert deleted.status_code == 400 and (await store.get_job(job_id)).state is JobState.ENQUEUED
    # Without auth any token would do, so a token is no proof either.
    assert (await local.get("/api/jobs", headers={"host": "evil.example", "Authorization": "Bearer x"})).status_code == 400
    assert (await local.get("/healthz", headers={"host": "10.1.2.3:8080"})).status_code == 200
    named = make_client(who=None, auth_mode="none", allowed_hosts=["jobs.example.com"])
    assert (await named.get("/api/jobs", headers={"host": "jobs.example.com"})).status_code == 200
    assert (await named.get("/api/jobs", headers={"host": "127.0.0.1"})).status_code == 400
    assert (await make_client(who=None, auth_mode="none", allowed_hosts=["*"]).get(
        "/api/jobs", headers={"host": "anything.example"})).status_code == 200
    # A caller sending its own credential is no rebinding page (Prometheus scrapes by pod IP).
    tokens = make_client(who="viewer", allowed_hosts=["jobs.example.com"])
    assert (await tokens.get("/api/jobs", headers={"host": "10.1.2.3:8080"})).status_code == 200


def test_the_bind_address_is_accepted_by_default(options):
    settings = DashboardSettings(auth_mode="none")
    from craft_jobs.dashboard.settings import allowed_host_names

    assert allowed_host_names(settings, "192.168.1.5") == {"127.0.0.1", "localhost", "::1", "192.168.1.5"}
    assert allowed_host_names(settings, None) == {"127.0.0.1", "localhost", "::1"}


async def test_csrf_is_skipped_only_for_a_bearer_token_alone(make_client, store):
    job_id = await enqueue(store)
    browser = make_client(who=None)
    browser.cookies.set("craft_jobs_session", TOKENS["operator"]["token"])
    for header in ({"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Negotiate abc"},
                   {"X-Requested-By": "cli"}):
        forged = await browser.post(f"/api/jobs/{job_id}/delete", headers=header)
        assert forged.status_code == 403 and forged.json()["error"]["field"] == "csrf_token", header
    assert (await store.get_job(job_id)).state is JobState.ENQUEUED
    by_token = await browser.post(f"/api/jobs/{job_id}/delete", headers=bearer("operator"))
    assert by_token.status_code == 200 and (await store.get_job(job_id)).state is JobState.DELETED
