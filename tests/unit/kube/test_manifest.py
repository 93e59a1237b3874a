"""The Job manifest builder: pure, deterministic, valid batch/v1, restricted pods."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import datetime, timezone

import kubernetes_validate
import pytest

from craft_jobs.errors import ValidationError
from craft_jobs.kube.job_metadata import KUBE_METADATA_KEY
from craft_jobs.kube.manifest import (
    LABEL_JOB_ID,
    LABEL_JOB_TYPE,
    LABEL_TENANT,
    ManifestSettings,
    build_job_manifest,
    job_name,
    label_value,
    proves_run,
    secret_owned_by,
)
from craft_jobs.store.models import ClaimedJob

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
SETTINGS = ManifestSettings(default_image="registry.example/jobs:1", default_namespace="jobs")


def claimed(**overrides) -> ClaimedJob:
    values = dict(
        id=42, job_type="send-report", queue="default", parameters={"report": "daily", "email": "a@example.com"},
        tenant_id="acme", user_id="user-a", metadata={"requestedBy": "finance"}, attempt=1, runs=2,
        max_attempts=3, retry_policy=None, timeout_seconds=None, image=None, scheduled_for=T0,
        created_at=T0, started_at=T0, recurring_id=None, cr_namespace="team-a", cr_name="report",
        cr_uid="0f1e2d3c-0000-4000-8000-000000000001",
    )
    values.update(overrides)
    return ClaimedJob(**values)


def env_of(job_manifest) -> dict:
    container = job_manifest["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_name_namespace_labels_and_owner():
    job, secret = build_job_manifest(claimed(), SETTINGS)
    meta = job["metadata"]
    assert meta["name"] == "cj-42-2" == secret["metadata"]["name"]
    assert meta["namespace"] == "team-a" == secret["metadata"]["namespace"]
    assert meta["labels"][LABEL_JOB_ID] == "42"
    assert meta["labels"][LABEL_JOB_TYPE] == "send-report"
    assert meta["labels"][LABEL_TENANT] == "acme"
    assert job["spec"]["template"]["metadata"]["labels"] == meta["labels"]
    assert meta["ownerReferences"] == [{
        "apiVersion": "jobs.craft.dev/v1alpha1", "kind": "BackgroundJob", "name": "report",
        "uid": "0f1e2d3c-0000-4000-8000-000000000001", "controller": True, "blockOwnerDeletion": False,
    }]


def test_same_run_same_manifest_and_names_fit_a_label():
    assert build_job_manifest(claimed(), SETTINGS) == build_job_manifest(claimed(), SETTINGS)
    longest = job_name(2**63 - 1, 2**31 - 1)
    assert len(longest) <= 63


def test_sdk_job_goes_to_default_namespace_without_owner():
    job, _ = build_job_manifest(claimed(cr_namespace=None, cr_name=None, cr_uid=None, tenant_id=""), SETTINGS)
    assert job["metadata"]["namespace"] == "jobs"
    assert "ownerReferences" not in job["metadata"]
    assert LABEL_TENANT not in job["metadata"]["labels"]


def test_recurring_job_run_is_owned_by_its_recurring_job():
    owner = {"kind": "RecurringJob", "name": "nightly", "uid": "u-rj"}
    job, _ = build_job_manifest(
        claimed(cr_uid=None, cr_name=None, recurring_id="team-a/nightly", metadata={KUBE_METADATA_KEY: {"owner": owner}}),
        SETTINGS,
    )
    assert job["metadata"]["ownerReferences"][0]["kind"] == "RecurringJob"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-rj"


def test_env_contract_and_parameters_only_in_the_secret():
    job, secret = build_job_manifest(claimed(), SETTINGS)
    env = env_of(job)
    assert env["CRAFT_JOB_ID"] == "42"
    assert env["CRAFT_JOB_TYPE"] == "send-report"
    assert env["CRAFT_JOB_ATTEMPT"] == "1"
    assert env["CRAFT_TENANT_ID"] == "acme"
    assert env["CRAFT_USER_ID"] == "user-a"
    assert json.loads(env["CRAFT_JOB_METADATA"]) == {"requestedBy": "finance"}
    assert env["CRAFT_JOB_PARAMETERS_FILE"] == "/var/run/craft-jobs/parameters/parameters.json"
    assert "a@example.com" not in json.dumps(job)
    assert json.loads(base64.b64decode(secret["data"]["parameters.json"])) == claimed().parameters
    pod = job["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "parameters")
    assert volume["secret"]["secretName"] == "cj-42-2"
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "parameters")
    assert mount["readOnly"] is True


def test_reserved_metadata_is_not_shown_to_the_job():
    pod = {"serviceAccountName": "reports"}
    job, _ = build_job_manifest(claimed(metadata={"a": "b", KUBE_METADATA_KEY: {"pod": pod}}), SETTINGS)
    assert json.loads(env_of(job)["CRAFT_JOB_METADATA"]) == {"a": "b"}


def test_restricted_pod_security():
    job, _ = build_job_manifest(claimed(), SETTINGS)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    for volume in pod["volumes"]:
        assert set(volume) - {"name"} <= {"secret", "emptyDir"}, "restricted allows only these volume types here"


def test_retry_mapping_onto_the_job():
    job, _ = build_job_manifest(
        claimed(timeout_seconds=300, retry_policy={"non_retryable_exit_codes": [42, 7]}), SETTINGS
    )
    spec = job["spec"]
    assert spec["backoffLimit"] == 0
    # The executor times the run from its container's start; Kubernetes' deadline,
    # counted from the Job's start, is a backstop that leaves room for the start.
    assert spec["activeDeadlineSeconds"] == 300 + 600
    # Set only once the outcome is recorded, so Kubernetes never removes an unread outcome.
    assert "ttlSecondsAfterFinished" not in spec
    assert spec["suspend"] is True, "resumed once its Secret exists"
    ignore, fail = spec["podFailurePolicy"]["rules"]
    # Disruptions first: an eviction is never fatal, even when its exit code is listed.
    assert ignore["action"] == "Ignore" and ignore["onPodConditions"][0]["type"] == "DisruptionTarget"
    assert fail == {"action": "FailJob", "onExitCodes": {"containerName": "job", "operator": "In", "values": [3, 7, 42]}}
    no_timeout, _ = build_job_manifest(claimed(), SETTINGS)
    assert "activeDeadlineSeconds" not in no_timeout["spec"]


def test_pod_overrides():
    pod = {
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        "serviceAccountName": "reports",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}],
        "env": [
            {"name": "LOG_LEVEL", "value": "DEBUG"},
            {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "api-key"}}},
            {"name": "CRAFT_JOB_ID", "value": "forged"},
        ],
        "envFrom": [{"secretRef": {"name": "settings"}}],
    }
    job, _ = build_job_manifest(claimed(metadata={KUBE_METADATA_KEY: {"pod": pod}}), SETTINGS)
    spec = job["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["resources"] == pod["resources"]
    assert spec["serviceAccountName"] == "reports"
    assert "automountServiceAccountToken" not in spec
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["tolerations"] == pod["tolerations"]
    env = env_of(job)
    assert env["LOG_LEVEL"] == "DEBUG"
    assert env["API_KEY"] == {"secretKeyRef": {"name": "creds", "key": "api-key"}}
    assert env["CRAFT_JOB_ID"] == "42", "the contract cannot be overridden"
    assert container["envFrom"] == [{"secretRef": {"name": "settings"}}]


def test_optional_secret_references_stay_optional():
    pod = {"env": [{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k", "optional": True}}},
                   {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "t", "optional": False}}}],
           "envFrom": [{"secretRef": {"name": "settings", "optional": True}}]}
    job, _ = build_job_manifest(claimed(metadata={KUBE_METADATA_KEY: {"pod": pod}}), SETTINGS)
    env = env_of(job)
    assert env["API_KEY"] == {"secretKeyRef": {"name": "creds", "key": "k", "optional": True}}
    assert env["TOKEN"] == {"secretKeyRef": {"name": "creds", "key": "t"}}
    assert job["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [{"secretRef": {"name": "settings", "optional": True}}]


def test_image_from_job_else_default_else_error():
    job, _ = build_job_manifest(claimed(image="mine:2"), SETTINGS)
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "mine:2"
    job, _ = build_job_manifest(claimed(), SETTINGS)
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/jobs:1"
    with pytest.raises(ValidationError) as error:
        build_job_manifest(claimed(), ManifestSettings())
    assert error.value.field == "image"


@pytest.mark.parametrize("value", ["a" * 200, "Weird type!", "-lead", "x" * 63, "tenant/with/slashes"])
def test_label_values_are_valid(value):
    cleaned = label_value(value)
    assert len(cleaned) <= 63
    job, _ = build_job_manifest(claimed(job_type=value, tenant_id=value), SETTINGS)
    assert job["metadata"]["labels"][LABEL_JOB_TYPE] == cleaned
    if value == "x" * 63:
        assert cleaned == value


def test_secret_is_owned_by_the_created_job():
    job, secret = build_job_manifest(claimed(), SETTINGS)
    created = {**job, "metadata": {**job["metadata"], "uid": "job-uid"}}
    owned = secret_owned_by(secret, created)
    assert owned["metadata"]["ownerReferences"] == [{
        "apiVersion": "batch/v1", "kind": "Job", "name": "cj-42-2", "uid": "job-uid",
        "controller": True, "blockOwnerDeletion": False,
    }]
    assert "ownerReferences" not in secret["metadata"], "the builder's output is not mutated"


@pytest.mark.parametrize("overrides", [
    {},
    {"timeout_seconds": 60, "retry_policy": {"non_retryable_exit_codes": [9]}},
    {"metadata": {KUBE_METADATA_KEY: {"pod": {"resources": {"limits": {"cpu": 1}}, "envFrom": [{"secretRef": {"name": "s"}}]}}}},
    {"job_type": "Weird type!" * 10, "tenant_id": "a/b"},
])
def test_manifests_validate_against_the_kubernetes_schema(overrides):
    job, secret = build_job_manifest(claimed(**overrides), SETTINGS)
    version = "1.33.0"
    kubernetes_validate.validate(job, version, strict=True)
    kubernetes_validate.validate(secret_owned_by(secret, {**job, "metadata": {**job["metadata"], "uid": "u"}}), version, strict=True)


def test_job_and_secret_carry_a_proof_only_this_installation_can_make():
    signed = ManifestSettings(default_image="img", installation_id="inst-1", signing_key="k" * 64)
    job, secret = build_job_manifest(claimed(), signed)
    assert proves_run(job, signed, job_id=claimed().id)
    assert proves_run(secret, signed, job_id=claimed().id)
    other_installation = dataclasses.replace(signed, signing_key="x" * 64)
    assert not proves_run(job, other_installation, job_id=claimed().id)
    assert not proves_run(job, signed, job_id=claimed().id + 1), "the proof names its job"
    renamed = {**job, "metadata": {**job["metadata"], "name": "cj-1-99"}}
    assert not proves_run(renamed, signed, job_id=claimed().id), "and its run"
    unsigned, _ = build_job_manifest(claimed(), ManifestSettings(default_image="img"))
    assert not proves_run(unsigned, ManifestSettings(default_image="img"), job_id=claimed().id), "no key, no proof"


def test_a_runs_credential_goes_to_the_secret_and_the_api_address_to_the_env():
    from craft_jobs.store.models import SchedulerAccess

    job, secret = build_job_manifest(claimed(scheduler_access=SchedulerAccess("http://api.jobs.svc", "cjrun1.x.y")), SETTINGS)
    env = env_of(job)
    assert env["CRAFT_JOB_API_URL"] == "http://api.jobs.svc"
    assert env["CRAFT_JOB_SCHEDULER_TOKEN_FILE"] == "/var/run/craft-jobs/parameters/scheduler-token"
    assert base64.b64decode(secret["data"]["scheduler-token"]).decode() == "cjrun1.x.y"
    assert "cjrun1.x.y" not in json.dumps(job), "the credential never appears in the Job"
    plain_job, plain_secret = build_job_manifest(claimed(), SETTINGS)
    assert "CRAFT_JOB_API_URL" not in env_of(plain_job) and "scheduler-token" not in plain_secret["data"]


def test_a_pod_spec_cannot_set_the_api_address():
    pod = {"env": [{"name": "CRAFT_JOB_API_URL", "value": "http://evil"}]}
    job, _ = build_job_manifest(claimed(metadata={KUBE_METADATA_KEY: {"pod": pod}}), SETTINGS)
    assert "CRAFT_JOB_API_URL" not in env_of(job)
