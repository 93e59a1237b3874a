"""Which waiting jobs a concurrency limit holds, as their BackgroundJobs show it (kube/held.py)."""

from __future__ import annotations

from craft_jobs.kube.held import RunsInFlight, held_scope, hold_of, limits_set
from craft_jobs.options import JobOptions


def options(**values) -> JobOptions:
    return JobOptions(connection_string="postgresql://localhost/x", **values)


RUNNING = RunsInFlight.from_rows([
    {"tenant_id": "acme", "queue": "default", "running": 2},
    {"tenant_id": "acme", "queue": "reports", "running": 1},
    {"tenant_id": "globex", "queue": "reports", "running": 1},
])


def test_no_limit_holds_nothing():
    assert not limits_set(options())
    assert hold_of(options(), RUNNING, "acme", "default") is None


def test_a_tenant_at_its_limit_holds_its_jobs_and_no_one_elses():
    limited = options(tenant_concurrency_limit=3, tenant_concurrency_limits={"globex": 5})
    assert limits_set(limited)
    assert hold_of(limited, RUNNING, "acme", "default") == (
        "TenantConcurrencyLimit", "held: tenant acme runs 3 of its limit of 3")
    assert hold_of(limited, RUNNING, "globex", "default") is None
    assert hold_of(limited, RUNNING, "initech", "default") is None
    assert held_scope(limited, RUNNING).tenants == ["acme"]


def test_a_limit_of_zero_holds_tenants_with_nothing_running():
    closed = options(tenant_concurrency_limit=0, tenant_concurrency_limits={"acme": 10, "trial": 0})
    assert hold_of(closed, RUNNING, "initech", "default") == (
        "TenantConcurrencyLimit", "held: tenant initech runs 0 of its limit of 0")
    scope = held_scope(closed, RUNNING)
    assert scope.every_tenant and "trial" in scope.tenants and "acme" not in scope.tenants


def test_a_queue_at_its_limit_holds_its_jobs():
    limited = options(queue_concurrency_limits={"reports": 2})
    assert hold_of(limited, RUNNING, "initech", "reports") == (
        "QueueConcurrencyLimit", "held: queue reports runs 2 of its limit of 2")
    assert hold_of(limited, RUNNING, "acme", "default") is None
    assert held_scope(limited, RUNNING).queues == ["reports"]
