"""The chart lints, renders and validates against the Kubernetes schemas for
its defaults and every values file under values/."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import kubernetes_validate
import pytest

from .conftest import CHART, NAMESPACE, ROOT, VALUE_FILES, of_kind, one, render, run_helm, value_args

KUBERNETES_VERSION = "1.33"


@pytest.mark.parametrize("values", VALUE_FILES)
def test_helm_lint_strict(values: str | None) -> None:
    result = run_helm("lint", "--strict", str(CHART), "--namespace", NAMESPACE, *value_args(values))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", VALUE_FILES)
def test_rendered_manifests_validate_against_kubernetes_schemas(values: str | None) -> None:
    manifests = render(values, include_crds=True)
    assert len(of_kind(manifests, "CustomResourceDefinition")) == 2
    for manifest in manifests:
        # CRDs are validated too, as apiextensions.k8s.io/v1 objects.
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("values", VALUE_FILES)
def test_namespaced_objects_go_to_the_release_namespace(values: str | None) -> None:
    for manifest in render(values):
        namespace = manifest["metadata"].get("namespace")
        if manifest["kind"] in {"ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}:
            assert namespace is None
        elif manifest["kind"] in {"Role", "RoleBinding"}:
            assert namespace  # one per watched namespace
        else:
            assert namespace == NAMESPACE, manifest["metadata"]["name"]


def test_chart_crds_are_byte_identical_to_the_repository_crds() -> None:
    source = sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    copies = sorted(p.name for p in (CHART / "crds").iterdir())
    assert source and copies == source
    for name in source:
        assert filecmp.cmp(ROOT / "crds" / name, CHART / "crds" / name, shallow=False), name


def test_chart_metadata() -> None:
    import yaml

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["type"] == "application"
    assert chart["appVersion"] == "0.1.0"


def test_names_fit_in_63_characters() -> None:
    long_name = "a" * 63
    for manifest in render(None, f"fullnameOverride={long_name}", "webhooks.enabled=true", "operator.replicas=2"):
        name = manifest["metadata"]["name"]
        assert len(name) <= 63 and not name.endswith("-"), name
    # Components stay distinct after truncation.
    deployments = [m["metadata"]["name"] for m in of_kind(render(None, f"fullnameOverride={long_name}"), "Deployment")]
    assert len(set(deployments)) == 2


def test_operator_deployment() -> None:
    deployment = one(render(), "Deployment", "-operator")
    assert deployment["spec"]["replicas"] == 1
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["craft-jobs", "operator"]
    assert c["image"] == "ghcr.io/craft-jobs/craft-jobs:0.1.0"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"health": 8081}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert c["resources"]["requests"] and c["resources"]["limits"]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes[mounts["/tmp"]] == {"name": "tmp", "emptyDir": {}}


def test_pod_disruption_budget_only_with_several_replicas() -> None:
    assert of_kind(render(), "PodDisruptionBudget") == []
    manifests = render("replicas-2.yaml")
    assert one(manifests, "Deployment", "-operator")["spec"]["replicas"] == 2
    pdb = one(manifests, "PodDisruptionBudget", "-operator")
    assert pdb["spec"]["minAvailable"] == 1
    selector = pdb["spec"]["selector"]["matchLabels"]
    pod_labels = one(manifests, "Deployment", "-operator")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    dashboard_labels = one(manifests, "Deployment", "-dashboard")["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= dashboard_labels.items(), "the PDB must not cover the dashboard"


def test_dashboard_deployment_service_and_ingress() -> None:
    manifests = render("ingress.yaml")
    deployment = one(manifests, "Deployment", "-dashboard")
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["craft-jobs", "dashboard", "--host", "0.0.0.0", "--port", "8080"]
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8080}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}

    service = one(manifests, "Service", "-dashboard")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()

    ingress = one(manifests, "Ingress", "-dashboard")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "craft-jobs-tls", "hosts": ["jobs.example.com"]}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "jobs.example.com"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/ops/jobs", "Prefix")
    assert path["backend"]["service"] == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    assert of_kind(render(), "Ingress") == []


def test_dashboard_can_be_left_out() -> None:
    manifests = render("no-dashboard.yaml")
    assert [m["metadata"]["name"] for m in of_kind(manifests, "Deployment")] == ["cj-craft-jobs-operator"]
    assert not [m for m in manifests if m["metadata"]["name"].endswith(("-dashboard", "-dashboard-tokens"))]
    assert of_kind(manifests, "Job") == []  # migrate.enabled is false there too


def test_migrate_hook_runs_before_install_and_upgrade() -> None:
    job = one(render(), "Job", "-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["command"] == ["craft-jobs", "migrate"]
    assert pod["restartPolicy"] == "Never"
    # It runs before the release's ServiceAccounts exist and needs no API access.
    assert "serviceAccountName" not in pod and pod["automountServiceAccountToken"] is False


def test_chart_made_database_secret_exists_before_the_migrate_hook() -> None:
    manifests = render("connection-string.yaml")
    secret = one(manifests, "Secret", "-database")
    job = one(manifests, "Job", "-migrate")
    assert "pre-install" in secret["metadata"]["annotations"]["helm.sh/hook"]
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])


@pytest.fixture
def notes_chart(tmp_path: Path) -> Path:
    """A copy of the chart whose NOTES.txt also renders into a ConfigMap.

    `helm template` does not print NOTES.txt and `helm install --dry-run`
    needs a cluster, so the copy wraps the notes in a named template."""
    chart = tmp_path / "craft-jobs"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    (chart / "templates" / "_notes.tpl").write_text('{{- define "notes" -}}\n' + notes + "\n{{- end }}\n")
    (chart / "templates" / "notes.yaml").write_text(
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "notes" . | quote }}\n'
    )
    return chart


def rendered_notes(chart: Path, *values: str) -> str:
    import yaml

    result = run_helm("template", "cj", str(chart), "--namespace", NAMESPACE, "--show-only", "templates/notes.yaml", *values)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["data"]["notes"]


def test_notes_explain_the_dashboard_and_a_first_job(notes_chart: Path) -> None:
    notes = rendered_notes(notes_chart)
    assert "kubectl -n craft port-forward svc/cj-craft-jobs-dashboard 8080:80" in notes
    assert "http://127.0.0.1:8080/jobs" in notes
    assert "kubectl apply -f -" in notes and "kind: BackgroundJob" in notes and "jobType: hello" in notes
    assert "get secret cj-craft-jobs-dashboard-tokens" in notes
    assert "jsonpath='{.data.tokens\\.yaml}'" in notes
    namespaced = rendered_notes(notes_chart, "-f", str(Path(__file__).parent / "values" / "namespaced-rbac.yaml"))
    assert "namespace: team-a" in namespaced
