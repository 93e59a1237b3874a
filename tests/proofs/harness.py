"""One scenario's life: set up, inject the fault, wait for the jobs to settle,
then count what went wrong from what really happened.

The counts (see Result) come from three sources that do not trust each other:
the job processes' own lines (records.py), PostgreSQL (truth.py) and, on the
Kubernetes path, each BackgroundJob's status as the API server returns it.
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.proofs.kube import ProofCluster
from tests.proofs.postgres import ProofPostgres
from tests.proofs.counting import judge
from tests.proofs.records import Execution, read_executions
from tests.proofs.truth import (StoredJob, job_ids_of_recurring, job_ids_of_resources, read_jobs,
                                rows_breaking_state_rules, states)

LINGER_SECONDS = 3  # after settling: time for a late second execution to show itself


@dataclass
class Tracked:
    expected: str                  # "Succeeded" or "Deleted"
    job_id: int | None = None      # None until the store has it (see resolve)
    resource: str | None = None    # its BackgroundJob, on the Kubernetes path
    recurring: str | None = None   # or the recurring job whose fire it is

    @property
    def label(self) -> str:
        return self.resource or self.recurring or ""


# A scenario's own rule for one job: a problem to report, or None.
Rule = Callable[[Tracked, StoredJob, list[Execution]], str | None]


@dataclass
class Scenario:
    name: str
    executor: str                  # "kubernetes" or "local"
    fault: str                     # what is done to it, for the table's reader
    run: Callable[[Context], None]
    # Whether a run may legitimately execute again: its executor was lost before
    # it could report (DESIGN "Guarantees"), e.g. a killed engine or an evicted pod.
    allows_rerun: bool = False
    settle_timeout: float = 120


@dataclass
class Context:
    scenario: Scenario
    directory: Path
    postgres: ProofPostgres
    database_url: str
    cluster: ProofCluster | None = None
    namespace: str = ""
    jobs: list[Tracked] = field(default_factory=list)
    fault_end: float | None = None     # wall clock; recovery is counted from here
    notes: list[str] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    # Like rules, but what they find is noted, not counted: behaviour worth knowing
    # that the table's definitions do not cover (e.g. an attempt used by a transient error).
    observations: list[Rule] = field(default_factory=list)
    cleanup: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def work_log(self) -> Path:
        return self.directory / "work.jsonl"

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"    {text}", flush=True)

    def fault_over(self) -> None:
        self.fault_end = time.time()

    def executions(self) -> dict[int, list[Execution]]:
        return read_executions(self.work_log)


@dataclass
class Result:
    name: str
    executor: str
    jobs: int
    lost: int                # never reached the expected final state, or (expected Succeeded) never completed
    ran_twice: int           # executed more than once in total
    rerun_after_loss: int    # of those: every execution but the last was cut off before it finished
    overlapping: int         # two executions alive at the same time
    mismatches: int          # store state, resource status or history not what was expected
    recover_s: float | None  # from the fault's end to the last job's final state
    allows_rerun: bool
    fault: str
    seconds: float
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def defective(self) -> bool:
        unexplained_reruns = self.ran_twice - (self.rerun_after_loss if self.allows_rerun else 0)
        return bool(self.lost or self.overlapping or self.mismatches or unexplained_reruns or self.error)

    def json(self) -> dict:
        keys = ("name", "executor", "jobs", "lost", "ran_twice", "overlapping", "mismatches", "recover_s",
                "rerun_after_loss", "allows_rerun")
        data = asdict(self)
        return {k: data[k] for k in keys} | ({"error": self.error} if self.error else {})


def run_scenario(scenario: Scenario, base: Path, postgres: ProofPostgres, cluster: ProofCluster | None) -> Result:
    directory = base / scenario.name
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():
        if stale.is_file():
            stale.unlink()
    started = time.time()
    ctx = Context(scenario, directory, postgres, postgres.fresh_database(scenario.name), cluster)
    error, result = None, None
    try:
        with ctx.cleanup:
            if cluster is not None:
                ctx.namespace = f"proof-{scenario.name}"[:63]
                cluster.proxy.reset()
                cluster.create_namespace(ctx.namespace)
                ctx.cleanup.callback(cluster.delete_namespace, ctx.namespace)
                ctx.cleanup.callback(cluster.proxy.reset)
            try:
                scenario.run(ctx)
            except Exception:  # the scenario could not do what it meant to: say so, still count
                error = traceback.format_exc(limit=4).strip().splitlines()[-1]
                ctx.note(f"ERROR: {error}")
                (directory / "error.txt").write_text(traceback.format_exc())
            settle(ctx)
            result = evaluate(ctx, started, error)
    finally:
        # The database of a scenario that found something stays, as evidence.
        if result is not None and not result.defective:
            postgres.drop_database(ctx.database_url)
    (directory / "result.json").write_text(json.dumps(asdict(result), indent=2, default=str))
    return result


def resolve(ctx: Context) -> None:
    """Fills in the job ids of resources and fires the store did not have when they were tracked."""
    names = [j.resource for j in ctx.jobs if j.job_id is None and j.resource]
    found = job_ids_of_resources(ctx.database_url, ctx.namespace, names) if names else {}
    for job in ctx.jobs:
        if job.job_id is None and job.resource:
            job.job_id = found.get(job.resource)
        elif job.job_id is None and job.recurring:
            fired = job_ids_of_recurring(ctx.database_url, job.recurring)
            job.job_id = fired[0] if fired else None


def settle(ctx: Context) -> None:
    """Waits until every job is in its expected state (store and resource), then lingers."""
    deadline = time.monotonic() + ctx.scenario.settle_timeout
    while ctx.jobs and time.monotonic() < deadline:
        try:
            resolve(ctx)
            current = states(ctx.database_url, [j.job_id for j in ctx.jobs if j.job_id is not None])
        except Exception:  # the database may still be coming back
            current = {}
        if all(current.get(j.job_id) == j.expected for j in ctx.jobs) and _resources_settled(ctx):
            break
        time.sleep(0.5)
    time.sleep(LINGER_SECONDS)


def _resources_settled(ctx: Context) -> bool:
    if ctx.cluster is None:
        return True
    for job in ctx.jobs:
        if job.resource is None:
            continue
        body = ctx.cluster.background_job(ctx.namespace, job.resource)
        if job.expected == "Deleted":
            if body is not None:
                return False
        elif ((body or {}).get("status") or {}).get("phase") != job.expected:
            return False
    return True


def evaluate(ctx: Context, started: float, error: str | None) -> Result:
    resolve(ctx)
    executions = ctx.executions()
    stored = read_jobs(ctx.database_url, [j.job_id for j in ctx.jobs if j.job_id is not None])
    lost = ran_twice = after_loss = overlapping = mismatches = 0
    problems: list[str] = []
    lines: list[str] = []
    observed: list[str] = []
    finished_at: list[float] = []
    for job in ctx.jobs:
        runs = executions.get(job.job_id, []) if job.job_id is not None else []
        row = stored.get(job.job_id) if job.job_id is not None else None
        state = row.state if row else "missing"
        others = _resource_mismatch(ctx, job, state)
        if row is not None:
            others += [p for rule in ctx.rules if (p := rule(job, row, runs))]
            observed += [f"job {job.job_id}: {p}" for rule in ctx.observations if (p := rule(job, row, runs))]
            # DESIGN "Guarantees": a run executed again after its executor was lost says so in its history.
            claims = row.states().count("Processing")
            if len(runs) > claims:
                observed.append(f"job {job.job_id}: executed {len(runs)} times, its history shows {claims} run(s)")
        verdict = judge(job.expected, state, runs, others)
        lost += verdict.lost
        ran_twice += verdict.ran_twice
        after_loss += verdict.ran_twice and verdict.after_loss
        overlapping += verdict.overlapping
        mismatches += verdict.mismatched
        job_problems = verdict.problems
        if row is not None and state == job.expected:
            finished_at.append(row.state_changed_at.timestamp())
        history = f"{row.describe()} [runs {row.runs}, executor_ref {row.executor_ref}]" if row else "no row"
        spans = ", ".join(f"pid {r.pid} attempt {r.attempt} {r.start - started:.1f}-{r.last - started:.1f}s "
                          f"{r.outcome or 'killed'}" for r in runs)
        evidence = f"history: {history} | executions: {spans or 'none'}"
        name = f"job {job.job_id}{' (' + job.label + ')' if job.label else ''}"
        lines.append(f"{name}: {'; '.join(job_problems) or 'ok'} | {evidence}")
        if job_problems:
            problems.append(f"{name}: {'; '.join(job_problems)} | {evidence}")
    # Any row of the scenario's database, tracked or not (a rerun's, a recurring fire's).
    for text in rows_breaking_state_rules(ctx.database_url):
        mismatches += 1
        problems.append(f"a row breaks its state's rule: {text}")
        lines.append(f"a row breaks its state's rule: {text}")
    for text in observed:
        ctx.note(f"observed: {text}")
    # Every job's history and executions, fine or not, for whoever wants to look again.
    (ctx.directory / "jobs.txt").write_text("\n".join(lines + ctx.notes + _kubernetes_objects(ctx)) + "\n")
    recover = None
    if len(finished_at) == len(ctx.jobs) and ctx.jobs:
        recover = round(max(0.0, max(finished_at) - (ctx.fault_end or started)), 1)
    return Result(ctx.scenario.name, ctx.scenario.executor, len(ctx.jobs), lost, ran_twice, after_loss, overlapping,
                  mismatches, recover, ctx.scenario.allows_rerun, ctx.scenario.fault, round(time.time() - started, 1),
                  problems, ctx.notes, error)


def _resource_mismatch(ctx: Context, job: Tracked, state: str) -> list[str]:
    if ctx.cluster is None or job.resource is None:
        return []
    body = ctx.cluster.background_job(ctx.namespace, job.resource)
    if job.expected == "Deleted":
        return [] if body is None else [f"BackgroundJob still there, phase {(body.get('status') or {}).get('phase')}"]
    phase = ((body or {}).get("status") or {}).get("phase")
    return [] if phase == job.expected else [f"BackgroundJob phase {phase}, expected {job.expected}"]


def _kubernetes_objects(ctx: Context) -> list[str]:
    """The namespace's Jobs and pods as the scenario left them (the namespace goes next)."""
    if ctx.cluster is None:
        return []
    lines = []
    for job in ctx.cluster.jobs(ctx.namespace):
        spec, status = job.get("spec") or {}, job.get("status") or {}
        done = [c["type"] for c in status.get("conditions") or () if c.get("status") == "True"]
        lines.append(f"Job {job['metadata']['name']}: suspend {spec.get('suspend')}, ttl {spec.get('ttlSecondsAfterFinished')}, "
                     f"conditions {done}, created {job['metadata'].get('creationTimestamp')}")
    for pod in ctx.cluster.pods(ctx.namespace):
        lines.append(f"Pod {pod['metadata']['name']}: {(pod.get('status') or {}).get('phase')}, "
                     f"created {pod['metadata'].get('creationTimestamp')}")
    return lines
