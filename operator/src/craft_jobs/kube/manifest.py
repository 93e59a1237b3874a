"""Builds the batch/v1 Job (and its parameters Secret) for one run of a job.

A pure function of the claimed job and the operator's settings: no API
calls, no clock, so the same run always yields the same manifests and the
builder is unit-tested without a server.

Choices (docs/operator.md explains them):

- one Job per run, named `cj-<job id>-<run>`: deterministic, so two replicas
  (or a restarted operator) creating the same run get AlreadyExists;
- `backoffLimit: 0`: the engine does the retries (Hangfire-style backoffs of
  minutes to hours, the attempt number in CRAFT_JOB_ATTEMPT, every attempt in
  the history); `podFailurePolicy` still matters: exit code 3 and the job's
  non-retryable codes fail the Job with reason PodFailurePolicy, and pod
  disruptions (eviction, preemption, node drain) are ignored, i.e. the Job
  controller starts a new pod without using the attempt;
- parameters in a Secret owned by the Job, mounted read-only: they never
  appear in the pod spec. The Job is created suspended, then the Secret with
  an ownerReference to the Job's uid, then the Job is resumed: no pod ever
  waits for a Secret that may never come;
- both carry the installation's id and a proof only this installation can
  make (an HMAC of the run's namespace, name and job id under the
  installation's signing key), so the operator adopts nothing it did not
  create, whatever its name;
- no `ttlSecondsAfterFinished` at creation: the operator sets it once the
  run's outcome is recorded, so Kubernetes never removes a finished Job whose
  outcome is still unread;
- the pod meets the "restricted" Pod Security Standard.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from craft_jobs_runner import EXIT_NON_RETRYABLE, contract

from craft_jobs.backoff import RetryPolicy
from craft_jobs.errors import ValidationError
from craft_jobs.kube.job_metadata import KubeMetadata, Owner
from craft_jobs.pod_contract import job_environment
from craft_jobs.store.models import ClaimedJob

API_GROUP = "jobs.craft.dev"
API_VERSION = f"{API_GROUP}/v1alpha1"

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "craft-jobs"
LABEL_JOB_ID = f"{API_GROUP}/job-id"
LABEL_JOB_TYPE = f"{API_GROUP}/job-type"
LABEL_TENANT = f"{API_GROUP}/tenant"
LABEL_RUN = f"{API_GROUP}/run"
LABEL_RECURRING = f"{API_GROUP}/recurring"
ANNOTATION_ATTEMPT = f"{API_GROUP}/attempt"
ANNOTATION_JOB_TYPE = f"{API_GROUP}/job-type"
ANNOTATION_TENANT = f"{API_GROUP}/tenant"
ANNOTATION_INSTALLATION = f"{API_GROUP}/installation"
ANNOTATION_PROOF = f"{API_GROUP}/proof"

CONTAINER_NAME = "job"
PARAMETERS_KEY = "parameters.json"
SCHEDULER_TOKEN_KEY = "scheduler-token"  # the run's credential, beside its parameters
PARAMETERS_DIR = "/var/run/craft-jobs/parameters"
RUN_AS_ID = 10001

RESERVED_ENV = frozenset({
    contract.ENV_JOB_ID, contract.ENV_JOB_TYPE, contract.ENV_JOB_ATTEMPT, contract.ENV_TENANT_ID,
    contract.ENV_USER_ID, contract.ENV_JOB_CREATED_AT, contract.ENV_JOB_SCHEDULED_FOR,
    contract.ENV_JOB_METADATA, contract.ENV_PARAMETERS_FILE, contract.ENV_TERMINATION_MESSAGE_PATH,
    contract.ENV_CANCEL_GRACE_SECONDS, contract.ENV_API_URL, contract.ENV_SCHEDULER_TOKEN_FILE,
})

_LABEL_VALUE_MAX = 63
_LABEL_INVALID = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ManifestSettings:
    default_image: str | None = None
    default_namespace: str = "default"
    ttl_seconds_after_finished: int = 3600
    termination_grace_seconds: int = 30
    cancel_grace_seconds: float = contract.DEFAULT_CANCEL_GRACE_SECONDS
    image_pull_policy: str | None = None
    # How long a pod may take to start (KubeSettings.pod_start_timeout_seconds).
    pod_start_timeout_seconds: float = 600
    # Who made the objects, and the key of their proof (the store's installation row).
    installation_id: str = ""
    signing_key: str = ""


def job_name(job_id: int, run: int) -> str:
    """`cj-<id>-<run>`: at most 3 + 19 + 1 + 10 characters, a valid DNS label."""
    return f"cj-{job_id}-{run}"


def run_proof(settings: ManifestSettings, namespace: str, name: str, job_id: int) -> str:
    """What only this installation can write on the objects of one run."""
    message = f"{namespace}/{name}/{job_id}".encode()
    return hmac.new(settings.signing_key.encode(), message, hashlib.sha256).hexdigest()


def proves_run(obj: dict[str, Any], settings: ManifestSettings, job_id: int) -> bool:
    """Whether a Job or Secret carries this installation's proof for the run it is named after."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if not settings.signing_key or annotations.get(ANNOTATION_INSTALLATION) != settings.installation_id:
        return False
    expected = run_proof(settings, meta.get("namespace", ""), meta.get("name", ""), job_id)
    return hmac.compare_digest(str(annotations.get(ANNOTATION_PROOF, "")), expected)


def label_value(value: str) -> str:
    """A string made into a valid label value (63 characters, alphanumeric ends).

    When it had to change, a short hash of the original keeps values apart."""
    cleaned = _LABEL_INVALID.sub("-", value).strip("-._")
    if cleaned == value and len(value) <= _LABEL_VALUE_MAX:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"{cleaned[:_LABEL_VALUE_MAX - 9].rstrip('-._')}-{digest}".lstrip("-")


def job_namespace(job: ClaimedJob, settings: ManifestSettings) -> str:
    return job.cr_namespace or settings.default_namespace


def job_labels(job: ClaimedJob) -> dict[str, str]:
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_JOB_ID: str(job.id),
        LABEL_RUN: str(job.runs),
        LABEL_JOB_TYPE: label_value(job.job_type),
    }
    if job.tenant_id:
        labels[LABEL_TENANT] = label_value(job.tenant_id)
    if job.recurring_id and job.cr_namespace:
        labels[LABEL_RECURRING] = recurring_label(job.recurring_id)
    return labels


def recurring_label(recurring_id: str) -> str:
    """The RecurringJob's name (its id is "<namespace>/<name>"), as a label value."""
    return label_value(recurring_id.rsplit("/", 1)[-1])


def owner_of(job: ClaimedJob) -> Owner | None:
    """The resource the run belongs to: its BackgroundJob, or the RecurringJob that fired it."""
    if job.cr_uid and job.cr_name:
        return Owner("BackgroundJob", job.cr_name, job.cr_uid)
    return KubeMetadata.of(job.metadata).owner


def _owner_references(job: ClaimedJob) -> list[dict[str, Any]]:
    owner = owner_of(job)
    if owner is None:
        return []
    return [{
        "apiVersion": API_VERSION,
        "kind": owner.kind,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        # True would need the finalizers grant on the owner; GC works without it.
        "blockOwnerDeletion": False,
    }]


def _env(job: ClaimedJob, settings: ManifestSettings, pod: dict[str, Any]) -> list[dict[str, Any]]:
    visible = dataclasses.replace(job, metadata=KubeMetadata.without(job.metadata))
    contract_env = job_environment(visible)
    contract_env[contract.ENV_PARAMETERS_FILE] = f"{PARAMETERS_DIR}/{PARAMETERS_KEY}"
    if job.scheduler_access is not None:
        contract_env[contract.ENV_SCHEDULER_TOKEN_FILE] = f"{PARAMETERS_DIR}/{SCHEDULER_TOKEN_KEY}"
    contract_env[contract.ENV_CANCEL_GRACE_SECONDS] = f"{settings.cancel_grace_seconds:g}"
    env = [{"name": name, "value": value} for name, value in contract_env.items()]
    for entry in pod.get("env") or []:
        if isinstance(entry, dict) and entry.get("name") and entry["name"] not in RESERVED_ENV:
            env.append(_user_env(entry))
    return env


def _user_env(entry: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"name": entry["name"]}
    ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
    if ref:
        result["valueFrom"] = {"secretKeyRef": _optional({"name": ref["name"], "key": ref["key"]}, ref)}
    else:
        result["value"] = str(entry.get("value", ""))
    return result


def _optional(reference: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A Secret reference, with `optional: true` when the spec's reference says so."""
    if spec.get("optional") is True:
        reference["optional"] = True
    return reference


def _fail_codes(job: ClaimedJob) -> list[int]:
    codes = {EXIT_NON_RETRYABLE}
    codes.update(RetryPolicy.from_row(job.max_attempts, job.retry_policy).non_retryable_exit_codes)
    return sorted(codes)


def build_job_manifest(job: ClaimedJob, settings: ManifestSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The batch/v1 Job of this run, and its parameters Secret (owner to be set
    with `secret_owned_by` once the Job exists and has a uid)."""
    image = job.image or settings.default_image
    if not image:
        raise ValidationError("image", "the job names no image and the operator has no default image (CRAFT_JOBS_DEFAULT_IMAGE)")
    name = job_name(job.id, job.runs)
    namespace = job_namespace(job, settings)
    labels = job_labels(job)
    pod = KubeMetadata.of(job.metadata).pod
    annotations = {ANNOTATION_ATTEMPT: str(job.attempt), ANNOTATION_JOB_TYPE: job.job_type}
    if job.tenant_id:
        annotations[ANNOTATION_TENANT] = job.tenant_id
    proof = {ANNOTATION_INSTALLATION: settings.installation_id, ANNOTATION_PROOF: run_proof(settings, namespace, name, job.id)}

    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image,
        "env": _env(job, settings, pod),
        "terminationMessagePath": contract.DEFAULT_TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "parameters", "mountPath": PARAMETERS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if settings.image_pull_policy:
        container["imagePullPolicy"] = settings.image_pull_policy
    if pod.get("envFrom"):
        container["envFrom"] = [
            {"secretRef": _optional({"name": item["secretRef"]["name"]}, item["secretRef"])}
            for item in pod["envFrom"] if isinstance(item, dict) and item.get("secretRef")
        ]
    if pod.get("resources"):
        container["resources"] = {
            key: dict(value) for key, value in pod["resources"].items() if key in ("limits", "requests") and value
        }

    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": settings.termination_grace_seconds,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_ID,
            "runAsGroup": RUN_AS_ID,
            "fsGroup": RUN_AS_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "parameters", "secret": {"secretName": name, "defaultMode": 0o440}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if pod.get("serviceAccountName"):
        pod_spec["serviceAccountName"] = pod["serviceAccountName"]
    else:
        pod_spec["automountServiceAccountToken"] = False
    if pod.get("nodeSelector"):
        pod_spec["nodeSelector"] = dict(pod["nodeSelector"])
    if pod.get("tolerations"):
        pod_spec["tolerations"] = [dict(t) for t in pod["tolerations"]]

    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "completions": 1,
        "parallelism": 1,
        # Resumed once its Secret exists.
        "suspend": True,
        # Rules apply in order: a disruption (eviction, preemption, drain) is
        # ignored even when the pod's exit code (137, 143) is listed as fatal.
        "podFailurePolicy": {"rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            {"action": "FailJob", "onExitCodes": {
                "containerName": CONTAINER_NAME, "operator": "In", "values": _fail_codes(job)}},
        ]},
        "template": {
            "metadata": {"labels": dict(labels), "annotations": dict(annotations)},
            "spec": pod_spec,
        },
    }
    if job.timeout_seconds:
        # The executor times the run from its container's start; this backstop
        # (Kubernetes counts from the Job's start) leaves room for the pod to start.
        job_spec["activeDeadlineSeconds"] = int(job.timeout_seconds) + int(settings.pod_start_timeout_seconds)

    metadata: dict[str, Any] = {
        "name": name, "namespace": namespace, "labels": labels, "annotations": {**annotations, **proof},
    }
    owners = _owner_references(job)
    if owners:
        metadata["ownerReferences"] = owners
    job_manifest = {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job_spec}

    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels), "annotations": dict(proof)},
        "immutable": True,
        "data": {PARAMETERS_KEY: _b64(json.dumps(job.parameters, separators=(",", ":")))},
    }
    if job.scheduler_access is not None:
        secret["data"][SCHEDULER_TOKEN_KEY] = _b64(job.scheduler_access.token)
    return job_manifest, secret


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret_owned_by(secret: dict[str, Any], job_object: dict[str, Any]) -> dict[str, Any]:
    """The Secret with an ownerReference to the created Job, so it goes with it."""
    meta = job_object["metadata"]
    owned = {**secret, "metadata": {**secret["metadata"], "ownerReferences": [{
        "apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"],
        "controller": True, "blockOwnerDeletion": False,
    }]}}
    return owned
