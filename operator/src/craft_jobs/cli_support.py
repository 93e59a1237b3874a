"""What the `craft-jobs` commands share: options, a scheduler for the command's
duration, arguments read from files, JSON and YAML, and printing once or
with --watch. Errors name the flag (ValidationError), so `main` prints one line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from craft_jobs.cli_output import OUTPUTS, colour_wanted, watch
from craft_jobs.errors import OptionsError, ValidationError
from craft_jobs.options import JobOptions, load_options
from craft_jobs.states import JobState


def options_of(args: argparse.Namespace, **extra: Any) -> JobOptions:
    return load_options(connection_string=getattr(args, "connection_string", None), **extra)


def client_options(args: argparse.Namespace) -> JobOptions:
    """Options for commands that talk to an existing database (or a running `dev`)."""
    from craft_jobs.dev import read_dev_connection

    options = options_of(args)
    if not options.connection_string:
        found = read_dev_connection(options.data_dir)
        if found is None:
            raise OptionsError(
                "CRAFT_JOBS_CONNECTION_STRING (connection_string)",
                "is not set and no `craft-jobs dev` is running here; set it or pass --connection-string",
            )
        options = options.model_copy(update={"connection_string": found})
    return options


async def with_scheduler(args: argparse.Namespace, action):
    from craft_jobs.audit import Surface, acting_as
    from craft_jobs.client.scheduler import JobScheduler

    options = client_options(args)
    import craft_jobs_runner

    craft_jobs_runner.import_job_modules(options.job_modules)
    scheduler = await JobScheduler.connect(options, startup_timeout=3)
    try:
        # Audited as the CLI's, by --user when given, else the login running it.
        with acting_as(Surface.CLI, getattr(args, "user", None) or _login_name()):
            return await action(scheduler)
    finally:
        await scheduler.close()


def _login_name() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (a container): the database role is recorded
        return None


def json_arg(text: str | None, field: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError(field, f"is not valid JSON: {exc}") from None


def read_file(path: str, flag: str) -> str:
    """A file's text, or standard input for "-"; an unreadable one names the flag."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise ValidationError(flag, f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(flag, f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


def yaml_documents(text: str, flag: str) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValidationError(flag, f"is not valid YAML: {problem}{where}") from None


def params_of(args: argparse.Namespace) -> Any:
    if args.params_file:
        return json_arg(read_file(args.params_file, "--params-file"), "--params-file")
    return json_arg(args.params, "--params")


def state_arg(text: str) -> JobState:
    try:
        return JobState.named(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0.1 to 3600")
    return value


def colour() -> bool:
    """Colour for standard output (a terminal, without NO_COLOR)."""
    return colour_wanted(sys.stdout)


def present(args: argparse.Namespace, render) -> int:
    """Prints `render(scheduler)` once, or with --watch every --interval seconds until Ctrl+C."""

    async def action(scheduler):
        if not getattr(args, "watch", False):
            print(await render(scheduler))
            return
        title = "craft-jobs " + " ".join(sys.argv[1:]) if sys.argv[1:] else "craft-jobs"
        await watch(lambda: render(scheduler), interval=args.interval, title=title)

    asyncio.run(with_scheduler(args, action))
    return 0


def add_tenant(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--tenant", help="act as this tenant (with multi-tenancy)")


def add_presentation(sub: argparse.ArgumentParser) -> None:
    """-o, --watch and --interval, for the commands that print jobs."""
    sub.add_argument("-o", "--output", choices=OUTPUTS, default="table",
                     help="table (default), wide (more columns), json or yaml")
    sub.add_argument("-w", "--watch", action="store_true", help="print again every --interval seconds until Ctrl+C")
    sub.add_argument("--interval", type=positive_seconds, default=2.0, help="seconds between --watch updates (default 2)")


def add_job_options(sub: argparse.ArgumentParser) -> None:
    """What `schedule` and `recurring add` both give the jobs they make."""
    sub.add_argument("job_type")
    sub.add_argument("--params", help="parameters as JSON")
    sub.add_argument("--params-file", help="parameters from a JSON file")
    sub.add_argument("--queue")
    sub.add_argument("--user")
    sub.add_argument("--metadata", help="metadata as a JSON object")
    sub.add_argument("--max-attempts", type=int)
