"""The chart installed into the local control plane, its operator run with the chart's own grants.

`helm install` creates the ServiceAccount, RBAC and webhook configurations;
the operator then runs out of the cluster (no kubelet can run its image here)
with a kubeconfig holding that ServiceAccount's token, so what it may do is
exactly what the chart grants, and the real API server calls its webhooks
over TLS at `webhooks.url`.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from craft_jobs.kube.api import GROUP, VERSION, KubeApiError
from craft_jobs.kube.names import ANNOTATION_CREATED_BY
from tests.e2e.conftest import LOCAL_CLUSTER
from tests.support.kube.client import CrClient

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "craft-jobs"
TOOLS = ROOT / ".tools" / "bin"
FINAL = ("Succeeded", "Failed")

pytestmark = pytest.mark.skipif(not LOCAL_CLUSTER, reason="installs the chart into the local control plane: make test-cluster")


def tool_binary(tool: str) -> str | None:
    """helm or kubectl: the repository's own (.tools), else the machine's."""
    return str(TOOLS / tool) if (TOOLS / tool).exists() else shutil.which(tool)


def run(plane, tool: str, *args: str, input: str | None = None) -> str:
    result = subprocess.run([tool_binary(tool), f"--kubeconfig={plane.kubeconfig}", *args], capture_output=True, text=True,
                            input=input, timeout=120)
    assert result.returncode == 0, f"{tool} {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture
def installed_chart(request, local_cluster, postgres_server, template_database, tmp_path):
    """The chart in a namespace of its own, scoped to it, with webhooks at an out-of-cluster URL.
    Parametrized indirectly, the parameter is values laid over these (top-level keys replaced)."""
    from tests.conftest import _scratch_database
    from tests.support.cluster.controlplane import free_port

    plane, session_operator = local_cluster
    namespace = f"cj-helm-{uuid.uuid4().hex[:6]}"
    webhook_port = free_port()
    certificate = plane.authority.serving_certificate(f"webhook-{namespace}", ["127.0.0.1"])
    cert_dir = tmp_path / "webhook"
    cert_dir.mkdir()
    shutil.copy(certificate.cert, cert_dir / "tls.crt")
    shutil.copy(certificate.key, cert_dir / "tls.key")
    databases = _scratch_database(postgres_server, "craft_jobs_helm", template_database)
    database = next(databases)
    run(plane, "kubectl", "create", "namespace", namespace)
    run(plane, "kubectl", "-n", namespace, "create", "secret", "generic", "cj-database",
        f"--from-literal=connection-string={database}")
    run(plane, "kubectl", "-n", namespace, "create", "secret", "tls", "webhook-cert",
        f"--cert={certificate.cert}", f"--key={certificate.key}")
    values = {
        "migrate": {"enabled": False}, "dashboard": {"enabled": False},
        "database": {"existingSecret": "cj-database"},
        "rbac": {"namespaces": [namespace]},
        "webhooks": {"enabled": True, "failurePolicy": "Fail", "url": f"https://127.0.0.1:{webhook_port}",
                     "certificate": {"existingSecret": "webhook-cert",
                                     "caBundle": base64.b64encode(plane.authority.pem).decode()}},
        **getattr(request, "param", {}),
    }
    values_file = tmp_path / "values.json"
    values_file.write_text(json.dumps(values))
    run(plane, "helm", "install", "cj", str(CHART), "-n", namespace, "-f", str(values_file))
    # One operator per namespace's resources: the session's steps aside meanwhile.
    session_operator.stop()
    try:
        yield plane, namespace, database, webhook_port, cert_dir
    finally:
        run(plane, "helm", "uninstall", "cj", "-n", namespace, "--wait")
        run(plane, "kubectl", "delete", "namespace", namespace, "--wait=false")
        session_operator.start()
        databases.close()


def component_account(plane, namespace: str, component: str) -> str:
    accounts = json.loads(run(plane, "kubectl", "-n", namespace, "get", "serviceaccounts",
                              "-l", f"app.kubernetes.io/component={component}", "-o", "json"))["items"]
    (account,) = accounts
    return account["metadata"]["name"]


def account_token(plane, namespace: str, account: str) -> str:
    return run(plane, "kubectl", "-n", namespace, "create", "token", account, "--duration=1h").strip()


def start_chart_operator(installed_chart, tmp_path):
    """The operator with the chart's ServiceAccount token, serving the chart's webhooks."""
    from tests.support.cluster.operatorprocess import OperatorProcess

    plane, namespace, database, webhook_port, cert_dir = installed_chart
    account = component_account(plane, namespace, "operator")
    token = account_token(plane, namespace, account)
    kubeconfig = plane.write_token_kubeconfig(tmp_path / "operator.kubeconfig", account, token, namespace)
    return OperatorProcess(kubeconfig, database, tmp_path / "operator.log", env={
        "CRAFT_JOBS_NAMESPACES": namespace, "CRAFT_JOBS_WEBHOOK_ENABLED": "true", "CRAFT_JOBS_ENABLE_MULTI_TENANCY": "true",
        "CRAFT_JOBS_WEBHOOK_PORT": str(webhook_port), "CRAFT_JOBS_WEBHOOK_CERT_DIR": str(cert_dir)}).start()


async def test_the_chart_installs_and_its_operator_runs_with_the_charts_own_grants(installed_chart, tmp_path):
    from tests.support.cluster.controlplane import api_from_kubeconfig

    plane, namespace, database, webhook_port, cert_dir = installed_chart
    operator = start_chart_operator(installed_chart, tmp_path)
    api = api_from_kubeconfig(plane.kubeconfig, "craft-jobs-e2e")
    crs = CrClient(api, namespace)
    try:
        # A job runs; the mutating webhook, called over TLS, recorded who asked.
        created = await crs.create("BackgroundJob", "hello", {"jobType": "hello"})
        assert created["metadata"]["annotations"][ANNOTATION_CREATED_BY] == "craft-jobs-admin"
        body = await crs.wait_phase("BackgroundJob", "hello", "Succeeded", timeout=90)
        assert body["status"]["attempts"] == 1

        # The validating webhook refuses a bad spec with the field named.
        with pytest.raises(KubeApiError) as refused:
            await crs.create("BackgroundJob", "bad", {"jobType": "no-such-job-type"})
        assert refused.value.status == 422 and "spec.jobType" in refused.value.message

        # Without the one grant to create Secrets, a run fails and says so.
        role = json.loads(run(plane, "kubectl", "-n", namespace, "get", "role",
                              "-l", "app.kubernetes.io/component=operator", "-o", "json"))["items"][0]
        rules = [rule for rule in role["rules"] if rule.get("resources") != ["secrets"]]
        assert len(rules) == len(role["rules"]) - 1
        run(plane, "kubectl", "-n", namespace, "patch", "role", role["metadata"]["name"], "--type=json",
            "-p", json.dumps([{"op": "replace", "path": "/rules", "value": rules}]))
        await crs.create("BackgroundJob", "denied", {"jobType": "hello", "retry": {"maxAttempts": 0}})
        body = await crs.wait_phase("BackgroundJob", "denied", "Failed", timeout=90)
        message = body["status"]["lastError"]["message"]
        assert "403" in message and "secrets" in message and "forbidden" in message, message
    finally:
        operator.stop()
        api.close()


def kubectl_as(plane, user: str, namespace: str, *args: str, manifest: dict | None = None) -> subprocess.CompletedProcess:
    """kubectl impersonating `user` (the admin may): the API server's userInfo is then that user's."""
    return subprocess.run([tool_binary("kubectl"), f"--kubeconfig={plane.kubeconfig}", f"--as={user}", "-n", namespace, *args],
                          capture_output=True, text=True, timeout=120, input=json.dumps(manifest) if manifest else None)


def background_job(name: str, annotations: dict | None = None, spec: dict | None = None) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "BackgroundJob",
            "metadata": {"name": name, "annotations": annotations or {}}, "spec": spec or {"jobType": "hello"}}


async def test_the_webhooks_take_the_user_from_the_kubernetes_request_and_refuse_a_claimed_one(installed_chart, tmp_path):
    """Issue 13's identity, with the real API server's userInfo and SubjectAccessReview."""
    import psycopg

    from craft_jobs.kube.names import ANNOTATION_CHANGED_BY
    from tests.support.cluster.controlplane import api_from_kubeconfig

    plane, namespace, database, _, _ = installed_chart
    run(plane, "kubectl", "-n", namespace, "create", "role", "backgroundjob-editor",
        "--verb=get,list,watch,create,update,patch", f"--resource=backgroundjobs.{GROUP}")
    run(plane, "kubectl", "-n", namespace, "create", "rolebinding", "alice-edits",
        "--role=backgroundjob-editor", "--user=alice")
    operator = start_chart_operator(installed_chart, tmp_path)
    api = api_from_kubeconfig(plane.kubeconfig, "craft-jobs-e2e")
    crs = CrClient(api, namespace)
    try:
        # The pod's own context and environment carry the tenant (the namespace: namespaced
        # RBAC reads no namespace labels) and the user the API server authenticated.
        expects = {"jobType": "kube-expects-context", "parameters": {"tenant": namespace, "user": "alice"}}
        made = kubectl_as(plane, "alice", namespace, "create", "-f", "-", manifest=background_job("by-alice", spec=expects))
        assert made.returncode == 0, made.stderr
        body = await crs.wait_for("BackgroundJob", "by-alice", lambda b: (b.get("status") or {}).get("phase") in FINAL,
                                  timeout=90)
        assert body["status"]["phase"] == "Succeeded", body["status"].get("lastError")
        annotations = body["metadata"]["annotations"]
        assert annotations[ANNOTATION_CREATED_BY] == annotations[ANNOTATION_CHANGED_BY] == "alice"
        with psycopg.connect(database, autocommit=True) as conn:
            (user_id,) = conn.execute("SELECT user_id FROM craft_jobs.jobs WHERE cr_name = 'by-alice'").fetchone()
        assert user_id == "alice" and body["status"]["tenant"] == namespace

        # Naming another creator needs the right to impersonate that user: alice has none.
        claimed = kubectl_as(plane, "alice", namespace, "create", "-f", "-",
                             manifest=background_job("claims-bob", {ANNOTATION_CREATED_BY: "bob"}))
        assert claimed.returncode != 0 and "may not impersonate" in claimed.stderr, claimed.stderr
        assert await crs.get("BackgroundJob", "claims-bob") is None
        rewritten = kubectl_as(plane, "alice", namespace, "annotate", "--overwrite", "backgroundjob", "by-alice",
                               f"{ANNOTATION_CREATED_BY}=bob")
        assert rewritten.returncode != 0 and "may not impersonate" in rewritten.stderr, rewritten.stderr
        assert (await crs.get("BackgroundJob", "by-alice"))["metadata"]["annotations"][ANNOTATION_CREATED_BY] == "alice"

        # The admin may impersonate, so its claim stands; the request's user is still recorded as the changer.
        admins = await crs.create("BackgroundJob", "for-bob", {"jobType": "hello"}, annotations={ANNOTATION_CREATED_BY: "bob"})
        assert admins["metadata"]["annotations"][ANNOTATION_CREATED_BY] == "bob"
        assert admins["metadata"]["annotations"][ANNOTATION_CHANGED_BY] == "craft-jobs-admin"
    finally:
        operator.stop()
        api.close()


KUBERNETES_AUTH = {"dashboard": {"enabled": True, "auth": {"mode": "kubernetes"}}}


@pytest.mark.parametrize("installed_chart", [KUBERNETES_AUTH], indirect=True)
async def test_the_dashboard_checks_kubernetes_tokens_and_scopes_each_user_to_its_namespaces(installed_chart, tmp_path):
    """Issue 13 on the dashboard, with the real API server's TokenReview and
    SubjectAccessReview asked with the chart's own dashboard grants: each tenant is a
    namespace, `list` there makes a viewer of it, `update` an operator."""
    import httpx

    from craft_jobs.client import JobScheduler
    from craft_jobs.options import load_options
    from tests.support.cluster.operatorprocess import DashboardProcess

    plane, namespace, database, _, _ = installed_chart
    elsewhere = f"{namespace}-other"  # another tenant's namespace: nobody here has a grant in it
    options = load_options(connection_string=database, mode="cluster", enable_multi_tenancy=True)
    scheduler = await JobScheduler.connect(options)
    try:
        ours = await scheduler.schedule("hello", {"name": "ours"}, tenant_id=namespace)
        theirs = await scheduler.schedule("hello", {"name": "theirs"}, tenant_id=elsewhere)
    finally:
        await scheduler.close()
    for user, verbs in (("viewer", "get,list"), ("operator", "get,list,update")):
        run(plane, "kubectl", "-n", namespace, "create", "serviceaccount", user)
        run(plane, "kubectl", "-n", namespace, "create", "role", f"jobs-{user}", f"--verb={verbs}",
            f"--resource=backgroundjobs.{GROUP}")
        run(plane, "kubectl", "-n", namespace, "create", "rolebinding", f"jobs-{user}", f"--role=jobs-{user}",
            f"--serviceaccount={namespace}:{user}")
    bearer = {user: {"Authorization": f"Bearer {account_token(plane, namespace, user)}"} for user in ("viewer", "operator")}

    account = component_account(plane, namespace, "dashboard")
    kubeconfig = plane.write_token_kubeconfig(tmp_path / "dashboard.kubeconfig", account,
                                              account_token(plane, namespace, account), namespace)
    dashboard = DashboardProcess(kubeconfig, database, tmp_path / "dashboard.log", env={
        "KUBECONFIG": str(kubeconfig), "CRAFT_JOBS_DASHBOARD_AUTH_MODE": "kubernetes",
        "CRAFT_JOBS_ENABLE_MULTI_TENANCY": "true"}).start()
    try:
        async with httpx.AsyncClient(base_url=dashboard.url, timeout=30) as http:
            for user in ("viewer", "operator"):
                listed = await http.get("/api/jobs", headers=bearer[user])
                assert listed.status_code == 200, listed.text
                assert [j["id"] for j in listed.json()["items"]] == [ours], user
                assert (await http.get(f"/api/jobs/{theirs}", headers=bearer[user])).status_code == 404, user
            refused = await http.post(f"/api/jobs/{ours}/requeue", headers=bearer["viewer"])
            assert refused.status_code == 403, refused.text
            assert (await http.post(f"/api/jobs/{theirs}/requeue", headers=bearer["operator"])).status_code == 404
            requeued = await http.post(f"/api/jobs/{ours}/requeue", headers=bearer["operator"])
            assert requeued.status_code == 200, requeued.text
            forged = await http.get("/api/jobs", headers={"Authorization": "Bearer not-a-kubernetes-token"})
            assert forged.status_code == 401 and "backgroundjobs" in forged.json()["error"]["message"]
            assert (await http.get("/api/jobs")).status_code == 401
    finally:
        dashboard.stop()
