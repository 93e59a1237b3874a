"""Least privilege: exact RBAC grants, restricted pods, no secret in plain text."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from .conftest import NAMESPACE, VALUE_FILES, Manifest, of_kind, one, render, render_text

Grant = tuple[str, str, str]  # (apiGroup, resource, verb)

OPERATOR_NAMESPACED_GRANTS: set[Grant] = {
    *{("jobs.craft.dev", r, v) for r in ("backgroundjobs", "recurringjobs") for v in ("get", "list", "watch", "patch")},
    ("jobs.craft.dev", "backgroundjobs/status", "patch"),
    ("jobs.craft.dev", "recurringjobs/status", "patch"),
    *{("batch", "jobs", v) for v in ("create", "get", "list", "watch", "delete", "patch")},
    *{("", "pods", v) for v in ("get", "list", "watch")},
    # get: a Secret whose name is taken is checked to be the run's own.
    ("", "secrets", "create"),
    ("", "secrets", "get"),
    # get and patch aggregate our Events; list reads the Job controller's on a pod that never started.
    ("", "events", "create"),
    ("", "events", "get"),
    ("", "events", "patch"),
    ("", "events", "list"),
}
# The webhooks ask whether a requester naming another creator may impersonate that user.
REVIEW_GRANT: Grant = ("authorization.k8s.io", "subjectaccessreviews", "create")
NAMESPACE_GRANTS: set[Grant] = {("", "namespaces", v) for v in ("get", "list", "watch")}
DASHBOARD_KUBERNETES_AUTH_GRANTS: set[Grant] = {
    ("authentication.k8s.io", "tokenreviews", "create"),
    ("authorization.k8s.io", "subjectaccessreviews", "create"),
}


def grants(role: Manifest) -> set[Grant]:
    out = set()
    for rule in role["rules"]:
        assert not rule.get("resourceNames") and not rule.get("nonResourceURLs")
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    out.add((group, resource, verb))
    return out


def grants_by_subject(manifests: list[Manifest]) -> dict[tuple[str, str | None], set[Grant]]:
    """Service account -> {(bound namespace or None for cluster-wide): grants}."""
    roles = {(m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"]): m for m in manifests if m["kind"] in ("Role", "ClusterRole")}
    result: dict[tuple[str, str | None], set[Grant]] = {}
    for binding in manifests:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
        role = roles[(ref["kind"], namespace, ref["name"])]  # KeyError: binding to a role the chart does not make
        scope = binding["metadata"].get("namespace")
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount" and subject["namespace"] == NAMESPACE
            result.setdefault((subject["name"], scope), set()).update(grants(role))
    return result


@pytest.mark.parametrize("values", VALUE_FILES)
def test_no_wildcards_anywhere_in_rbac(values: str | None) -> None:
    for role in of_kind(render(values), "Role") + of_kind(render(values), "ClusterRole"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], f"{role['metadata']['name']}: {rule}"


def test_clusterwide_rbac_is_exactly_the_documented_grants() -> None:
    manifests = render()
    assert of_kind(manifests, "Role") == [] and of_kind(manifests, "RoleBinding") == []
    assert grants_by_subject(manifests) == {
        ("cj-craft-jobs-operator", None): OPERATOR_NAMESPACED_GRANTS | NAMESPACE_GRANTS,
    }
    # With webhooks: may a requester naming another creator impersonate that user?
    assert grants_by_subject(render("webhooks.yaml"))[("cj-craft-jobs-operator", None)] == \
        OPERATOR_NAMESPACED_GRANTS | NAMESPACE_GRANTS | {REVIEW_GRANT}
    operator = one(manifests, "Deployment", "-operator")["spec"]["template"]["spec"]
    assert operator["serviceAccountName"] == "cj-craft-jobs-operator"
    assert "CRAFT_JOBS_NAMESPACES" not in {e["name"] for e in operator["containers"][0]["env"]}


def test_namespaced_rbac_grants_per_namespace_and_cluster_wide_only_the_webhooks_review() -> None:
    manifests = render("namespaced-rbac.yaml")  # webhooks enabled
    assert [m["metadata"]["name"] for m in of_kind(manifests, "ClusterRole")] == ["cj-craft-jobs-operator-reviews"]
    assert grants_by_subject(manifests) == {
        ("cj-craft-jobs-operator", "team-a"): OPERATOR_NAMESPACED_GRANTS,
        ("cj-craft-jobs-operator", "team-b"): OPERATOR_NAMESPACED_GRANTS,
        ("cj-craft-jobs-operator", None): {REVIEW_GRANT},
    }
    without_webhooks = render("namespaced-rbac.yaml", "webhooks.enabled=false")
    assert of_kind(without_webhooks, "ClusterRole") == [] and of_kind(without_webhooks, "ClusterRoleBinding") == []
    env = {e["name"]: e.get("value") for e in one(manifests, "Deployment", "-operator")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CRAFT_JOBS_NAMESPACES"] == "team-a,team-b"
    # The webhooks only see the watched namespaces.
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        (hook,) = one(manifests, kind)["webhooks"]
        (expression,) = hook["namespaceSelector"]["matchExpressions"]
        assert expression == {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}


def test_dashboard_gets_review_grants_only_with_kubernetes_auth() -> None:
    manifests = render("multi-tenancy.yaml")  # dashboard.auth.mode: kubernetes
    assert grants_by_subject(manifests)[("cj-craft-jobs-dashboard", None)] == DASHBOARD_KUBERNETES_AUTH_GRANTS
    dashboard = one(manifests, "Deployment", "-dashboard")["spec"]["template"]["spec"]
    assert dashboard["serviceAccountName"] == "cj-craft-jobs-dashboard"
    assert dashboard["automountServiceAccountToken"] is True

    token_mode = render()
    assert not any(sa == "cj-craft-jobs-dashboard" for sa, _ in grants_by_subject(token_mode))
    assert one(token_mode, "Deployment", "-dashboard")["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert one(token_mode, "ServiceAccount", "-dashboard")["automountServiceAccountToken"] is False


def test_rbac_can_be_left_to_the_cluster_admin() -> None:
    manifests = render(None, "rbac.create=false")
    assert not [m for m in manifests if m["kind"].endswith(("Role", "RoleBinding"))]


def pod_templates(manifests: list[Manifest]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{m['kind']}/{m['metadata']['name']}", m["spec"]["template"]["spec"])
        for m in manifests
        if m["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet")
    ]


ALLOWED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}


@pytest.mark.parametrize("values", VALUE_FILES)
def test_every_pod_meets_the_restricted_pod_security_standard(values: str | None) -> None:
    pods = pod_templates(render(values))
    assert pods
    for name, pod in pods:
        context = pod["securityContext"]
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(host), name
        assert context["runAsNonRoot"] is True and context["runAsUser"] == 10001, name
        assert context["seccompProfile"]["type"] == "RuntimeDefault", name
        for volume in pod.get("volumes", []):
            assert set(volume) - {"name"} <= ALLOWED_VOLUME_TYPES, f"{name}: {volume}"
        for c in pod["containers"] + pod.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add"), name
            assert sc["runAsNonRoot"] is True and sc.get("runAsUser", 10001) != 0, name
            assert sc.get("privileged") is not True, name
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert not c.get("ports") or all("hostPort" not in p for p in c["ports"]), name
            # A read-only root needs somewhere to write temporary files.
            assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}, name


def connection_env(c: Manifest) -> dict[str, Any]:
    (entry,) = [e for e in c["env"] if e["name"] == "CRAFT_JOBS_CONNECTION_STRING"]
    assert "value" not in entry
    return entry["valueFrom"]["secretKeyRef"]


def test_connection_string_value_never_appears_in_plain_text() -> None:
    value = "postgresql://craft:s3cret-Pa55word@db.example.com:5432/craftjobs"
    text = render_text("connection-string.yaml", include_crds=True)
    assert value not in text and "s3cret-Pa55word" not in text
    manifests = render("connection-string.yaml")
    secret = one(manifests, "Secret", "-database")
    assert base64.b64decode(secret["data"]["connection-string"]).decode() == value
    encoded = base64.b64encode(value.encode()).decode()
    assert [m["metadata"]["name"] for m in manifests if encoded in str(m)] == [secret["metadata"]["name"]]
    for _, pod in pod_templates(manifests):
        for c in pod["containers"]:
            assert connection_env(c) == {"name": secret["metadata"]["name"], "key": "connection-string"}


def test_connection_string_comes_from_the_existing_secret() -> None:
    for values, expected in [(None, {"name": "craft-jobs-database", "key": "connection-string"}), ("external-secret.yaml", {"name": "shared-postgres", "key": "url"})]:
        manifests = render(values)
        assert not [m for m in of_kind(manifests, "Secret") if m["metadata"]["name"].endswith("-database")]
        pods = pod_templates(manifests)
        assert len(pods) == 3  # operator, dashboard, migrate
        for _, pod in pods:
            assert connection_env(pod["containers"][0]) == expected


def test_dashboard_tokens_are_mounted_from_a_secret() -> None:
    for values, secret_name, key in [(None, "cj-craft-jobs-dashboard-tokens", "tokens.yaml"), ("external-secret.yaml", "dashboard-tokens", "tokens.txt")]:
        manifests = render(values)
        pod = one(manifests, "Deployment", "-dashboard")["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        path = {e["name"]: e.get("value") for e in c["env"]}["CRAFT_JOBS_DASHBOARD_TOKENS_FILE"]
        (mount,) = [m for m in c["volumeMounts"] if path.startswith(m["mountPath"] + "/")]
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == secret_name
        assert volume["secret"]["items"] == [{"key": key, "path": path.rsplit("/", 1)[1]}]
        generated = [m for m in of_kind(manifests, "Secret") if m["metadata"]["name"] == "cj-craft-jobs-dashboard-tokens"]
        assert len(generated) == (1 if values is None else 0)


def test_generated_tokens_file_is_read_by_the_dashboard(tmp_path: Path) -> None:
    from craft_jobs.dashboard.auth import Role, load_token_file

    path = tmp_path / "tokens.yaml"
    path.write_bytes(base64.b64decode(one(render(), "Secret", "-dashboard-tokens")["data"]["tokens.yaml"]))
    (entry,) = load_token_file(path)
    assert entry.role is Role.OPERATOR and entry.tenants == ["*"]
    assert entry.token is not None and len(entry.token) == 40 and entry.token.isalnum()
    # A fresh render is a fresh token (on a cluster, lookup keeps the existing one).
    assert render_text(None, "nameOverride=craft-jobs") != render_text()
