"""values.yaml, values.schema.json and the options the pods receive."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from subprocess import CompletedProcess
from typing import Any

import pytest
import yaml

from .conftest import CHART, NAMESPACE, RELEASE, container, env_of, one, render

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())

RenderWith = Callable[[dict[str, Any]], CompletedProcess[str]]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"options": {"workerCount": 0}}, "workerCount"),
        ({"options": {"workerCount": 101}}, "workerCount"),
        ({"options": {"workerCount": "20"}}, "workerCount"),
        ({"options": {"maxRetryAttempts": 11}}, "maxRetryAttempts"),
        ({"options": {"schemaName": "craft_jobs; DROP TABLE jobs; --"}}, "schemaName"),
        ({"options": {"schemaName": "CraftJobs"}}, "schemaName"),
        ({"options": {"jobExpirationDays": 0}}, "jobExpirationDays"),
        ({"options": {"pollingIntervalSeconds": 61}}, "pollingIntervalSeconds"),
        ({"options": {"enableMultiTenancy": "yes"}}, "enableMultiTenancy"),
        ({"options": {"wokerCount": 5}}, "wokerCount"),
        ({"dashboard": {"auth": {"mode": "none"}}}, "mode"),
        ({"dashboard": {"path": "jobs/"}}, "path"),
        ({"operator": {"replicas": 0}}, "replicas"),
        ({"rbac": {"namespaces": ["Team A"]}}, "namespaces"),
        ({"webhooks": {"failurePolicy": "Sometimes"}}, "failurePolicy"),
        ({"database": {"connectionString": "mysql://root@db/x"}}, "connectionString"),
        ({"options": {"tenantConcurrencyLimit": -1}}, "tenantConcurrencyLimit"),
        ({"options": {"tenantHeadroomSlots": 101}}, "tenantHeadroomSlots"),
        ({"options": {"tenantConcurrencyLimits": {"acme": "lots"}}}, "acme"),
        ({"options": {"tenantConcurrencyLimits": {"a=b": 3}}}, "a=b"),
        ({"unknownTopLevelKey": True}, "unknownTopLevelKey"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else v,
)
def test_bad_values_fail_with_a_message_naming_the_value(render_with: RenderWith, values: dict[str, Any], named: str) -> None:
    result = render_with(values)
    assert result.returncode != 0, f"accepted {values}"
    assert named in result.stderr, result.stderr


@pytest.mark.parametrize(
    "values",
    [
        {"options": {"workerCount": 1, "maxRetryAttempts": 0, "jobExpirationDays": 365, "pollingIntervalSeconds": 60}},
        {"options": {"workerCount": 100, "maxRetryAttempts": 10, "schemaName": "_jobs_2"}},
        {"dashboard": {"path": "/"}},
        {"dashboard": {"auth": {"mode": "kubernetes"}}},
    ],
    ids=["low-edges", "high-edges", "root-path", "kubernetes-auth"],
)
def test_edge_values_are_accepted(render_with: RenderWith, values: dict[str, Any]) -> None:
    result = render_with(values)
    assert result.returncode == 0, result.stderr


def test_existing_webhook_secret_needs_a_ca_bundle_offline(render_with: RenderWith) -> None:
    result = render_with({"webhooks": {"enabled": True, "certificate": {"existingSecret": "my-cert"}}})
    assert result.returncode != 0
    assert "webhooks.certificate.caBundle" in result.stderr


def test_schema_closes_the_top_level_and_every_option_block() -> None:
    assert SCHEMA["additionalProperties"] is False
    open_blocks = []

    def visit(node: dict[str, Any], path: str) -> None:
        for name, child in node.get("properties", {}).items():
            if child.get("type") == "object" and "properties" in child:
                if child.get("additionalProperties") is not False:
                    open_blocks.append(f"{path}.{name}")
                visit(child, f"{path}.{name}")

    visit(SCHEMA, "")
    assert open_blocks == []
    options = SCHEMA["properties"]["options"]["properties"]
    assert (options["workerCount"]["minimum"], options["workerCount"]["maximum"]) == (1, 100)
    assert (options["maxRetryAttempts"]["minimum"], options["maxRetryAttempts"]["maximum"]) == (0, 10)
    assert (options["jobExpirationDays"]["minimum"], options["jobExpirationDays"]["maximum"]) == (1, 365)
    assert (options["pollingIntervalSeconds"]["minimum"], options["pollingIntervalSeconds"]["maximum"]) == (1, 60)
    assert options["schemaName"]["pattern"] == "^[a-z_][a-z0-9_]{0,62}$"
    assert SCHEMA["properties"]["dashboard"]["properties"]["auth"]["properties"]["mode"]["enum"] == ["token", "kubernetes"]


def test_schema_name_pattern_matches_the_operator_option() -> None:
    from craft_jobs.options import SQL_IDENTIFIER

    assert SCHEMA["properties"]["options"]["properties"]["schemaName"]["pattern"] == SQL_IDENTIFIER.pattern


def test_option_defaults_match_the_operator_defaults() -> None:
    from craft_jobs.options import JobOptions

    fields = JobOptions.model_fields
    for value_name, option in [
        ("workerCount", "worker_count"),
        ("maxRetryAttempts", "max_retry_attempts"),
        ("enableAutomaticRetry", "enable_automatic_retry"),
        ("jobExpirationDays", "job_expiration_days"),
        ("enableMultiTenancy", "enable_multi_tenancy"),
        ("schemaName", "schema_name"),
        ("pollingIntervalSeconds", "polling_interval_seconds"),
        ("enableDetailedLogging", "enable_detailed_logging"),
        ("tenantHeadroomSlots", "tenant_headroom_slots"),
    ]:
        assert VALUES["options"][value_name] == fields[option].default, value_name
    assert VALUES["dashboard"]["path"] == fields["dashboard_path"].default
    assert VALUES["dashboard"]["enabled"] == fields["enable_dashboard"].default


def keyed_lines(text: str) -> list[tuple[str, bool]]:
    """(dotted key path, preceded by a comment) for every mapping key in values.yaml."""
    out: list[tuple[str, bool]] = []
    stack: list[tuple[int, str]] = []
    previous = ""
    for line in text.splitlines():
        match = re.match(r"^(\s*)([A-Za-z][A-Za-z0-9]*):", line)
        if match:
            indent = len(match.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, match.group(2)))
            out.append((".".join(k for _, k in stack), previous.lstrip().startswith("#")))
        if line.strip():
            previous = line
    return out


def schema_paths(node: dict[str, Any], path: str = "") -> set[str]:
    paths = set()
    for name, child in node.get("properties", {}).items():
        paths.add(f"{path}{name}")
        # resources has the Kubernetes shape (requests/limits), documented upstream.
        if child.get("additionalProperties") is False and name != "resources":
            paths |= schema_paths(child, f"{path}{name}.")
    return paths


def test_every_values_key_has_a_comment_and_a_schema_entry() -> None:
    lines = keyed_lines((CHART / "values.yaml").read_text())
    declared = schema_paths(SCHEMA) - {"global"}
    keys = [(path, commented) for path, commented in lines if path in declared]
    assert [path for path, commented in keys if not commented] == []
    assert {path for path, _ in keys} == declared


def test_every_pod_gets_the_options_as_environment() -> None:
    manifests = render()
    expected = {
        "CRAFT_JOBS_MODE": "cluster",
        "CRAFT_JOBS_ENABLE_DASHBOARD": "true",
        "CRAFT_JOBS_DASHBOARD_PATH": "/jobs",
        "CRAFT_JOBS_DASHBOARD_AUTH_MODE": "token",
        "CRAFT_JOBS_WORKER_COUNT": "20",
        "CRAFT_JOBS_MAX_RETRY_ATTEMPTS": "3",
        "CRAFT_JOBS_ENABLE_AUTOMATIC_RETRY": "true",
        "CRAFT_JOBS_JOB_EXPIRATION_DAYS": "7",
        "CRAFT_JOBS_ENABLE_MULTI_TENANCY": "false",
        "CRAFT_JOBS_SCHEMA_NAME": "craft_jobs",
        "CRAFT_JOBS_POLLING_INTERVAL_SECONDS": "15",
        "CRAFT_JOBS_ENABLE_DETAILED_LOGGING": "false",
        "CRAFT_JOBS_DEFAULT_IMAGE": "ghcr.io/craft-jobs/craft-jobs-runner:0.1.0",
    }
    for component in ("operator", "dashboard", "migrate"):
        env = env_of(container(manifests, component))
        assert {k: env[k] for k in expected} == expected, component
    assert env_of(container(manifests, "operator"))["CRAFT_JOBS_WEBHOOK_ENABLED"] == "false"


def test_options_reach_the_pods_as_the_operator_parses_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from craft_jobs.options import JobOptions

    env = env_of(container(render("multi-tenancy.yaml", "jobs.defaultImage=registry.example.com/jobs:1"), "operator"))
    assert env["CRAFT_JOBS_DEFAULT_IMAGE"] == "registry.example.com/jobs:1"
    for name, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("CRAFT_JOBS_CONNECTION_STRING", "postgresql://from-the-secret/db")
    options = JobOptions()
    assert options.mode.value == "cluster"
    assert (options.enable_multi_tenancy, options.worker_count, options.schema_name) == (True, 50, "tenant_jobs")
    assert env["CRAFT_JOBS_DASHBOARD_AUTH_MODE"] == "kubernetes"


def test_client_filters_reach_every_control_plane_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    from craft_jobs.options import JobOptions

    assert "CRAFT_JOBS_CLIENT_FILTERS" not in env_of(container(render(), "operator"))  # none by default
    manifests = render(None, "options.clientFilters={tests.support.filters:StampFilter,tests.support.filters:StampFilter}")
    for component in ("operator", "dashboard"):
        env = env_of(container(manifests, component))
        monkeypatch.setenv("CRAFT_JOBS_CLIENT_FILTERS", env["CRAFT_JOBS_CLIENT_FILTERS"])
        assert JobOptions().client_filters == ["tests.support.filters:StampFilter"] * 2, component


def test_concurrency_limits_reach_every_control_plane_pod(monkeypatch: pytest.MonkeyPatch, render_with) -> None:
    from craft_jobs.options import JobOptions

    assert "CRAFT_JOBS_TENANT_CONCURRENCY_LIMIT" not in env_of(container(render(), "operator"))  # none by default
    result = render_with({"options": {"tenantConcurrencyLimit": 0, "tenantConcurrencyLimits": {"globex": 5, "acme": 50},
                                      "queueConcurrencyLimits": {"emails": 3}}})
    assert result.returncode == 0, result.stderr
    manifests = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    for component in ("operator", "dashboard"):  # the dashboard tells why a job waits
        env = env_of(container(manifests, component))
        for name in ("CRAFT_JOBS_TENANT_CONCURRENCY_LIMIT", "CRAFT_JOBS_TENANT_CONCURRENCY_LIMITS",
                     "CRAFT_JOBS_QUEUE_CONCURRENCY_LIMITS"):
            monkeypatch.setenv(name, env[name])
        options = JobOptions()
        assert (options.tenant_concurrency_limit, options.tenant_concurrency_limits) == (0, {"acme": 50, "globex": 5})
        assert options.queue_concurrency_limits == {"emails": 3}


def test_operator_settings_parse_the_operator_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from craft_jobs.kube.settings import KubeSettings

    env = env_of(container(render("namespaced-rbac.yaml", "jobs.imagePullPolicy=Always", "jobs.podStartTimeoutSeconds=90"), "operator"))
    for name, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    settings = KubeSettings()
    assert settings.namespaces == ["team-a", "team-b"]
    assert settings.webhook_enabled is True
    assert (settings.webhook_port, str(settings.webhook_cert_dir), settings.health_port) == (9443, "/etc/craft-jobs/webhook", 8081)
    assert settings.default_image == "ghcr.io/craft-jobs/craft-jobs-runner:0.1.0"
    assert settings.effective_job_namespace == "team-a"
    assert settings.image_pull_policy == "Always"
    assert settings.pod_start_timeout_seconds == 90


def test_a_pod_start_timeout_out_of_range_is_refused(render_with: RenderWith) -> None:
    result = render_with({"jobs": {"podStartTimeoutSeconds": 0}})
    assert result.returncode != 0 and "jobs.podStartTimeoutSeconds" in result.stderr


def test_jobs_without_a_resource_run_in_the_release_namespace_by_default() -> None:
    assert env_of(container(render(), "operator"))["CRAFT_JOBS_JOB_NAMESPACE"] == "craft"
    assert env_of(container(render(None, "jobs.namespace=batch"), "operator"))["CRAFT_JOBS_JOB_NAMESPACE"] == "batch"
    assert "CRAFT_JOBS_IMAGE_PULL_POLICY" not in env_of(container(render(), "operator"))


def test_job_namespace_outside_the_watched_namespaces_is_refused(render_with: RenderWith) -> None:
    result = render_with({"rbac": {"namespaces": ["team-a"]}, "jobs": {"namespace": "elsewhere"}})
    assert result.returncode != 0
    assert "jobs.namespace" in result.stderr


def test_dashboard_settings_parse_the_dashboard_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from craft_jobs.dashboard.settings import AuthMode, DashboardSettings

    env = env_of(container(render("ingress.yaml"), "dashboard"))
    for name, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    settings = DashboardSettings()
    assert settings.auth_mode is AuthMode.TOKEN
    assert str(settings.tokens_file) == "/etc/craft-jobs/dashboard/tokens.yaml"
    assert settings.secure_cookies is True  # the Ingress terminates TLS
    assert "CRAFT_JOBS_DASHBOARD_SECURE_COOKIES" not in env_of(container(render(), "dashboard"))


def test_dashboard_hosts_and_metrics_reach_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from craft_jobs.dashboard.settings import DashboardSettings, allowed_host_names

    plain = env_of(container(render(), "dashboard"))
    assert plain["CRAFT_JOBS_DASHBOARD_PUBLIC_METRICS"] == "false"
    assert "CRAFT_JOBS_DASHBOARD_METRICS_TOKEN_FILE" not in plain
    manifests = render("ingress.yaml", "dashboard.allowedHosts={jobs.internal.example}",
                       "dashboard.metrics.tokenSecret=prometheus-token")
    dashboard = container(manifests, "dashboard")
    env = env_of(dashboard)
    for name, value in env.items():
        if name.startswith("CRAFT_JOBS_DASHBOARD_") and isinstance(value, str):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("CRAFT_JOBS_DASHBOARD_METRICS_TOKEN_FILE", "/dev/null")  # the path is the pod's
    hosts = allowed_host_names(DashboardSettings(), "0.0.0.0")
    service = one(manifests, "Service", "-dashboard")["metadata"]["name"]
    assert {service, f"{service}.{NAMESPACE}.svc", "jobs.internal.example"} <= hosts
    ingress_host = one(manifests, "Ingress", "-dashboard")["spec"]["rules"][0]["host"]
    assert ingress_host in hosts and "127.0.0.1" not in hosts
    assert env["CRAFT_JOBS_DASHBOARD_METRICS_TOKEN_FILE"] == "/etc/craft-jobs/metrics/token"
    mount = next(m for m in dashboard["volumeMounts"] if m["name"] == "metrics-token")
    assert mount["mountPath"] == "/etc/craft-jobs/metrics" and mount["readOnly"]
    volumes = one(manifests, "Deployment", "-dashboard")["spec"]["template"]["spec"]["volumes"]
    assert next(v for v in volumes if v["name"] == "metrics-token")["secret"]["secretName"] == "prometheus-token"


def test_audit_retention_reaches_the_options_only_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from craft_jobs.options import JobOptions

    assert VALUES["options"]["auditRetentionDays"] == 0  # as long as jobs: the option's None
    assert JobOptions.model_fields["audit_retention_days"].default is None
    assert "CRAFT_JOBS_AUDIT_RETENTION_DAYS" not in env_of(container(render(), "operator"))
    env = env_of(container(render(None, "options.auditRetentionDays=90"), "operator"))
    monkeypatch.setenv("CRAFT_JOBS_AUDIT_RETENTION_DAYS", env["CRAFT_JOBS_AUDIT_RETENTION_DAYS"])
    assert JobOptions().audit_retention_days == 90


def test_runs_reach_the_api_through_the_dashboard_service_unless_told_otherwise() -> None:
    def api_url(*values: str) -> str | None:
        return env_of(container(render(None, *values), "operator")).get("CRAFT_JOBS_JOB_API_URL")

    assert api_url() == f"http://{RELEASE}-craft-jobs-dashboard.{NAMESPACE}.svc:80"
    assert api_url("jobs.scheduler.apiUrl=https://jobs.example.com") == "https://jobs.example.com"
    assert api_url("jobs.scheduler.enabled=false") is None
    assert api_url("dashboard.enabled=false") is None, "no dashboard, no API to reach"
