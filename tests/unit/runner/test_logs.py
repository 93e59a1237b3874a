import asyncio
import io
import json
import logging

import pytest

from craft_jobs_runner import Job, JobContext, configure_logging, execute

LIBRARY = logging.getLogger("some.library")


class Chatty(Job):
    job_type = "test-logs-chatty"

    class Parameters(Job.Parameters):
        say: str
        pause: bool = False

    async def run(self, params, context):
        context.logger.info("via context %s", params.say, extra={"order_id": 7})
        if params.pause:
            await asyncio.sleep(0.01)  # let a concurrent run interleave
        LIBRARY.warning("via a library logger %s", params.say)


@pytest.fixture
def stream():
    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    handler = configure_logging(json=True, stream=buffer)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


def lines(buffer):
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_context_logger_records_carry_the_job_fields(caplog):
    context = JobContext(job_id="j1", job_type="t", attempt=3, tenant_id="acme", user_id="user-b")
    with caplog.at_level(logging.INFO):
        context.logger.info("hello", extra={"order_id": 7})
    [record] = caplog.records
    assert (record.job_id, record.job_type, record.attempt, record.tenant_id, record.user_id) == (
        "j1",
        "t",
        3,
        "acme",
        "user-b",
    )
    assert record.order_id == 7  # the call's own extra is kept


async def test_records_of_any_logger_during_a_run_carry_the_job_fields(stream):
    LIBRARY.warning("before the run")
    result = await execute("test-logs-chatty", {"say": "hi"}, job_id="j2", attempt=1, tenant_id="acme")
    assert result.succeeded
    LIBRARY.warning("after the run")
    entries = [e for e in lines(stream) if e["logger"] in ("some.library", "craft_jobs_runner.jobs.test-logs-chatty")]
    assert [e["message"] for e in entries] == [
        "before the run",
        "via context hi",
        "via a library logger hi",
        "after the run",
    ]
    for entry in entries[1:3]:
        assert {k: entry[k] for k in ("job_id", "job_type", "attempt", "tenant_id", "user_id")} == {
            "job_id": "j2",
            "job_type": "test-logs-chatty",
            "attempt": 1,
            "tenant_id": "acme",
            "user_id": None,
        }
    assert entries[0]["job_id"] is None and entries[3]["job_id"] is None
    assert entries[1]["level"] == "INFO" and entries[2]["level"] == "WARNING"
    assert entries[1]["time"].endswith("+00:00")


async def test_concurrent_runs_keep_their_own_fields(stream):
    await asyncio.gather(
        execute("test-logs-chatty", {"say": "a", "pause": True}, job_id="run-a"),
        execute("test-logs-chatty", {"say": "b", "pause": True}, job_id="run-b"),
    )
    library = [e for e in lines(stream) if e["logger"] == "some.library"]
    assert sorted((e["message"][-1], e["job_id"]) for e in library) == [("a", "run-a"), ("b", "run-b")]


async def test_a_failure_is_logged_with_its_traceback(stream):
    class Crashes(Job):
        job_type = "test-logs-crashes"

        async def run(self, params, context):
            raise KeyError("missing")

    await execute("test-logs-crashes", {}, job_id="j3")
    [entry] = [e for e in lines(stream) if e["message"].startswith("job failed")]
    assert entry["level"] == "ERROR" and entry["job_id"] == "j3"
    assert "KeyError: 'missing'" in entry["exception"]


def test_text_format_shows_the_fields_only_for_job_records():
    buffer = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(json=False, stream=buffer)
    try:
        JobContext(job_id="j4", job_type="t", tenant_id="acme").logger.info("inside")
        LIBRARY.warning("outside")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    inside, outside = buffer.getvalue().splitlines()
    assert inside.endswith("INFO craft_jobs_runner.jobs.t [t j4 attempt=0 tenant=acme user=None]: inside")
    assert outside.endswith("WARNING some.library: outside")


def test_configuring_again_replaces_only_our_handler():
    root = logging.getLogger()
    level = root.level
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    first = configure_logging(json=True, stream=io.StringIO())
    second = configure_logging(json=False, stream=io.StringIO(), level=logging.DEBUG)
    try:
        assert first not in root.handlers
        assert second in root.handlers and foreign in root.handlers
        assert root.level == logging.DEBUG
    finally:
        root.removeHandler(second)
        root.removeHandler(foreign)
        root.setLevel(level)
