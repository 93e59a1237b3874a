"""Admission webhooks: operator Service 443 -> 9443, matching CA and certificate."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from .conftest import NAMESPACE, Manifest, of_kind, one, render

HOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


def test_no_webhooks_by_default() -> None:
    manifests = render()
    for kind in HOOK_KINDS:
        assert of_kind(manifests, kind) == []
    assert not [s for s in of_kind(manifests, "Service") if s["metadata"]["name"].endswith("-webhook")]


@pytest.mark.parametrize("values", ["webhooks.yaml", "webhooks-existing-certificate.yaml", "namespaced-rbac.yaml"])
def test_webhooks_point_at_the_operator(values: str) -> None:
    manifests = render(values)
    service = one(manifests, "Service", "-webhook")
    (port,) = service["spec"]["ports"]
    assert port["port"] == 443
    operator = one(manifests, "Deployment", "-operator")
    pod = operator["spec"]["template"]["spec"]
    assert service["spec"]["selector"].items() <= operator["spec"]["template"]["metadata"]["labels"].items()
    (c,) = pod["containers"]
    assert {p["name"]: p["containerPort"] for p in c["ports"]}[port["targetPort"]] == 9443
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["CRAFT_JOBS_WEBHOOK_ENABLED"] == "true"
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/etc/craft-jobs/webhook"]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]

    paths = {}
    for kind in HOOK_KINDS:
        (hook,) = one(manifests, kind)["webhooks"]
        client = hook["clientConfig"]
        assert client["service"]["name"] == service["metadata"]["name"]
        assert client["service"]["namespace"] == NAMESPACE
        assert client["service"]["port"] == 443
        assert hook["sideEffects"] == "None" and hook["admissionReviewVersions"] == ["v1"]
        (rule,) = hook["rules"]
        assert rule["apiGroups"] == ["jobs.craft.dev"] and rule["apiVersions"] == ["v1alpha1"]
        assert sorted(rule["resources"]) == ["backgroundjobs", "recurringjobs"]
        assert sorted(rule["operations"]) == ["CREATE", "UPDATE"]
        assert base64.b64decode(client["caBundle"]).startswith(b"-----BEGIN CERTIFICATE-----")
        paths[kind] = client["service"]["path"]
    assert paths == {"MutatingWebhookConfiguration": "/mutate", "ValidatingWebhookConfiguration": "/validate"}
    if values == "webhooks-existing-certificate.yaml":
        assert volume["secret"]["secretName"] == "craft-jobs-webhook-cert"
        assert not [s for s in of_kind(manifests, "Secret") if s["type"] == "kubernetes.io/tls"]
    else:
        assert one(manifests, "Secret", "-webhook-tls")["metadata"]["name"] == volume["secret"]["secretName"]


def pem(tmp_path: Path, name: str, data: str) -> Path:
    path = tmp_path / name
    path.write_bytes(base64.b64decode(data))
    return path


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)


def test_generated_certificate_is_signed_by_the_ca_bundle_for_the_service(tmp_path: Path) -> None:
    manifests: list[Manifest] = render("webhooks.yaml")
    secret = one(manifests, "Secret", "-webhook-tls")
    assert secret["type"] == "kubernetes.io/tls"
    assert set(secret["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    for kind in HOOK_KINDS:
        (hook,) = one(manifests, kind)["webhooks"]
        assert hook["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]
        assert hook["failurePolicy"] == "Ignore" and hook["timeoutSeconds"] == 5
    ca = pem(tmp_path, "ca.crt", secret["data"]["ca.crt"])
    cert = pem(tmp_path, "tls.crt", secret["data"]["tls.crt"])
    key = pem(tmp_path, "tls.key", secret["data"]["tls.key"])
    if openssl("version").returncode != 0:
        pytest.skip("openssl is not installed")
    verified = openssl("verify", "-CAfile", str(ca), str(cert))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    san = openssl("x509", "-in", str(cert), "-noout", "-ext", "subjectAltName").stdout
    assert f"DNS:cj-craft-jobs-webhook.{NAMESPACE}.svc" in san
    modulus_cert = openssl("x509", "-in", str(cert), "-noout", "-pubkey").stdout
    modulus_key = openssl("pkey", "-in", str(key), "-pubout").stdout
    assert modulus_cert and modulus_cert == modulus_key


def test_an_out_of_cluster_webhook_server_is_called_by_url() -> None:
    manifests = render("webhooks-existing-certificate.yaml", "webhooks.url=https://127.0.0.1:9443/")
    for kind, path in zip(HOOK_KINDS, ("/mutate", "/validate")):
        (hook,) = one(manifests, kind)["webhooks"]
        assert hook["clientConfig"]["url"] == f"https://127.0.0.1:9443{path}"
        assert "service" not in hook["clientConfig"]


def test_a_webhook_url_that_is_not_https_is_refused(render_with) -> None:
    result = render_with({"webhooks": {"enabled": True, "url": "http://127.0.0.1:9443"}})
    assert result.returncode != 0
    assert "webhooks.url" in result.stderr, result.stderr
