"""The CRDs in crds/: valid, structural, documented, and matching their samples.

Samples are validated with jsonschema against each CRD's openAPIV3Schema, made
as strict as the API server: unknown fields are errors (kubectl's default
field validation), and `date-time` is checked. CEL rules cannot be evaluated
here (no CEL engine), so their presence is asserted instead.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"
SAMPLE_DIR = CRD_DIR / "samples"
KUBERNETES_VERSION = "1.33"

# Keywords of apiextensions.k8s.io/v1 JSONSchemaProps that a structural schema
# may use; $ref, definitions, patternProperties and the like are refused.
STRUCTURAL_KEYWORDS = {
    "type", "format", "description", "title", "default", "enum", "nullable",
    "maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum", "multipleOf",
    "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
    "maxProperties", "minProperties", "required", "items", "properties",
    "additionalProperties", "allOf", "anyOf", "oneOf", "not",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource", "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys", "x-kubernetes-map-type", "x-kubernetes-validations",
}


def load_crds() -> dict[str, dict[str, Any]]:
    crds = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert len(docs) == 1, f"{path.name}: one CRD per file"
        crds[docs[0]["spec"]["names"]["kind"]] = docs[0]
    return crds


CRDS = load_crds()


def schema_of(kind: str) -> dict[str, Any]:
    (version,) = CRDS[kind]["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its dotted path ('[]' for list items, '{}' for map values)."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")
    for keyword in ("anyOf", "allOf", "oneOf"):
        for i, child in enumerate(node.get(keyword, [])):
            yield from walk(child, f"{path}<{keyword}{i}>")


def strict(node: dict[str, Any]) -> dict[str, Any]:
    """The schema as the API server applies it: fields not declared are rejected."""
    node = copy.deepcopy(node)
    for _, sub in walk(node):
        if "properties" in sub and not sub.get("x-kubernetes-preserve-unknown-fields"):
            sub.setdefault("additionalProperties", False)
    return node


FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None or "T" not in value.upper():
        raise ValueError("an RFC 3339 date-time needs a date, a time and an offset")
    return True


def validator_for(kind: str) -> jsonschema.Validator:
    # OpenAPI v3.0 schemas are JSON Schema draft 4 plus extensions; x-kubernetes-*
    # keywords are unknown to jsonschema and so act as annotations.
    return jsonschema.Draft4Validator(strict(schema_of(kind)), format_checker=FORMATS)


def errors(kind: str, obj: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator_for(kind).iter_errors(obj)]


def load_samples() -> list[tuple[str, dict[str, Any]]]:
    samples = []
    for path in sorted(SAMPLE_DIR.glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                samples.append((f"{path.name}#{i}", doc))
    return samples


SAMPLES = load_samples()


def sample(kind: str, name: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for _, d in SAMPLES if d["kind"] == kind and d["metadata"]["name"] == name))


# -- the CRDs themselves ---------------------------------------------------


def test_both_crds_exist() -> None:
    assert set(CRDS) == {"BackgroundJob", "RecurringJob"}


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_crd_is_a_valid_apiextensions_v1_object(kind: str) -> None:
    kubernetes_validate.validate(CRDS[kind], KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    ("kind", "plural", "short"),
    [("BackgroundJob", "backgroundjobs", "bj"), ("RecurringJob", "recurringjobs", "rj")],
)
def test_crd_names_scope_and_subresources(kind: str, plural: str, short: str) -> None:
    crd = CRDS[kind]
    spec = crd["spec"]
    assert crd["metadata"]["name"] == f"{plural}.jobs.craft.dev"
    assert spec["group"] == "jobs.craft.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["plural"] == plural
    assert spec["names"]["shortNames"] == [short]
    assert spec["names"]["categories"] == ["craftjobs"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_schema_is_structural_and_documented(kind: str) -> None:
    problems = []
    for path, node in walk(schema_of(kind)):
        unknown = set(node) - STRUCTURAL_KEYWORDS
        if unknown:
            problems.append(f"{path}: keywords not allowed in a structural schema: {sorted(unknown)}")
        in_int_or_string = "<anyOf" in path
        if "type" not in node and not node.get("x-kubernetes-int-or-string") and not in_int_or_string:
            problems.append(f"{path}: no type")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: properties and additionalProperties are mutually exclusive")
        if node.get("x-kubernetes-list-type") == "map":
            keys = node.get("x-kubernetes-list-map-keys", [])
            if not keys or not set(keys) <= set(node["items"].get("required", [])):
                problems.append(f"{path}: list-map keys must be required fields of the items")
        # Scalar list items and map values are documented by their field.
        element = path.endswith(("[]", "{}")) and node.get("type") != "object"
        documented = path.count(".") == 0 or path == ".metadata" or in_int_or_string or element
        if not documented and not node.get("description"):
            problems.append(f"{path}: no description (kubectl explain shows nothing)")
        if "default" in node:
            # The API server refuses defaults that do not validate against their own schema.
            for err in jsonschema.Draft4Validator(node).iter_errors(node["default"]):
                problems.append(f"{path}: default {node['default']!r} invalid: {err.message}")
        for name in node.get("required", []):
            if name not in node.get("properties", {}):
                problems.append(f"{path}: required field {name} is not declared")
    assert problems == []


def printer_columns(kind: str) -> dict[str, tuple[str, str]]:
    (version,) = CRDS[kind]["spec"]["versions"]
    return {c["name"]: (c["jsonPath"], c["type"]) for c in version["additionalPrinterColumns"]}


def test_printer_columns() -> None:
    assert printer_columns("BackgroundJob") == {
        "Phase": (".status.phase", "string"),
        "Type": (".spec.jobType", "string"),
        "Tenant": (".status.tenant", "string"),
        "Attempts": (".status.attempts", "integer"),
        "Age": (".metadata.creationTimestamp", "date"),
    }
    assert printer_columns("RecurringJob") == {
        "Schedule": (".spec.schedule", "string"),
        "Interval": (".spec.intervalMinutes", "integer"),
        "TimeZone": (".spec.timeZone", "string"),
        "Suspend": (".spec.suspend", "boolean"),
        "Last": (".status.lastScheduleTime", "date"),
        "Next": (".status.nextScheduleTime", "string"),
        "Age": (".metadata.creationTimestamp", "date"),
    }


def test_printer_columns_point_at_declared_fields() -> None:
    for kind in CRDS:
        declared = {path for path, _ in walk(schema_of(kind))}
        for _, (json_path, _) in printer_columns(kind).items():
            if json_path != ".metadata.creationTimestamp":
                assert json_path in declared, f"{kind}: {json_path}"


def test_phase_enum_is_the_job_state_enum() -> None:
    from craft_jobs.states import JobState

    states = [s.value for s in JobState]
    assert schema_of("BackgroundJob")["properties"]["status"]["properties"]["phase"]["enum"] == states
    last_job = schema_of("RecurringJob")["properties"]["status"]["properties"]["lastJob"]
    assert last_job["properties"]["phase"]["enum"] == states


def test_job_template_has_the_background_job_fields_except_timing() -> None:
    job_spec = schema_of("BackgroundJob")["properties"]["spec"]
    template = schema_of("RecurringJob")["properties"]["spec"]["properties"]["jobTemplate"]
    timing = {"delay", "runAt", "continueAfter"}
    assert set(template["properties"]) == set(job_spec["properties"]) - timing
    for name, field in template["properties"].items():
        assert field == job_spec["properties"][name], f"jobTemplate.{name} drifted from spec.{name}"
    assert template["required"] == ["jobType"]


def rules_at(kind: str, path: str) -> set[str]:
    node = dict(walk(schema_of(kind)))[path]
    return {v["rule"] for v in node.get("x-kubernetes-validations", [])}


def test_cel_rules_guard_the_cross_field_combinations() -> None:
    assert "!(has(self.delay) && has(self.runAt))" in rules_at("BackgroundJob", ".spec")
    assert "self == oldSelf" in rules_at("BackgroundJob", ".spec"), "a BackgroundJob's spec is immutable"
    assert "self == oldSelf" not in rules_at("RecurringJob", ".spec"), "a RecurringJob's schedule may change"
    backoff_rule = "!has(self.baseSeconds) || !has(self.maxSeconds) || self.baseSeconds <= self.maxSeconds"
    assert backoff_rule in rules_at("BackgroundJob", ".spec.retry.backoff")
    assert backoff_rule in rules_at("RecurringJob", ".spec.jobTemplate.retry.backoff")
    assert "has(self.schedule) != has(self.intervalMinutes)" in rules_at("RecurringJob", ".spec")
    assert "!(has(self.value) && has(self.valueFrom))" in rules_at("BackgroundJob", ".spec.pod.env[]")
    # The job context comes from the operator; a spec must not be able to forge the tenant or user.
    (context_rule,) = rules_at("BackgroundJob", ".spec.pod.env[]") - {"!(has(self.value) && has(self.valueFrom))"}
    from craft_jobs.kube.manifest import RESERVED_ENV

    assert set(re.findall(r"'([A-Z_]+)'", context_rule)) == set(RESERVED_ENV)


def test_lists_under_cel_rules_are_bounded() -> None:
    # The API server estimates a rule's cost from maxItems/maxLength; unbounded lists can exceed the budget.
    for kind in CRDS:
        for path, node in walk(schema_of(kind)):
            if node.get("type") == "array":
                assert "maxItems" in node, f"{kind} {path}"


# -- samples ---------------------------------------------------------------


def test_samples_cover_every_kind_of_job() -> None:
    jobs = [d for _, d in SAMPLES if d["kind"] == "BackgroundJob"]
    recurring = [d for _, d in SAMPLES if d["kind"] == "RecurringJob"]
    specs = [d["spec"] for d in jobs]
    assert any(not {"delay", "runAt", "continueAfter"} & set(s) for s in specs)
    assert any("delay" in s for s in specs)
    assert any("runAt" in s for s in specs)
    assert any("continueAfter" in s for s in specs)
    assert any("retry" in s and "pod" in s for s in specs)
    assert any("schedule" in d["spec"] and d["spec"].get("timeZone") not in (None, "UTC") for d in recurring)
    assert any("intervalMinutes" in d["spec"] for d in recurring)


def test_samples_use_the_local_sample_job_types() -> None:
    types = {d["spec"]["jobType"] for _, d in SAMPLES if d["kind"] == "BackgroundJob"}
    types |= {d["spec"]["jobTemplate"]["jobType"] for _, d in SAMPLES if d["kind"] == "RecurringJob"}
    assert types <= {"hello", "send-report", "flaky", "always-fails", "slow", "cleanup"}


@pytest.mark.parametrize(("name", "doc"), SAMPLES, ids=[n for n, _ in SAMPLES])
def test_sample_validates_against_its_crd(name: str, doc: dict[str, Any]) -> None:
    assert doc["apiVersion"] == "jobs.craft.dev/v1alpha1"
    assert errors(doc["kind"], doc) == []


def sample_parameters() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for name, doc in SAMPLES:
        spec = doc["spec"]["jobTemplate"] if doc["kind"] == "RecurringJob" else doc["spec"]
        out.append((name, spec["jobType"], spec.get("parameters", {})))
    return out


@pytest.mark.parametrize(("name", "job_type", "parameters"), sample_parameters(), ids=[n for n, _, _ in sample_parameters()])
def test_sample_parameters_fit_the_sample_job_classes(name: str, job_type: str, parameters: dict[str, Any]) -> None:
    import craft_jobs.samples.jobs  # noqa: F401  (registers the sample job types)
    from craft_jobs_runner.registry import get_job_class

    model = get_job_class(job_type).Parameters
    # Unknown keys would be dropped silently by pydantic: a typo must show here.
    assert set(parameters) <= set(model.model_fields), f"{name}: {set(parameters) - set(model.model_fields)}"
    model.model_validate(parameters)


@pytest.mark.parametrize("job_type", ["hello", "send-report", "a", "A.b_c-9", "x" * 63, "x" * 64, "-x", "x-", "a b", "", "é"])
def test_job_type_rule_matches_the_runner(job_type: str) -> None:
    # The runner's own rule (checked when a Job class is defined): a CR whose
    # type no class could ever register under is refused at kubectl apply.
    from craft_jobs_runner.job import _JOB_TYPE_PATTERN

    job = sample("BackgroundJob", "hello-world")
    job["spec"]["jobType"] = job_type
    accepted = errors("BackgroundJob", job) == []
    assert accepted == bool(_JOB_TYPE_PATTERN.fullmatch(job_type)), job_type


def test_continuation_parent_is_in_the_same_file() -> None:
    names = {d["metadata"]["name"] for _, d in SAMPLES if d["kind"] == "BackgroundJob"}
    for _, doc in SAMPLES:
        parent = doc["spec"].get("continueAfter", {}).get("name")
        if parent:
            assert parent in names


# -- invalid objects are refused -------------------------------------------


def without(obj: dict[str, Any], *path: str) -> dict[str, Any]:
    node = obj
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return obj


def test_missing_job_type_is_refused() -> None:
    assert any("'jobType' is a required property" in e for e in errors("BackgroundJob", without(sample("BackgroundJob", "hello-world"), "spec", "jobType")))
    recurring = without(sample("RecurringJob", "weekday-report"), "spec", "jobTemplate", "jobType")
    assert any("'jobType' is a required property" in e for e in errors("RecurringJob", recurring))


def test_max_attempts_above_ten_is_refused() -> None:
    job = sample("BackgroundJob", "flaky-with-retry")
    job["spec"]["retry"]["maxAttempts"] = 11
    assert errors("BackgroundJob", job) == ["spec/retry/maxAttempts: 11 is greater than the maximum of 10"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("delay", "10 minutes"),
        ("delay", "m"),
        ("delay", "10m2h"),  # units must come largest first
        ("runAt", "tomorrow"),
        ("runAt", "2030-01-01T03:00:00"),  # no offset
        ("jobType", "rm -rf /"),
        ("jobType", "x" * 64),
        ("jobType", "-starts-with-dash"),
        ("queue", ""),
        ("timeoutSeconds", 0),
        ("metadata", {"owner": 7}),
        ("unknownField", True),
    ],
)
def test_bad_background_job_fields_are_refused(field: str, value: object) -> None:
    job = sample("BackgroundJob", "hello-world")
    job["spec"][field] = value
    assert errors("BackgroundJob", job), f"{field}={value!r} was accepted"


@pytest.mark.parametrize("delay", ["90s", "10m", "2h", "1d", "1h30m", "1d2h3m4s"])
def test_documented_delay_forms_are_accepted(delay: str) -> None:
    job = sample("BackgroundJob", "send-report-later")
    job["spec"]["delay"] = delay
    assert errors("BackgroundJob", job) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("retry", "backoff", "jitter"), 1.5),
        (("retry", "backoff", "maxSeconds"), 86401),
        (("retry", "backoff", "baseSeconds"), 0),
        (("retry", "nonRetryableExitCodes"), [0]),
        (("retry", "nonRetryableExitCodes"), [256]),
        (("pod", "env"), [{"value": "no name"}]),
        (("pod", "envFrom"), [{"configMapRef": {"name": "x"}}]),
        (("pod", "tolerations"), [{"key": "k", "operator": "Sometimes"}]),
        (("pod", "resources", "limits", "memory"), "lots"),
    ],
)
def test_bad_retry_and_pod_fields_are_refused(path: tuple[str, ...], value: object) -> None:
    job = sample("BackgroundJob", "flaky-with-retry")
    node = job["spec"]
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    assert errors("BackgroundJob", job), f"{'.'.join(path)}={value!r} was accepted"


def test_continuation_condition_is_an_enum() -> None:
    job = sample("BackgroundJob", "report-after-slow")
    job["spec"]["continueAfter"]["on"] = "Failed"
    assert errors("BackgroundJob", job)
    job["spec"]["continueAfter"] = {"on": "Finished"}
    assert any("'name' is a required property" in e for e in errors("BackgroundJob", job))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("intervalMinutes", 0),
        ("intervalMinutes", 525601),
        ("concurrencyPolicy", "Sometimes"),
        ("suspend", "yes"),
        ("startingDeadlineSeconds", -1),
        ("successfulJobsHistoryLimit", 101),
        ("failedJobsHistoryLimit", -1),
    ],
)
def test_bad_recurring_job_fields_are_refused(field: str, value: object) -> None:
    job = sample("RecurringJob", "cleanup-every-15-minutes")
    job["spec"][field] = value
    assert errors("RecurringJob", job), f"{field}={value!r} was accepted"


def test_recurring_defaults_follow_cronjob() -> None:
    spec = schema_of("RecurringJob")["properties"]["spec"]["properties"]
    assert spec["timeZone"]["default"] == "UTC"
    assert spec["concurrencyPolicy"]["default"] == "Allow"
    assert spec["suspend"]["default"] is False
    assert spec["successfulJobsHistoryLimit"]["default"] == 3
    assert spec["failedJobsHistoryLimit"]["default"] == 1
    job_spec = schema_of("BackgroundJob")["properties"]["spec"]["properties"]
    assert job_spec["queue"]["default"] == "default"
    assert job_spec["continueAfter"]["properties"]["on"]["default"] == "Succeeded"


def test_status_conditions_have_the_metav1_condition_shape() -> None:
    for kind in CRDS:
        conditions = schema_of(kind)["properties"]["status"]["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        item = conditions["items"]
        assert set(item["properties"]) == {"type", "status", "observedGeneration", "lastTransitionTime", "reason", "message"}
        assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
        condition = {"type": "Ready", "status": "True", "lastTransitionTime": "2030-01-01T00:00:00Z", "reason": "Scheduled", "message": ""}
        assert list(jsonschema.Draft4Validator(item, format_checker=FORMATS).iter_errors(condition)) == []
        assert list(jsonschema.Draft4Validator(item).iter_errors({**condition, "status": "Maybe"}))


# -- what the operator writes fits the status schema -------------------------
# The status subresource prunes fields the schema does not declare, silently:
# a status the operator builds must validate, or a column would stay empty.


def without_nones(value: Any) -> Any:
    """A merge patch's None deletes the field; what is stored has no None."""
    if isinstance(value, dict):
        return {k: without_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nones(v) for v in value]
    return value


def status_errors(kind: str, status: dict[str, Any]) -> list[str]:
    schema = strict(schema_of(kind)["properties"]["status"])
    validator = jsonschema.Draft4Validator(schema, format_checker=FORMATS)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(without_nones(status))]


def test_operator_background_job_status_fits_the_crd() -> None:
    from craft_jobs.kube.cr_status import JobSnapshot, background_job_status
    from craft_jobs.states import JobState

    now = dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.timezone.utc)
    error = {"type": "ValueError", "message": "the input file is corrupt", "exit_code": 3}
    for state in JobState:
        job = JobSnapshot(
            id=42, state=state, attempt=2, runs=3, tenant_id="team-a", user_id="user-a@example.com",
            started_at=now, finished_at=now, state_changed_at=now, last_error=error,
        )
        status = background_job_status(job, now, generation=7)
        assert status_errors("BackgroundJob", status) == [], state
        assert status["phase"] == state.value


def test_operator_recurring_job_status_fits_the_crd() -> None:
    from types import SimpleNamespace

    from craft_jobs.kube.cr_status import recurring_job_status
    from craft_jobs.states import JobState

    now = dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.timezone.utc)
    for paused, schedule_error in [(False, None), (True, None), (False, "'61 * * * *' is not a cron expression")]:
        recurring = SimpleNamespace(
            last_run_at=now, next_run_at=now + dt.timedelta(hours=1), paused=paused,
            last_job_id=42, last_job_state=JobState.PROCESSING, schedule_error=schedule_error,
        )
        assert status_errors("RecurringJob", recurring_job_status(recurring, now, generation=3)) == []


def test_the_packaged_crds_are_byte_identical() -> None:
    """`craft-jobs apply` validates fields against the copies shipped in the package."""
    import filecmp

    from craft_jobs.kube.fields import CRD_DIR as PACKAGED

    names = sorted(p.name for p in CRD_DIR.glob("*.yaml"))
    assert names and sorted(p.name for p in PACKAGED.glob("*.yaml")) == names
    for name in names:
        assert filecmp.cmp(CRD_DIR / name, PACKAGED / name, shallow=False), f"copy {name} to {PACKAGED}"
