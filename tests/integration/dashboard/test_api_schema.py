"""Schemathesis against the app's own OpenAPI spec, over HTTP to a real uvicorn
on this test's PostgreSQL: valid and invalid requests for every operation must
never give a 500 nor a response the spec does not describe."""

from __future__ import annotations

import asyncio

import hypothesis
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from craft_jobs.dashboard.app import create_app
from craft_jobs.dashboard.settings import DashboardSettings
from tests.integration.dashboard.conftest import bearer
from tests.integration.dashboard.factory import enqueue, heartbeat

# Small on purpose: the suite's budget is seconds, and each operation is also
# covered by its own tests; this looks for the crashes those did not think of.
EXAMPLES_PER_OPERATION = 4
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
    suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)


def can_be_invalid(operation: dict) -> bool:
    """Whether a request can break the operation's schema: a body, or a parameter
    more constrained than free text (else negative generation searches in vain)."""
    return "requestBody" in operation or any(
        set(p["schema"]) - {"type", "title", "description"} or p["schema"].get("type") != "string"
        for p in operation.get("parameters", [])
    )


def exercise(base_url: str, spec: dict, headers: dict[str, str]) -> list[str]:
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [GenerationMode.POSITIVE]
        if can_be_invalid(spec["paths"][operation.path][operation.method.lower()]):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @SETTINGS
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case) -> None:
                # A schema-valid body may still name a job type, cron or time zone that does
                # not exist: those 422s are right, so only that one check is left out.
                case.call_and_validate(base_url=base_url, headers=headers, timeout=10,
                                       excluded_checks=[positive_data_acceptance])

            try:
                check()
            except (Exception, BaseExceptionGroup) as exc:  # every operation is tried, then all failures shown
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:3000])
    return failures


async def test_no_operation_breaks_its_spec_or_fails_with_500(store, tokens_file):
    from tests.support.served import served

    job_id = await enqueue(store, parameters={"invoice_id": 1})
    await heartbeat(store)
    app = create_app(store.options, store=store,
                     settings=DashboardSettings(auth_mode="token", tokens_file=tokens_file))
    spec = app.openapi()
    async with served(app) as url:
        failures = await asyncio.to_thread(exercise, url, spec, bearer("operator"))
    assert failures == [], "\n\n".join(failures)
    assert await store.get_job(job_id) is not None
