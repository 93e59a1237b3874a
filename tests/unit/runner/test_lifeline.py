"""The runner dies with its engine, taking every process of the run with it."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from craft_jobs_runner import EXIT_SUCCEEDED
from craft_jobs_runner.lifeline import descendants

JOBS_DIR = Path(__file__).parent  # holds pod_jobs.py


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.01)
    return result


def start_runner(tmp_path, job_type: str, params: dict) -> tuple[subprocess.Popen, int]:
    """A runner as the local executor starts it: a lifeline pipe, a session of its own."""
    (tmp_path / "parameters.json").write_text(json.dumps(params))
    read_end, write_end = os.pipe()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(JOBS_DIR),
        "CRAFT_JOB_MODULES": "pod_jobs",
        "CRAFT_JOB_ID": "1",
        "CRAFT_JOB_TYPE": job_type,
        "CRAFT_JOB_CREATED_AT": "2024-05-01T12:00:00Z",
        "CRAFT_JOB_SCHEDULED_FOR": "2024-05-01T12:00:00Z",
        "CRAFT_JOB_PARAMETERS_FILE": str(tmp_path / "parameters.json"),
        "CRAFT_TERMINATION_MESSAGE_PATH": str(tmp_path / "termination-log"),
        "CRAFT_JOB_LIFELINE_FD": str(read_end),
    }
    process = subprocess.Popen([sys.executable, "-m", "craft_jobs_runner"], env=env, pass_fds=(read_end,),
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    os.close(read_end)
    return process, write_end


def test_closing_the_lifeline_kills_the_run_and_every_process_it_started(tmp_path):
    pids_file = tmp_path / "pids.json"
    runner, lifeline = start_runner(tmp_path, "pod-spawns", {"pids_file": str(pids_file)})
    try:
        pids = wait_for(lambda: pids_file.exists() and json.loads(pids_file.read_text()), 30, "the job's processes")
        assert all(alive(pid) for pid in pids)
        closed = time.monotonic()
        os.close(lifeline)
        runner.wait(timeout=5)
        wait_for(lambda: not any(alive(pid) for pid in pids), 2, "the job's processes to die")
        assert time.monotonic() - closed < 2
        assert "stopping the run at once: the engine closed the lifeline" in runner.stderr.read()
    finally:
        if runner.poll() is None:
            runner.kill()
        for pid in json.loads(pids_file.read_text()) if pids_file.exists() else []:
            if alive(pid):
                os.kill(pid, 9)


def test_a_run_whose_lifeline_holds_runs_as_usual(tmp_path):
    output = tmp_path / "seen.json"
    runner, lifeline = start_runner(tmp_path, "pod-echo", {"output": str(output), "greeting": "hi"})
    try:
        assert runner.wait(timeout=60) == EXIT_SUCCEEDED, runner.stderr.read()
        assert json.loads(output.read_text())["greeting"] == "hi"
    finally:
        os.close(lifeline)


def test_descendants_finds_children_and_grandchildren():
    shell = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"])
    try:
        found = wait_for(lambda: len(descendants(os.getpid())) >= 3 and descendants(os.getpid()), 10, "the shell's children")
        assert shell.pid in found
        assert len([pid for pid in found if pid != shell.pid and alive(pid)]) >= 2
    finally:
        for pid in descendants(shell.pid):
            os.kill(pid, 9)
        shell.kill()
        shell.wait()
