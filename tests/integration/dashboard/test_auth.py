"""Auth per mode and role, CSRF, and tenants: a user sees and touches only their own."""

from __future__ import annotations

import json
import re

import pytest

from craft_jobs.dashboard.app import create_app, serve
from craft_jobs.dashboard.auth import TokenAuth
from craft_jobs.dashboard.settings import DashboardSettings, check_bind
from craft_jobs.errors import OptionsError
from craft_jobs.states import JobState
from tests.integration.dashboard.conftest import TOKENS, bearer
from tests.integration.dashboard.factory import enqueue


async def test_no_or_bad_token_is_refused(make_client, store):
    anonymous = make_client(who=None)
    response = await anonymous.get("/api/jobs")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthenticated"
    wrong = await anonymous.get("/api/jobs", headers={"Authorization": "Bearer not-a-real-token-000"})
    assert wrong.status_code == 401
    page = await anonymous.get("/jobs/jobs?state=Failed")
    assert page.status_code == 303 and page.headers["location"] == "/jobs/login?next=/jobs/jobs%3Fstate%3DFailed"
    assert (await anonymous.get("/healthz")).status_code == 200


async def test_viewer_reads_but_cannot_act(make_client, store):
    job_id = await enqueue(store)
    viewer = make_client(who="viewer")
    assert (await viewer.get(f"/api/jobs/{job_id}")).status_code == 200
    for method, url in (("POST", f"/api/jobs/{job_id}/requeue"), ("DELETE", f"/api/jobs/{job_id}"),
                        ("POST", "/api/jobs/bulk")):
        response = await viewer.request(method, url, json={"action": "delete", "ids": [job_id]})
        assert response.status_code == 403, (url, response.text)
        assert "operator role" in response.json()["error"]["message"]
    assert (await store.get_job(job_id)).state is JobState.ENQUEUED


async def test_pages_log_in_with_a_cookie_and_actions_need_the_csrf_token(make_client, store):
    job_id = await enqueue(store)
    browser = make_client(who=None)
    login_page = await browser.get("/jobs/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text).group(1)
    refused = await browser.post("/jobs/login", data={"token": "wrong-token-0000000000", "csrf_token": csrf})
    assert refused.status_code == 401 and "not valid" in refused.text
    logged_in = await browser.post("/jobs/login", data={"token": TOKENS["operator"]["token"], "csrf_token": csrf,
                                                        "next": "/jobs/jobs"})
    assert logged_in.status_code == 303 and logged_in.headers["location"] == "/jobs/jobs"
    # A cross-site form post carries the cookies but cannot know the token.
    forged = await browser.post(f"/jobs/jobs/{job_id}/delete", data={})
    assert forged.status_code == 403 and forged.json()["error"]["field"] == "csrf_token"
    forged_api = await browser.post(f"/api/jobs/{job_id}/delete")
    assert forged_api.status_code == 403
    assert (await store.get_job(job_id)).state is JobState.ENQUEUED
    done = await browser.post(f"/jobs/jobs/{job_id}/delete", data={"csrf_token": csrf})
    assert done.status_code == 303 and "notice=" in done.headers["location"]
    assert (await store.get_job(job_id)).state is JobState.DELETED
    # An open redirect after login is refused.
    elsewhere = await browser.post("/jobs/login", data={"token": TOKENS["operator"]["token"], "csrf_token": csrf,
                                                        "next": "https://evil.example/"})
    assert elsewhere.headers["location"] == "/jobs/"


async def test_a_tenant_sees_and_touches_only_its_own_jobs(make_client, store, tenant_options):
    mine = await enqueue(store, tenant_id="acme", parameters={"who": "acme"})
    theirs = await enqueue(store, tenant_id="globex", parameters={"who": "globex"})
    ann = make_client(tenant_options, who="acme-operator")

    listed = (await ann.get("/api/jobs")).json()["items"]
    assert [j["id"] for j in listed] == [mine]
    assert (await ann.get("/api/stats/counts")).json()["Enqueued"] == 1
    assert (await ann.get("/api/stats/overview")).json()["counts"]["Enqueued"] == 1
    other_tenant = await ann.get("/api/jobs", params={"tenant": "globex"})
    assert other_tenant.status_code == 403 and other_tenant.json()["error"]["field"] == "tenant"

    for method, url in (("GET", f"/api/jobs/{theirs}"), ("POST", f"/api/jobs/{theirs}/requeue"),
                        ("POST", f"/api/jobs/{theirs}/delete"), ("DELETE", f"/api/jobs/{theirs}")):
        response = await ann.request(method, url)
        assert response.status_code == 404, (method, url, response.text)
    bulk = (await ann.post("/api/jobs/bulk", json={"action": "delete", "ids": [mine, theirs]})).json()
    assert bulk["done"] == [mine] and bulk["not_found"] == [theirs]
    assert (await store.get_job(theirs)).state is JobState.ENQUEUED

    page = await ann.get(f"/jobs/jobs/{theirs}", headers={"accept": "text/html"})
    assert page.status_code == 404 and "globex" not in page.text
    jobs_page = await ann.get("/jobs/jobs", headers={"accept": "text/html"})
    assert f"#{mine}" in jobs_page.text and f"#{theirs}" not in jobs_page.text


async def test_scheduling_is_bound_to_the_callers_tenants(make_client, store, tenant_options):
    await store.upsert_job_types([{"job_type": "t", "parameters_schema": {"type": "object"}}])
    ann = make_client(tenant_options, who="acme-operator")
    own = await ann.post("/api/jobs", json={"job_type": "t"})
    assert own.status_code == 201
    assert (await store.get_job(own.json()["id"])).tenant_id == "acme"
    foreign = await ann.post("/api/jobs", json={"job_type": "t", "tenant_id": "globex"})
    assert foreign.status_code == 403 and foreign.json()["error"]["field"] == "tenant_id"
    global_operator = make_client(tenant_options, who="operator")
    unsaid = await global_operator.post("/api/jobs", json={"job_type": "t"})
    assert unsaid.status_code == 422 and unsaid.json()["error"]["field"] == "tenant_id"
    al = make_client(tenant_options, who="acme-viewer")
    assert (await al.post(f"/api/jobs/{own.json()['id']}/requeue")).status_code == 403


async def test_recurring_jobs_of_another_tenant_are_invisible(make_client, store, tenant_options):
    await store.upsert_job_types([{"job_type": "t", "parameters_schema": {"type": "object"}}])
    gus = make_client(tenant_options, who="globex-operator")
    assert (await gus.put("/api/recurring/globex-nightly", json={"job_type": "t", "cron": "0 3 * * *"})).status_code == 200
    ann = make_client(tenant_options, who="acme-operator")
    assert (await ann.get("/api/recurring")).json() == {"items": [], "next_before_id": None}
    assert (await ann.get("/api/recurring/globex-nightly")).status_code == 404
    for action in ("trigger", "pause", "resume"):
        assert (await ann.post(f"/api/recurring/globex-nightly/{action}")).status_code == 404
    assert (await ann.delete("/api/recurring/globex-nightly")).status_code == 404
    # Ids are per tenant: the same id makes acme's own schedule and leaves globex's alone.
    own = await ann.put("/api/recurring/globex-nightly", json={"job_type": "t", "cron": "* * * * *"})
    assert own.status_code == 200 and own.json()["tenant_id"] == "acme"
    kept = await store.get_recurring("globex-nightly", "globex")
    assert kept.cron == "0 3 * * *" and not kept.paused


async def test_none_mode_needs_no_token_and_refuses_to_bind_beyond_loopback(make_client, store, options):
    local = make_client(who=None, auth_mode="none")
    assert (await local.get("/api/jobs")).status_code == 200
    job_id = await enqueue(store)
    # Without credentials a state change still needs a header no cross-site form can send.
    assert (await local.post(f"/api/jobs/{job_id}/delete")).status_code == 403
    assert (await local.post(f"/api/jobs/{job_id}/delete", headers={"X-Requested-By": "cli"})).status_code == 200
    settings = DashboardSettings(auth_mode="none")
    for host in ("127.0.0.1", "::1", "localhost"):
        check_bind(settings, host)
    for host in ("0.0.0.0", "::", "10.1.2.3"):
        with pytest.raises(OptionsError, match="refuses to listen") as caught:
            check_bind(settings, host)
        assert caught.value.field == "CRAFT_JOBS_DASHBOARD_AUTH_MODE (auth_mode)"
    with pytest.raises(OptionsError, match="0.0.0.0"):
        await serve(options, "0.0.0.0", 1, settings=settings)


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CRAFT_JOBS_DASHBOARD_AUTH_MODE", "kubernetes")
    monkeypatch.setenv("CRAFT_JOBS_DASHBOARD_TOKENS_FILE", str(tmp_path / "t.yaml"))
    settings = DashboardSettings()
    assert settings.auth_mode.value == "kubernetes" and settings.tokens_file == tmp_path / "t.yaml"


def test_token_files_are_checked_and_name_the_problem(tmp_path, options):
    with pytest.raises(OptionsError, match="TOKENS_FILE.*required"):
        create_app(options, settings=DashboardSettings(auth_mode="token"))
    with pytest.raises(OptionsError, match="cannot be read"):
        TokenAuth(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tokens:\n  - name: x\n    token: aaaaaaaaaaaaaaaaaaaa\n    role: admin\n")
    with pytest.raises(OptionsError, match=r"tokens\.0\.role.*viewer or operator"):
        TokenAuth(bad)
    short = tmp_path / "short.yaml"
    short.write_text(json.dumps({"tokens": [{"name": "x", "token": "short", "role": "viewer"}]}))
    with pytest.raises(OptionsError, match=r"tokens\.0\.token"):
        TokenAuth(short)


async def test_token_file_accepts_hashes_and_is_reread(tmp_path):
    import hashlib
    import os

    path = tmp_path / "tokens.yaml"
    digest = hashlib.sha256(b"hashed-token-0123456789").hexdigest()
    path.write_text(f"tokens:\n  - name: hashed\n    sha256: {digest}\n    role: viewer\n    tenants: [acme]\n")
    auth = TokenAuth(path)
    principal = await auth.authenticate("hashed-token-0123456789")
    assert principal.name == "hashed" and principal.tenants == {"acme": 1}
    path.write_text("tokens: []\n")
    os.utime(path, (1, 1))
    assert await auth.authenticate("hashed-token-0123456789") is None


async def test_bearer_header_wins_over_a_stale_cookie(make_client, store):
    client = make_client(who="viewer")
    client.cookies.set("craft_jobs_session", TOKENS["operator"]["token"])
    job_id = await enqueue(store)
    assert (await client.post(f"/api/jobs/{job_id}/requeue")).status_code == 403
    assert (await client.post(f"/api/jobs/{job_id}/requeue", headers=bearer("operator"))).status_code == 200
