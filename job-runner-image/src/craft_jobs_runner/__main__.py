"""The entry point of every job pod: `python -m craft_jobs_runner`.

Without arguments it runs one job from the pod contract (see `contract`) and
exits with the run's exit code, writing the error (if any) to the termination
message file. `python -m craft_jobs_runner describe` prints the descriptors of
the job types the image provides, as a JSON list.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import contract, lifeline
from .cancel import CancelSignal
from .context import JobContext
from .errors import ContextError, JobModuleImportError, RunnerError
from .execution import ErrorInfo, RunResult, execute_with_context
from .job import job_descriptor
from .logs import configure_logging
from .registry import get_job_class, import_job_modules, registered_job_types
from .termination import write_termination_message

USAGE = "usage: python -m craft_jobs_runner [describe]"

logger = logging.getLogger("craft_jobs_runner")


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    if argv == ["describe"]:
        return _describe(env)
    if argv:
        print(USAGE, file=sys.stderr)
        return 2
    return _run(env)


def _run(env: Mapping[str, str]) -> int:
    termination_path = env.get(contract.ENV_TERMINATION_MESSAGE_PATH, "").strip() or (
        contract.DEFAULT_TERMINATION_MESSAGE_PATH
    )
    try:
        _configure_logging(env)
        lifeline.watch(env)  # before the job's imports: they may take a while
        import_job_modules(env.get(contract.ENV_JOB_MODULES, ""))
        context = JobContext.from_environment(env, cancel_event=CancelSignal())
        grace = _cancel_grace_seconds(env)
        raw_parameters = _read_parameters(env)
    except RunnerError as exc:
        # The pod contract itself is wrong: running again cannot help.
        logger.error("job not run: %s", exc)
        with_stack = isinstance(exc, JobModuleImportError)  # the cause's traceback matters
        result = RunResult(contract.EXIT_NON_RETRYABLE, ErrorInfo.from_exception(exc, with_stack=with_stack))
    else:
        result = asyncio.run(_execute(context, raw_parameters, grace))
    if result.error is not None:
        write_termination_message(termination_path, result.error)
    return result.exit_code


async def _execute(context: JobContext, raw_parameters: bytes, grace: float) -> RunResult:
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, _request_cancellation, context, signum)
    try:
        context.logger.info("job started")
        result = await execute_with_context(context, raw_parameters, cancel_grace_seconds=grace)
        context.logger.info("job finished with exit code %d", result.exit_code)
        return result
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


def _request_cancellation(context: JobContext, signum: int) -> None:
    if not context.cancelled:
        context.logger.warning("received %s: cancelling the job", signal.Signals(signum).name)
        context.cancel_event.set()  # type: ignore[union-attr]


def _configure_logging(env: Mapping[str, str]) -> None:
    log_format = env.get(contract.ENV_LOG_FORMAT, "").strip().lower() or "json"
    level_name = env.get(contract.ENV_LOG_LEVEL, "").strip().upper() or "INFO"
    # Configure first, so that a bad value below is itself logged.
    configure_logging(json=log_format != "text", level=logging.INFO)
    if log_format not in ("json", "text"):
        raise ContextError(contract.ENV_LOG_FORMAT, f"must be 'json' or 'text', got {log_format!r}")
    level = logging.getLevelNamesMapping().get(level_name)
    if level is None:
        raise ContextError(contract.ENV_LOG_LEVEL, f"must be a logging level name, got {level_name!r}")
    logging.getLogger().setLevel(level)


def _cancel_grace_seconds(env: Mapping[str, str]) -> float:
    value = env.get(contract.ENV_CANCEL_GRACE_SECONDS, "").strip()
    if not value:
        return contract.DEFAULT_CANCEL_GRACE_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ContextError(
            contract.ENV_CANCEL_GRACE_SECONDS, f"must be a non-negative number of seconds, got {value!r}"
        )
    return seconds


def _read_parameters(env: Mapping[str, str]) -> bytes:
    """The parameters file's bytes; without CRAFT_JOB_PARAMETERS_FILE, no parameters."""
    path = env.get(contract.ENV_PARAMETERS_FILE, "").strip()
    if not path:
        return b"{}"
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ContextError(contract.ENV_PARAMETERS_FILE, f"the parameters file {path} does not exist") from None
    except OSError as exc:
        raise ContextError(
            contract.ENV_PARAMETERS_FILE, f"cannot read the parameters file {path}: {exc.strerror or exc}"
        ) from None


def _describe(env: Mapping[str, str]) -> int:
    try:
        _configure_logging(env)
        import_job_modules(env.get(contract.ENV_JOB_MODULES, ""))
    except RunnerError as exc:
        print(f"craft_jobs_runner describe: {exc}", file=sys.stderr)
        return 1
    descriptors = [job_descriptor(get_job_class(job_type)) for job_type in registered_job_types()]
    print(json.dumps(descriptors, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
