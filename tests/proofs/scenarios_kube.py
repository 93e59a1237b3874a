"""Fault scenarios on the Kubernetes path: BackgroundJobs on the local control
plane, `craft-jobs operator` as a process behind the fault proxy.

Every job is a BackgroundJob of type proof-work. Retries wait 1 s instead of
10 (spec.retry.backoff), only to keep the run short.
"""

from __future__ import annotations

import json
import time

from tests.proofs import rules
from tests.proofs.apiproxy import SWALLOW, Faults, Hook
from tests.proofs.harness import Context, Scenario, Tracked
from tests.proofs.steps import (
    create_background_jobs,
    kill_operator,
    kubernetes_jobs_finished,
    postgres_away,
    restart_operator,
    start_operator,
    wait_all_started,
    wait_dead,
    wait_until,
)

FAST_RETRY = {"retry": {"maxAttempts": 3, "backoff": {"baseSeconds": 1, "maxSeconds": 5}}}
# Errors of the Kubernetes API or its transport, which must never use an attempt.
API_ERROR_TYPES = ("ProtocolError", "ReadTimeoutError", "MaxRetryError", "TransportError",
                   "KubeApiError", "InternalError", "JobCreateFailed")


def _jobs_path(ctx: Context) -> str:
    return f"/apis/batch/v1/namespaces/{ctx.namespace}/jobs"


def _kill_and_swallow(operator):
    def action():
        kill_operator(operator)
        return SWALLOW
    return action


# -- kill -9 at chosen points ----------------------------------------------------------------


def kill_between_job_and_secret(ctx: Context) -> None:
    """The operator dies the moment the API server has made a Job (suspended), before
    it hears so: no Secret, no resume. The next operator must remove that Job and run
    the work once."""
    operator = start_operator(ctx)
    ctx.cluster.proxy.add_hook(Hook("response", lambda method, path, query, body, status, answer:
                                    method == "POST" and path == _jobs_path(ctx) and status == 201,
                                    _kill_and_swallow(operator)))
    create_background_jobs(ctx, [3] * 6, **FAST_RETRY)
    wait_dead(operator)
    ctx.note(f"killed after the first Job was created; Jobs now: {len(ctx.cluster.jobs(ctx.namespace))}")
    restart_operator(ctx, operator, pause=1)
    ctx.rules.append(rules.no_suspended_leftover(ctx))


def kill_while_running(ctx: Context) -> None:
    """Jobs longer than the rescue delay (10 s): the next operator adopts them running."""
    operator = start_operator(ctx)
    jobs = create_background_jobs(ctx, [16] * 6, **FAST_RETRY)
    wait_all_started(ctx, jobs)
    kill_operator(operator)
    ctx.note("killed with all 6 jobs running")
    restart_operator(ctx, operator, pause=2)


def kill_while_finishing(ctx: Context) -> None:
    """The operator dies as the first Job's Complete condition reaches it (it never
    hears it); more Jobs finish while no operator runs."""
    operator = start_operator(ctx)

    def completes(path, event) -> bool:
        conditions = ((event.get("object") or {}).get("status") or {}).get("conditions") or ()
        return path == _jobs_path(ctx) and any(c.get("type") == "Complete" and c.get("status") == "True" for c in conditions)
    ctx.cluster.proxy.add_hook(Hook("event", completes, _kill_and_swallow(operator)))
    create_background_jobs(ctx, [3, 3.5, 4, 4.5, 5, 5.5], **FAST_RETRY)
    wait_dead(operator, timeout=90)
    ctx.note("killed as the first Complete event arrived")
    restart_operator(ctx, operator, pause=3)


def kill_while_deleting(ctx: Context) -> None:
    """BackgroundJobs deleted while they run; the operator dies as the first DELETED
    event reaches it (it never hears it). The garbage collector removes the Jobs; the
    next operator finds the deletions by itself, and must not run the work again."""
    from craft_jobs.kube.api import GROUP, VERSION

    operator = start_operator(ctx)
    jobs = create_background_jobs(ctx, [60] * 4, **FAST_RETRY)
    for job in jobs:
        job.expected = "Deleted"
    wait_all_started(ctx, jobs)
    resources = f"/apis/{GROUP}/{VERSION}/namespaces/{ctx.namespace}/backgroundjobs"
    ctx.cluster.proxy.add_hook(Hook("event", lambda path, event: path == resources and event.get("type") == "DELETED",
                                    _kill_and_swallow(operator)))
    deleted_at = time.time()
    for job in jobs:
        ctx.cluster.delete_background_job(ctx.namespace, job.resource)
    wait_dead(operator)
    ctx.note("killed as the first DELETED event reached it")
    restart_operator(ctx, operator, pause=1)
    ctx.rules += [rules.deleted_once, rules.work_stopped(deleted_at)]


def kill_while_recurring_fires(ctx: Context) -> None:
    """`jobs.craft.dev/trigger` on a RecurringJob; the operator dies as the API server
    confirms the annotation's removal (an operator that removed it before storing the
    fire lost the trigger here; the fire must be stored first)."""
    from craft_jobs.kube.api import GROUP, VERSION

    operator = start_operator(ctx)
    name = "fire"
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{ctx.namespace}/recurringjobs"
    ctx.cluster.request("POST", path, body={
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "RecurringJob", "metadata": {"name": name, "namespace": ctx.namespace},
        # Once a year: only the trigger fires it during the scenario.
        "spec": {"schedule": "0 0 1 1 *", "jobTemplate": {
            "jobType": "proof-work", "parameters": {"log": str(ctx.work_log), "seconds": 2},
            "pod": {"env": [{"name": "CRAFT_JOB_MODULES", "value": "tests.proofs.work"}]}, **FAST_RETRY}}})
    recurring = f"{ctx.namespace}/{name}"
    wait_until(lambda: _recurring_stored(ctx, recurring), 30, "the RecurringJob to be stored")
    def removes_trigger(method, p, query, body, status, answer) -> bool:
        if method != "PATCH" or p != f"{path}/{name}" or status != 200:
            return False
        annotations = (json.loads(body).get("metadata") or {}).get("annotations") or {}
        return "jobs.craft.dev/trigger" in annotations and annotations["jobs.craft.dev/trigger"] is None
    ctx.cluster.proxy.add_hook(Hook("response", removes_trigger, _kill_and_swallow(operator)))
    ctx.jobs.append(Tracked("Succeeded", recurring=recurring))
    ctx.cluster.request("PATCH", f"{path}/{name}", body={"metadata": {"annotations": {"jobs.craft.dev/trigger": "now"}}},
                        content_type="application/merge-patch+json")
    wait_dead(operator)
    ctx.note("killed as the trigger annotation's removal was confirmed")
    restart_operator(ctx, operator, pause=1)
    annotations = (ctx.cluster.get(f"{path}/{name}") or {}).get("metadata", {}).get("annotations") or {}
    ctx.note(f"after the restart the RecurringJob {'still has' if 'jobs.craft.dev/trigger' in annotations else 'has no'} "
             "trigger annotation")
    ctx.rules.append(rules.fired_once(ctx, recurring))


def _recurring_stored(ctx: Context, recurring_id: str) -> bool:
    import psycopg

    with psycopg.connect(ctx.database_url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM craft_jobs.recurring_jobs WHERE id = %s", (recurring_id,)).fetchone() is not None


# -- replicas ----------------------------------------------------------------------------------


def replicas_one_killed(ctx: Context) -> None:
    """Two operators on one namespace, as two replicas of the chart's Deployment: both
    hear every event, so their creates of each Job and Secret meet on the API server
    (409 AlreadyExists). One is killed -9 with every job running, more jobs come while
    only the other runs, then the killed one comes back as its Deployment restarts it."""
    first = start_operator(ctx, log="operator-a.log")
    start_operator(ctx, log="operator-b.log")
    jobs = create_background_jobs(ctx, [8, 9, 10, 11, 12, 13], **FAST_RETRY)
    wait_all_started(ctx, jobs)
    kill_operator(first)
    ctx.note("two replicas; killed one with all 6 jobs running")
    create_background_jobs(ctx, [2, 3, 4], prefix="alone-", **FAST_RETRY)
    restart_operator(ctx, first, pause=2)
    create_background_jobs(ctx, [2, 3], prefix="again-", **FAST_RETRY)
    ctx.note(f"Kubernetes Jobs at the end: {len(ctx.cluster.jobs(ctx.namespace))} for {len(ctx.jobs)} BackgroundJobs")


def rolling_update(ctx: Context) -> None:
    """A Deployment's rolling update (maxSurge 1): the new operator starts beside the old
    one while jobs run, jobs are created while both run, then the old one gets SIGTERM
    (and, its grace over, goes) with some of them still running."""
    old = start_operator(ctx, log="operator-old.log")
    jobs = create_background_jobs(ctx, [14] * 3, **FAST_RETRY)
    wait_all_started(ctx, jobs)
    start_operator(ctx, log="operator-new.log")
    create_background_jobs(ctx, [3, 4, 5, 6], prefix="both-", **FAST_RETRY)
    time.sleep(2)
    old.stop()
    ctx.note("new operator started beside the old one with 3 jobs running; 4 created while both ran; old stopped")
    create_background_jobs(ctx, [2, 3], prefix="new-", **FAST_RETRY)
    ctx.fault_over()


# -- stops and deletions ----------------------------------------------------------------------


def finish_while_stopped(ctx: Context) -> None:
    """SIGTERM while jobs run (longer than the operator's 10 s stop grace); the Jobs
    finish while no operator runs; the next operator takes their outcomes."""
    operator = start_operator(ctx)
    jobs = create_background_jobs(ctx, [16] * 5, **FAST_RETRY)
    wait_all_started(ctx, jobs)
    operator.stop()
    ctx.note("operator stopped (SIGTERM) with 5 jobs running")
    wait_until(lambda: kubernetes_jobs_finished(ctx), 60, "the Jobs to finish while no operator runs")
    ctx.note("all Kubernetes Jobs finished while no operator ran")
    restart_operator(ctx, operator)


def delete_while_running(ctx: Context) -> None:
    start_operator(ctx)
    jobs = create_background_jobs(ctx, [60] * 4, **FAST_RETRY)
    for job in jobs:
        job.expected = "Deleted"
    wait_all_started(ctx, jobs)
    deleted_at = time.time()
    for job in jobs:
        ctx.cluster.delete_background_job(ctx.namespace, job.resource)
    ctx.fault_over()
    ctx.rules += [rules.deleted_once, rules.work_stopped(deleted_at)]


def job_deleted_behind_its_back(ctx: Context) -> None:
    """Someone deletes the Kubernetes Jobs of running work: each run ends as a failed
    attempt saying so (JobDeleted) and is retried; nothing hangs."""
    start_operator(ctx)
    jobs = create_background_jobs(ctx, [8] * 3, **FAST_RETRY)
    wait_all_started(ctx, jobs)
    for job in ctx.cluster.jobs(ctx.namespace):
        ctx.cluster.delete_job(ctx.namespace, job["metadata"]["name"])
    ctx.fault_over()
    ctx.note("deleted the 3 running Kubernetes Jobs")
    ctx.rules.append(rules.failed_once_with("JobDeleted"))


def secret_deleted_behind_its_back(ctx: Context) -> None:
    """The parameters Secret disappears right after the operator made it: the pod
    cannot start; the start deadline (15 s here) fails the run, which is retried."""
    start_operator(ctx)
    taken: list[str] = []

    def delete_new_secret(method, path, query, body, status, answer) -> bool:
        # Runs in the proxy's thread while the operator waits for this answer.
        if method != "POST" or path != f"/api/v1/namespaces/{ctx.namespace}/secrets" or status != 201 or len(taken) >= 2:
            return False
        taken.append(json.loads(answer)["metadata"]["name"])
        ctx.cluster.delete_secret(ctx.namespace, taken[-1])
        return False  # the operator hears that its Secret was made
    ctx.cluster.proxy.add_hook(Hook("response", delete_new_secret, lambda: None, once=False))
    create_background_jobs(ctx, [3] * 2, **FAST_RETRY)
    wait_until(lambda: len(taken) >= 2, 60, "two Secrets to be deleted")
    ctx.fault_over()
    ctx.note(f"deleted Secrets {', '.join(taken)} as they were made")
    ctx.rules.append(rules.failed_once_with(None))


def evicted_mid_run(ctx: Context) -> None:
    start_operator(ctx)
    jobs = create_background_jobs(ctx, [8] * 3, retry={"maxAttempts": 0, "nonRetryableExitCodes": [137, 143]})
    wait_all_started(ctx, jobs)
    pods = ctx.cluster.running_pods(ctx.namespace)
    for pod in pods:
        ctx.cluster.evict(ctx.namespace, pod["metadata"]["name"])
    ctx.fault_over()
    ctx.note(f"evicted {len(pods)} running pods (maxAttempts 0, 137 and 143 non-retryable)")
    ctx.rules += [rules.no_attempt_used(ctx), rules.history_shows_every_run]


# -- the API misbehaving ------------------------------------------------------------------------


def api_errors(ctx: Context) -> None:
    """A quarter of the operator's requests fail for at least 20 s (longer, up to 45 s,
    until each kind happened once): 500 (before or after the server acted), 409, or no
    answer for 20 s and a dropped connection. Jobs are created throughout, so that the
    faults meet the executor's own writes, not only kopf's and the status sync's."""
    start_operator(ctx)
    proxy = ctx.cluster.proxy
    proxy.set_faults(Faults(share=0.25, kinds=("500", "409", "timeout"), stall_seconds=20))
    began = time.monotonic()
    for i in range(8):
        create_background_jobs(ctx, [3], prefix=f"w{i}-", **FAST_RETRY)
        time.sleep(2.5)
    wait_until(lambda: time.monotonic() - began >= 20 and rules.injected_kinds(ctx) >= {"500", "409", "timeout"},
               45 - (time.monotonic() - began), "each kind of fault to happen once")
    proxy.clear_faults()
    ctx.fault_over()
    ctx.note(f"injected for {time.monotonic() - began:.0f} s: {dict(proxy.injected)}")
    ctx.rules.append(rules.attempt_used_by(API_ERROR_TYPES))  # docs/operator.md: retried, no attempt used


def watch_chaos(ctx: Context) -> None:
    """For 25 s every watch stream of the operator repeats events, swaps them, and
    ends with 410 Gone after 4 s."""
    start_operator(ctx)
    ctx.cluster.proxy.set_faults(Faults(duplicate=0.3, reorder=0.3, expire_after=4))
    create_background_jobs(ctx, [2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5], **FAST_RETRY)
    time.sleep(25)
    ctx.cluster.proxy.clear_faults()
    ctx.fault_over()
    ctx.note(f"injected: {dict(ctx.cluster.proxy.injected)}")
    missing = {"watch-duplicate", "watch-reorder", "watch-410"} - set(ctx.cluster.proxy.injected)
    if missing:
        raise AssertionError(f"the fault did not happen: nothing injected of {sorted(missing)}")


def apiserver_restarted(ctx: Context) -> None:
    """kill -9 of kube-apiserver with jobs running; 60 s without one (longer than
    kopf's own retries of a request, about 54 s), while the Jobs finish (the node
    agent reports their pods once it is back); then the same API server again.
    Every client's watches and requests fail meanwhile."""
    _component_away(ctx, "kube-apiserver", ctx.cluster.plane.restart_apiserver, down_seconds=60)


def etcd_restarted(ctx: Context) -> None:
    """kill -9 of etcd with jobs running; 30 s without it, while the Jobs finish
    (the API server answers, but can store nothing); then the same etcd again."""
    _component_away(ctx, "etcd", ctx.cluster.plane.restart_etcd, down_seconds=30)


def _component_away(ctx: Context, name: str, restart, down_seconds: float) -> None:
    """5 jobs of 8 s started, `restart(down_seconds)` of a control plane
    component, then two BackgroundJobs more."""
    start_operator(ctx)
    jobs = create_background_jobs(ctx, [8] * 5, **FAST_RETRY)
    wait_all_started(ctx, jobs)
    restart(down_seconds=down_seconds)
    ctx.fault_over()
    ctx.note(f"{name} killed with 5 jobs running, back after {down_seconds:.0f} s")
    create_background_jobs(ctx, [2, 3], prefix="after-", **FAST_RETRY)
    ctx.rules.append(rules.attempt_used_by(API_ERROR_TYPES))


# -- PostgreSQL ----------------------------------------------------------------------------------


def postgres_restarted(ctx: Context) -> None:
    start_operator(ctx)
    jobs = create_background_jobs(ctx, [6] * 6, **FAST_RETRY)
    wait_all_started(ctx, jobs)
    ctx.postgres.restart()
    ctx.fault_over()
    ctx.note("PostgreSQL restarted with 6 jobs running")


def postgres_away_30s(ctx: Context) -> None:
    start_operator(ctx)
    jobs = create_background_jobs(ctx, [6] * 6, **FAST_RETRY)
    wait_all_started(ctx, jobs)
    back = postgres_away(ctx, 30)
    ctx.note(f"PostgreSQL stopped for 30 s with 6 jobs running; they finished meanwhile; {back}")


SCENARIOS = [
    Scenario("kube-kill9-job-created", "kubernetes", "kill -9 between a Job and its Secret", kill_between_job_and_secret),
    Scenario("kube-kill9-running", "kubernetes", "kill -9 while jobs run", kill_while_running),
    Scenario("kube-kill9-finishing", "kubernetes", "kill -9 as Jobs complete", kill_while_finishing),
    Scenario("kube-kill9-deleting", "kubernetes", "kill -9 while resources are deleted", kill_while_deleting),
    Scenario("kube-kill9-recurring", "kubernetes", "kill -9 while a recurring job fires (trigger)", kill_while_recurring_fires,
             settle_timeout=25),
    Scenario("kube-replica-kill9", "kubernetes", "two operators; kill -9 of one mid-run", replicas_one_killed),
    Scenario("kube-rolling-update", "kubernetes", "new operator beside the old, then SIGTERM of the old", rolling_update),
    Scenario("kube-finish-while-stopped", "kubernetes", "SIGTERM; Jobs finish with no operator", finish_while_stopped),
    Scenario("kube-delete-running", "kubernetes", "BackgroundJobs deleted while running", delete_while_running),
    Scenario("kube-job-deleted", "kubernetes", "Kubernetes Job deleted behind its back", job_deleted_behind_its_back,
             allows_rerun=True),
    Scenario("kube-secret-deleted", "kubernetes", "Secret deleted before the pod starts", secret_deleted_behind_its_back),
    Scenario("kube-evicted", "kubernetes", "pods evicted mid-run", evicted_mid_run, allows_rerun=True),
    Scenario("kube-api-errors", "kubernetes", "API 500/409/timeouts on 25% for 20-45 s", api_errors, settle_timeout=150),
    Scenario("kube-watch-chaos", "kubernetes", "watch events duplicated, reordered, 410 Gone", watch_chaos),
    Scenario("kube-apiserver-restart", "kubernetes", "kube-apiserver kill -9, away 60 s", apiserver_restarted),
    Scenario("kube-etcd-restart", "kubernetes", "etcd kill -9, away 30 s", etcd_restarted),
    Scenario("kube-pg-restart", "kubernetes", "PostgreSQL restarted", postgres_restarted),
    Scenario("kube-pg-away-30s", "kubernetes", "PostgreSQL unreachable for 30 s", postgres_away_30s),
]
