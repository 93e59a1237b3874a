"""The real entry point, `python -m craft_jobs_runner`, as a child process."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from craft_jobs_runner import EXIT_CANCELLED, EXIT_FAILED, EXIT_NON_RETRYABLE, EXIT_SUCCEEDED

JOBS_DIR = Path(__file__).parent  # holds pod_jobs.py


@pytest.fixture
def pod(tmp_path):
    """The pod contract for a child runner: env, parameters file, termination log."""

    class Pod:
        termination_log = tmp_path / "termination-log"
        parameters_file = tmp_path / "parameters.json"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(JOBS_DIR),
            "CRAFT_JOB_MODULES": "pod_jobs",
            "CRAFT_JOB_ID": "7f3e-job",
            "CRAFT_JOB_TYPE": "pod-echo",
            "CRAFT_JOB_ATTEMPT": "2",
            "CRAFT_TENANT_ID": "acme",
            "CRAFT_USER_ID": "user-a",
            "CRAFT_JOB_CREATED_AT": "2024-05-01T12:00:00Z",
            "CRAFT_JOB_SCHEDULED_FOR": "2024-05-01T13:00:00+00:00",
            "CRAFT_JOB_METADATA": '{"source": "test"}',
            "CRAFT_JOB_PARAMETERS_FILE": str(tmp_path / "parameters.json"),
            "CRAFT_TERMINATION_MESSAGE_PATH": str(tmp_path / "termination-log"),
        }

        def params(self, **values):
            self.parameters_file.write_text(json.dumps(values))

        def start(self, *args):
            return subprocess.Popen(
                [sys.executable, "-m", "craft_jobs_runner", *args],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

        def run(self, *args):
            process = self.start(*args)
            stdout, stderr = process.communicate(timeout=60)
            return process.returncode, stdout, stderr

        def termination_message(self):
            data = self.termination_log.read_bytes()
            assert len(data) < 4096
            return json.loads(data)

    return Pod()


def test_a_successful_run_sees_the_whole_contract(pod, tmp_path):
    output = tmp_path / "seen.json"
    pod.params(output=str(output), greeting="hello")
    code, _, stderr = pod.run()
    assert code == EXIT_SUCCEEDED, stderr
    assert json.loads(output.read_text()) == {
        "greeting": "hello",
        "job_id": "7f3e-job",
        "job_type": "pod-echo",
        "attempt": 2,
        "tenant_id": "acme",
        "user_id": "user-a",
        "created_at": "2024-05-01T12:00:00+00:00",
        "scheduled_for": "2024-05-01T13:00:00+00:00",
        "metadata": {"source": "test"},
    }
    assert not pod.termination_log.exists()
    # Logs are JSON lines carrying the job's context.
    [echo] = [json.loads(line) for line in stderr.splitlines() if "echoing" in line]
    assert (echo["message"], echo["job_id"], echo["attempt"], echo["tenant_id"]) == ("echoing hello", "7f3e-job", 2, "acme")


def test_a_failure_exits_1_with_a_termination_message(pod):
    pod.env["CRAFT_JOB_TYPE"] = "pod-fails"
    pod.params(message="the mail server said no")
    code, _, _ = pod.run()
    assert code == EXIT_FAILED
    message = pod.termination_message()
    assert (message["type"], message["message"]) == ("RuntimeError", "the mail server said no")
    assert "pod_jobs.py" in message["stack"]


def test_a_huge_error_is_truncated_under_4_kib(pod):
    pod.env["CRAFT_JOB_TYPE"] = "pod-fails"
    pod.params(message="x" * 50_000)
    assert pod.run()[0] == EXIT_FAILED
    assert pod.termination_message()["message"].startswith("xxxx")


def test_a_non_retryable_error_exits_3(pod):
    pod.env["CRAFT_JOB_TYPE"] = "pod-gives-up"
    pod.params()
    assert pod.run()[0] == EXIT_NON_RETRYABLE
    assert pod.termination_message()["message"] == "the invoice no longer exists"


def test_invalid_parameters_exit_3_naming_the_field(pod):
    pod.params(output="/dev/null")
    assert pod.run()[0] == EXIT_NON_RETRYABLE
    assert "greeting: Field required" in pod.termination_message()["message"]


def test_a_missing_parameters_file_exits_3(pod):
    assert pod.run()[0] == EXIT_NON_RETRYABLE
    message = pod.termination_message()
    assert message["message"] == f"CRAFT_JOB_PARAMETERS_FILE: the parameters file {pod.parameters_file} does not exist"


def test_an_unknown_job_type_exits_3(pod):
    pod.env["CRAFT_JOB_TYPE"] = "pod-no-such-type"
    pod.params()
    assert pod.run()[0] == EXIT_NON_RETRYABLE
    assert "unknown job type 'pod-no-such-type'" in pod.termination_message()["message"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CRAFT_JOB_ATTEMPT", "second"),
        ("CRAFT_JOB_METADATA", "[]"),
        ("CRAFT_JOB_CREATED_AT", "2024-05-01 12:00"),
        ("CRAFT_JOB_CANCEL_GRACE_SECONDS", "-1"),
        ("CRAFT_JOB_LIFELINE_FD", "not-a-descriptor"),
        ("CRAFT_LOG_FORMAT", "xml"),
        ("CRAFT_LOG_LEVEL", "LOUD"),
    ],
)
def test_a_malformed_variable_exits_3_naming_it(pod, variable, value):
    pod.env[variable] = value
    pod.params(output="/dev/null", greeting="hi")
    assert pod.run()[0] == EXIT_NON_RETRYABLE
    assert pod.termination_message()["message"].startswith(f"{variable}: ")


def test_a_job_module_that_cannot_be_imported_exits_3(pod):
    pod.env["CRAFT_JOB_MODULES"] = "pod_jobs,no_such_jobs_module"
    pod.params(output="/dev/null", greeting="hi")
    assert pod.run()[0] == EXIT_NON_RETRYABLE
    message = pod.termination_message()
    assert "cannot import job module 'no_such_jobs_module'" in message["message"]
    assert "ModuleNotFoundError" in message["stack"]


def test_an_unwritable_termination_log_does_not_crash_the_runner(pod, tmp_path):
    pod.env["CRAFT_JOB_TYPE"] = "pod-fails"
    pod.env["CRAFT_TERMINATION_MESSAGE_PATH"] = str(tmp_path / "no-such-dir" / "log")
    pod.params(message="boom")
    code, _, stderr = pod.run()
    assert code == EXIT_FAILED
    assert "cannot write the termination message" in stderr
    assert "Traceback" in stderr  # the job's own failure, logged; nothing else crashed
    assert stderr.count("Traceback") == 1


@pytest.mark.parametrize(("cooperative", "grace"), [(False, "0.05"), (True, "")])
def test_sigterm_cancels_a_running_job_with_143(pod, tmp_path, cooperative, grace):
    marker = tmp_path / "started"
    pod.env["CRAFT_JOB_TYPE"] = "pod-waits"
    pod.env["CRAFT_JOB_CANCEL_GRACE_SECONDS"] = grace  # empty: the default (10s)
    pod.params(started_marker=str(marker), cooperative=cooperative)
    process = pod.start()
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.01)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == EXIT_CANCELLED, stderr
    assert time.monotonic() - started < 5  # well under the 10s grace: it stopped when asked
    message = pod.termination_message()
    assert message["type"] == "craft_jobs_runner.errors.JobCancelledError"
    assert "received SIGTERM: cancelling the job" in stderr
    assert ("stopping as asked" in stderr) == cooperative


def test_describe_lists_the_job_types_of_the_image(pod):
    code, stdout, stderr = pod.run("describe")
    assert code == 0, stderr
    descriptors = {d["job_type"]: d for d in json.loads(stdout)}
    assert set(descriptors) >= {"pod-echo", "pod-fails", "pod-gives-up", "pod-waits"}
    echo = descriptors["pod-echo"]
    assert echo["description"] == "Write what the job saw to a file."
    assert echo["max_attempts"] == 4 and echo["timeout_seconds"] is None
    assert echo["parameters_schema"]["required"] == ["output", "greeting"]


def test_describe_reports_a_module_that_cannot_be_imported(pod):
    pod.env["CRAFT_JOB_MODULES"] = "no_such_jobs_module"
    code, stdout, stderr = pod.run("describe")
    assert (code, stdout) == (1, "")
    assert "cannot import job module 'no_such_jobs_module'" in stderr


def test_an_unknown_command_is_a_usage_error(pod):
    code, _, stderr = pod.run("explode")
    assert code == 2
    assert "usage: python -m craft_jobs_runner [describe]" in stderr
