"""Run credentials: made from the claimed job alone, readable only with the
installation's key, dead once expired or altered."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from craft_jobs import job_tokens
from tests.unit.kube.test_manifest import claimed

KEY = "ab" * 32
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_a_credential_names_its_run_tenant_and_user_and_is_the_same_for_the_same_run():
    job = claimed(started_at=NOW, timeout_seconds=600)
    token = job_tokens.mint(KEY, job_tokens.grant_for(job))
    assert token == job_tokens.mint(KEY, job_tokens.grant_for(claimed(started_at=NOW, timeout_seconds=600)))
    grant = job_tokens.read(KEY, token, NOW)
    assert (grant.job_id, grant.run, grant.tenant_id, grant.user_id) == (42, 2, "acme", "user-a")
    assert grant.expires_at == NOW + job_tokens.START_SLACK + timedelta(seconds=600)
    assert grant.principal_name == "job:42"


def test_an_expired_altered_or_foreign_credential_is_refused():
    grant = job_tokens.grant_for(claimed(started_at=NOW))
    token = job_tokens.mint(KEY, grant)
    assert job_tokens.read(KEY, token, grant.expires_at) is None
    payload, signature = token.removeprefix(job_tokens.PREFIX).split(".")
    other_tenant = job_tokens.mint("cd" * 32, job_tokens.grant_for(claimed(started_at=NOW, tenant_id="globex")))
    forged = job_tokens.PREFIX + other_tenant.removeprefix(job_tokens.PREFIX).split(".")[0] + "." + signature
    for bad in (forged, token[:-2], job_tokens.PREFIX + payload, "cjrun1.", other_tenant):
        assert job_tokens.read(KEY, bad, NOW) is None, bad
    assert job_tokens.looks_like_run_token(token) and not job_tokens.looks_like_run_token("operator-token")
