"""The craft-jobs command against a real PostgreSQL, as a user types it."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from craft_jobs.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "crds" / "samples"


@pytest.fixture
def cli(database_url_for_test, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CRAFT_JOBS_CONNECTION_STRING", database_url_for_test)
    monkeypatch.setenv("CRAFT_JOBS_JOB_MODULES", "craft_jobs.samples.jobs")
    monkeypatch.setenv("CRAFT_JOBS_DATA_DIR", str(tmp_path))

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_schedule_list_show(cli):
    code, out, _ = cli("schedule", "hello", "--params", '{"name": "you"}', "--tenant", "acme", "--user", "user-a")
    assert code == 0
    job_id = int(out.strip())
    code, out, _ = cli("list")
    assert code == 0 and "hello" in out and "Enqueued" in out and "acme" in out
    code, out, _ = cli("show", str(job_id), "-o", "json")
    shown = json.loads(out)
    assert code == 0 and shown["job"]["parameters"] == {"name": "you"}
    assert [entry["state"] for entry in shown["history"]] == ["Enqueued"]
    code, out, _ = cli("show", str(job_id))
    assert code == 0 and 'Parameters:    {"name": "you"}' in out and "History:" in out
    assert yaml.safe_load(cli("show", str(job_id), "-o", "yaml")[1]) == shown


def test_delayed_and_at(cli):
    assert cli("schedule", "hello", "--delay", "1h30m")[0] == 0
    assert cli("schedule", "hello", "--at", "2099-01-01T00:00:00Z")[0] == 0
    code, out, _ = cli("list", "--state", "Scheduled")
    assert code == 0 and out.count("Scheduled") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("schedule", "no-such-type"), "error: job_type: unknown job type 'no-such-type'"),
        (("schedule", "hello", "--params", "{bad json"), "error: --params: is not valid JSON"),
        (("schedule", "hello", "--params", '{"name": 5}'), "error: parameters: name: Input should be a valid string"),
        (("schedule", "hello", "--delay", "soon"), "error: --delay: 'soon' is not a duration"),
        (("schedule", "hello", "--max-attempts", "11"), "error: max_attempts: must be between 0 and 10"),
        (("delete", "4242"), "error: job 4242 does not exist"),
        (("requeue", "4242"), "error: job 4242 does not exist"),
        (("trigger", "nope"), "error: recurring job 'nope' does not exist"),
        (("list", "--type", "a\x00"), "error: --type: contains a NUL byte"),
        (("recurring", "add", "x\x00", "cleanup", "--every", "5m"), "error: recurring_id: contains a NUL byte"),
        (("schedule", "hello", "--params", '{"name": "a\\u0000"}'), "error: parameters.name: contains a NUL byte"),
    ],
)
def test_bad_input_is_named_and_nothing_is_stored(cli, args, message):
    code, _, err = cli(*args)
    assert code != 0 and message in err
    assert "Traceback" not in err
    assert cli("list")[1].count("\n") == 1  # only the header


def test_apply_every_sample_then_trigger_requeue_delete(cli):
    for path in sorted(SAMPLES.glob("*.yaml")):
        code, out, err = cli("apply", "-f", str(path))
        assert code == 0, (path.name, err)
        assert "applied" in out
    code, out, _ = cli("list", "--type", "send-report")
    assert "Awaiting" in out  # the continuation waits for slow-import
    # Applying again changes nothing: same names, same jobs.
    before = cli("list", "--limit", "100")[1]
    for path in sorted(SAMPLES.glob("backgroundjob-*.yaml")):
        cli("apply", "-f", str(path))
    assert cli("list", "--limit", "100")[1] == before
    code, out, _ = cli("list", "--recurring")
    recurring_ids = [line.split()[0] for line in out.splitlines()[1:]]
    assert len(recurring_ids) == 2
    code, out, _ = cli("trigger", recurring_ids[0])
    assert code == 0 and "triggered: job" in out
    job_id = out.strip().rsplit(" ", 1)[1]
    assert cli("delete", job_id)[0] == 0
    assert cli("requeue", job_id)[0] == 0


def test_apply_refuses_a_bad_document_before_applying_any(cli, tmp_path):
    good = (SAMPLES / "backgroundjob-fire-and-forget.yaml").read_text()
    bad = good.replace("kind: BackgroundJob", "kind: CronJob")
    path = tmp_path / "mixed.yaml"
    path.write_text(good + "\n---\n" + bad)
    code, _, err = cli("apply", "-f", str(path))
    assert code == 2 and "error: kind: must be BackgroundJob or RecurringJob, got 'CronJob'" in err
    assert cli("list")[1].count("\n") == 1


def test_invalid_recurring_schedule_in_yaml_names_the_field(cli, tmp_path):
    text = (SAMPLES / "recurringjob-cron.yaml").read_text()
    path = tmp_path / "bad-cron.yaml"
    path.write_text(re.sub(r"schedule: .*", 'schedule: "61 * * * *"', text))
    code, _, err = cli("apply", "-f", str(path))
    assert code == 2 and "error: spec.schedule: minute field '61'" in err


def test_without_a_database_the_error_says_how_to_give_one(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("CRAFT_JOBS_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("CRAFT_JOBS_DATA_DIR", str(tmp_path))
    assert main(["list"]) == 2
    assert "CRAFT_JOBS_CONNECTION_STRING (connection_string): is not set and no `craft-jobs dev` is running" in capsys.readouterr().err


def test_migrate_reports_the_schema_is_up_to_date(cli):
    code, out, _ = cli("migrate")
    assert code == 0 and "is up to date" in out


def test_every_command_has_help(capsys):
    for command in ("dev", "migrate", "schedule", "apply", "list", "show", "trigger", "requeue", "delete", "operator", "dashboard",
                    "recurring", "recurring add", "recurring show"):
        with pytest.raises(SystemExit) as exited:
            main([*command.split(), "--help"])
        assert exited.value.code == 0
        assert "usage: craft-jobs " + command in capsys.readouterr().out


def test_register_types_from_a_job_images_describe_output(cli, tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    described = subprocess.run(
        [sys.executable, "-m", "craft_jobs_runner", "describe"],
        env={**os.environ, "CRAFT_JOB_MODULES": "tests.support.jobs", "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    path = tmp_path / "types.json"
    path.write_text(described)
    code, out, err = cli("register-types", "-f", str(path))
    assert code == 0 and "test-fail-times" in out, err
    # This process never imported tests.support.jobs' classes under these names: the stored schema validates.
    monkeypatch.setenv("CRAFT_JOBS_JOB_MODULES", "")
    code, _, err = cli("schedule", "test-fail-times", "--params", '{"failures": "x"}')
    assert code == 2 and "parameters: failures" in err
    path.write_text('{"not": "a list"}')
    code, _, err = cli("register-types", "-f", str(path))
    assert code == 2 and "must be a list" in err


def test_yaml_errors_name_the_spec_path(cli, tmp_path):
    path = tmp_path / "bad-retry.yaml"
    path.write_text(
        "apiVersion: jobs.craft.dev/v1alpha1\nkind: BackgroundJob\nmetadata: {name: bad}\n"
        "spec: {jobType: hello, retry: {maxAttempts: 11}}\n"
    )
    code, _, err = cli("apply", "-f", str(path))
    assert code == 2 and "error: spec.retry.maxAttempts: must be between 0 and 10" in err
    path.write_text(
        "apiVersion: jobs.craft.dev/v1alpha1\nkind: BackgroundJob\nmetadata: {name: orphan}\n"
        "spec: {jobType: hello, continueAfter: {name: missing}}\n"
    )
    code, _, err = cli("apply", "-f", str(path))
    assert code == 2 and "error: spec.continueAfter.name: BackgroundJob 'missing' does not exist" in err


def test_jobs_from_the_cli_run_the_installations_client_filters(cli, monkeypatch):
    monkeypatch.setenv("CRAFT_JOBS_CLIENT_FILTERS", "tests.support.filters:StampFilter")
    code, out, _ = cli("schedule", "hello", "--params", '{"name": "you"}')
    assert code == 0
    code, out, _ = cli("show", out.strip(), "-o", "json")
    assert json.loads(out)["job"]["metadata"] == {"stamped": "installation"}
    code, _, err = cli("schedule", "hello", "--params", '{"name": "you"}', "--metadata", '{"refuse": true}')
    assert code == 2 and "error: metadata.refuse: refused by the installation's filter" in err


def test_a_client_filter_that_cannot_be_imported_is_named(cli, monkeypatch):
    monkeypatch.setenv("CRAFT_JOBS_CLIENT_FILTERS", "tests.support.no_such_module:StampFilter")
    code, _, err = cli("schedule", "hello")
    assert code == 2
    assert "error: CRAFT_JOBS_CLIENT_FILTERS (client_filters): 'tests.support.no_such_module:StampFilter': cannot import" in err


def test_recurring_jobs_from_the_command_line_with_a_slash_in_the_id(cli):
    code, out, err = cli("recurring", "add", "team/nightly", "cleanup", "--every", "5m", "--params", '{"older_than_days": 3}')
    assert code == 0 and out.startswith("recurring job team/nightly added: next run "), err
    code, out, _ = cli("recurring", "add", "team/nightly", "cleanup", "--cron", "0 3 * * *", "--time-zone", "Europe/Paris",
                       "--concurrency", "forbid")
    assert code == 0 and "updated" in out
    listed = json.loads(cli("recurring", "list", "-o", "json")[1])["items"]
    assert [(r["id"], r["cron"], r["interval_minutes"], r["concurrency_policy"]) for r in listed] == [
        ("team/nightly", "0 3 * * *", None, "Forbid")]
    code, out, _ = cli("recurring", "list", "-o", "wide")
    assert code == 0 and "CONCURRENCY" in out and "Europe/Paris" in out and "Forbid" in out
    code, out, _ = cli("recurring", "trigger", "team/nightly")
    assert code == 0 and "triggered: job" in out
    job_id = int(out.rsplit(" ", 1)[1])
    code, out, _ = cli("recurring", "show", "team/nightly")
    assert code == 0 and "Schedule:" in out and "0 3 * * *" in out and f"\n{job_id} " in out
    shown = yaml.safe_load(cli("recurring", "show", "team/nightly", "-o", "yaml")[1])
    assert shown["recurring"]["time_zone"] == "Europe/Paris" and [r["id"] for r in shown["recent_runs"]] == [job_id]
    assert cli("recurring", "pause", "team/nightly")[1].strip() == "recurring job team/nightly paused"
    assert json.loads(cli("recurring", "list", "-o", "json")[1])["items"][0]["paused"] is True
    assert cli("recurring", "resume", "team/nightly")[1].strip() == "recurring job team/nightly resumed"
    assert cli("recurring", "remove", "team/nightly")[1].strip() == "recurring job team/nightly removed"
    code, _, err = cli("recurring", "pause", "team/nightly")
    assert code == 1 and err.strip() == "error: recurring job 'team/nightly' does not exist"
    assert json.loads(cli("list", "-o", "json")[1])["items"][0]["id"] == job_id  # the fired job stays


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("recurring", "add", "r", "cleanup", "--every", "90s"), "error: --every: '90s' is not a whole number of minutes"),
        (("recurring", "add", "r", "cleanup", "--cron", "61 * * * *"), "error: cron: minute field '61'"),
        (("recurring", "add", "r", "cleanup", "--every", "5m", "--concurrency", "sometimes"),
         "error: --concurrency: must be Allow, Forbid or Replace, got 'sometimes'"),
        (("recurring", "add", "r", "cleanup", "--every", "5m", "--time-zone", "Mars/Olympus"), "error: time_zone:"),
    ],
)
def test_bad_recurring_input_is_one_line_naming_the_option(cli, args, message):
    code, _, err = cli(*args)
    assert code == 2 and err.startswith(message) and err.count("\n") == 1, err
    assert json.loads(cli("recurring", "list", "-o", "json")[1])["items"] == []


def test_list_takes_state_names_in_any_case_and_prints_every_format(cli):
    cli("schedule", "hello", "--params", '{"name": "a"}', "--queue", "mail", "--user", "someone")
    cli("schedule", "hello", "--params", '{"name": "b"}', "--delay", "1h")
    code, out, _ = cli("list", "--state", "scheduled")
    assert code == 0 and out.count("Scheduled") == 1 and "Enqueued" not in out
    assert cli("list", "--state", "ENQUEUED")[1].count("Enqueued") == 1
    wide = cli("list", "-o", "wide")[1]
    assert "QUEUE" in wide and "mail" in wide and "someone" in wide and "\x1b[" not in wide
    items = json.loads(cli("list", "-o", "json")[1])["items"]
    assert [job["state"] for job in items] == ["Scheduled", "Enqueued"]
    assert yaml.safe_load(cli("list", "-o", "yaml")[1])["items"] == items
    for args in (["list", "--state", "nope"], ["list", "--limit", "0"], ["show", str(2**63)], ["delete", "-1"]):
        with pytest.raises(SystemExit) as exited:
            main(args)
        assert exited.value.code == 2, args


def test_unreadable_and_malformed_files_are_one_line_and_exit_2(cli, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: jobs.craft.dev/v1alpha1\nkind: [BackgroundJob\nspec: {}\n")
    cases = [
        (("apply", "-f", str(tmp_path / "missing.yaml")), f"error: -f: no such file: {tmp_path / 'missing.yaml'}"),
        (("apply", "-f", str(tmp_path)), "error: -f: cannot read"),
        (("apply", "-f", str(broken)), "error: -f: is not valid YAML: expected ',' or ']', but got ':' at line 3, column 5"),
        (("schedule", "hello", "--params-file", str(tmp_path / "nope.json")), "error: --params-file: no such file"),
        (("schedule", "hello", "--delay", "99999999999999999999d"), "error: --delay: must be at most 3650 days"),
        (("schedule", "hello", "--params", '{"name": "x"}', "--metadata", json.dumps({"blob": "x" * 300_000})),
         "error: metadata: 300011 bytes is over the limit of 16384 bytes"),
    ]
    for args, message in cases:
        code, _, err = cli(*args)
        assert code == 2 and err.startswith(message) and err.count("\n") == 1, (args, err)
    assert cli("list")[1].count("\n") == 1


def test_apply_is_all_or_nothing_and_refuses_unknown_fields_by_name(cli, tmp_path):
    good = (SAMPLES / "backgroundjob-fire-and-forget.yaml").read_text()
    cron = (SAMPLES / "recurringjob-cron.yaml").read_text()
    path = tmp_path / "mixed.yaml"
    path.write_text(good + "\n---\n" + cron.replace("schedule: ", "schedule: \"61 * * * *\"\n  x-old-schedule: ", 1))
    code, _, err = cli("apply", "-f", str(path))
    assert code == 2 and "spec.x-old-schedule: unknown field (not in the RecurringJob schema)" in err, err
    path.write_text(good + "\n---\n" + re.sub(r"schedule: .*", 'schedule: "61 * * * *"', cron))
    code, _, err = cli("apply", "-f", str(path))
    assert code == 2 and "error: spec.schedule: minute field '61'" in err
    typo = good.replace("spec:\n", "spec:\n  paramters: {}\n  retry: {maxAttempts: 2, backof: {}}\n", 1)
    path.write_text(typo)
    code, _, err = cli("apply", "-f", str(path))
    assert code == 2 and "error: spec.paramters, spec.retry.backof: unknown fields" in err, err
    assert cli("list")[1].count("\n") == 1 and cli("recurring", "list")[1].count("\n") == 1
    # A continuation may wait for a BackgroundJob earlier in the same file.
    continuation = (SAMPLES / "backgroundjob-continuation.yaml").read_text()
    path.write_text(continuation)
    code, out, err = cli("apply", "-f", str(path))
    assert code == 0 and out.count("applied") == continuation.count("kind: BackgroundJob"), err


CRAFT_JOBS = [sys.executable, "-m", "craft_jobs.cli"]


@pytest.fixture
def cli_env(database_url_for_test, tmp_path) -> dict[str, str]:
    """The environment of a `craft-jobs` process on this test's database."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "CRAFT_JOBS_DEBUG")}
    return {**env, "CRAFT_JOBS_CONNECTION_STRING": database_url_for_test, "TERM": "xterm",
            "CRAFT_JOBS_JOB_MODULES": "craft_jobs.samples.jobs", "CRAFT_JOBS_DATA_DIR": str(tmp_path)}


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    primary, secondary = pty.openpty()
    try:
        subprocess.run(CRAFT_JOBS + args, stdout=secondary, stderr=subprocess.DEVNULL, env=env, timeout=60, check=True)
    finally:
        os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the terminal's other end is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    return b"".join(chunks).decode()


def test_states_are_coloured_on_a_terminal_only(cli, cli_env):
    cli("schedule", "hello", "--params", '{"name": "a"}')
    assert "\x1b[36mEnqueued" in _on_a_terminal(["list"], cli_env)
    assert "\x1b[" not in _on_a_terminal(["list"], {**cli_env, "NO_COLOR": "1"})
    # Piped (as captured here) it has none either: see test_list_takes_state_names_in_any_case_and_prints_every_format.


def _interruptible(args: list[str], env: dict[str, str], stderr: int = subprocess.PIPE) -> subprocess.Popen:
    """A `craft-jobs` process that Ctrl+C (SIGINT) reaches as in a terminal, even
    when these tests run in the background, where the shell ignores SIGINT and
    the children inherit that."""
    return subprocess.Popen(CRAFT_JOBS + args, stdout=subprocess.PIPE, stderr=stderr, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _read_until(process: subprocess.Popen, wanted, timeout: float = 20) -> str:
    text, deadline = "", time.monotonic() + timeout
    while not wanted(text):
        assert time.monotonic() < deadline, f"gave up waiting; got {text!r}"
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536).decode()
            assert chunk, f"the process ended; got {text!r}"
            text += chunk
    return text


def test_watch_prints_again_until_ctrl_c(cli, cli_env):
    process = _interruptible(["list", "--watch", "--interval", "0.2"], cli_env)
    try:
        _read_until(process, lambda text: text.count("ID  STATE") >= 1)
        cli("schedule", "hello", "--params", '{"name": "watched"}')
        _read_until(process, lambda text: "Enqueued" in text)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 130
    finally:
        process.kill()
    assert process.stderr.read().decode() == ""


def test_dev_refuses_a_taken_port_in_one_line(cli, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = cli("dev", "--port", str(port))
    assert code == 2 and out == ""
    assert err == (f"error: --port: 127.0.0.1:{port} is already in use (another craft-jobs dev?); "
                   "choose another with --port N, or make dev PORT=N\n")


async def test_dev_restarted_on_its_database_stops_on_ctrl_c_without_scheduling_samples_again(scheduler, cli_env):
    import craft_jobs.samples.jobs  # noqa: F401 - registers the sample job classes
    from craft_jobs.dev import schedule_samples
    from tests.support.cluster.controlplane import free_port

    first = await schedule_samples(scheduler)  # what the first `craft-jobs dev --samples` did
    process = _interruptible(["dev", "--samples", "--port", str(free_port())], cli_env, stderr=subprocess.STDOUT)
    try:
        started = await asyncio.to_thread(_read_until, process, lambda text: "Database:" in text, 60)
        assert "samples: already scheduled in this database (not again)" in started, started
        process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(process.wait, 20) == 0
    finally:
        process.kill()
    output = started + process.stdout.read().decode()
    assert "Ctrl+C: stopping Craft Jobs" in output and re.search(r"Stopped in \d+\.\d s\.", output), output
    assert "Traceback" not in output.split("Ctrl+C")[1], output
    jobs = [job for job in await scheduler.store.list_jobs(limit=100) if job.recurring_id is None]
    assert sorted(job.id for job in jobs) == sorted(v for v in first.values() if isinstance(v, int))
