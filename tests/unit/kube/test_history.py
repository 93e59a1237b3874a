from craft_jobs.kube.executor import job_finished
from craft_jobs.kube.history import jobs_beyond_limits


def job(name, created, outcome):
    conditions = [] if outcome is None else [{"type": "Complete" if outcome else "Failed", "status": "True"}]
    return {"metadata": {"name": name, "creationTimestamp": created}, "status": {"conditions": conditions}}


def test_only_the_oldest_finished_jobs_past_each_limit_go():
    jobs = [
        job("s1", "2026-03-01T10:00:00Z", True), job("s2", "2026-03-01T11:00:00Z", True),
        job("s3", "2026-03-01T12:00:00Z", True), job("f1", "2026-03-01T10:30:00Z", False),
        job("f2", "2026-03-01T11:30:00Z", False), job("running", "2026-03-01T09:00:00Z", None),
    ]
    doomed = {j["metadata"]["name"] for j in jobs_beyond_limits(jobs, {True: 2, False: 1}, job_finished)}
    assert doomed == {"s1", "f1"}


def test_a_limit_of_zero_keeps_none_and_unfinished_jobs_are_never_pruned():
    jobs = [job("s1", "2026-03-01T10:00:00Z", True), job("running", "2026-03-01T09:00:00Z", None)]
    assert [j["metadata"]["name"] for j in jobs_beyond_limits(jobs, {True: 0, False: 0}, job_finished)] == ["s1"]
