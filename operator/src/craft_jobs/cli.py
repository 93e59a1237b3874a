"""`craft-jobs`: run Craft Jobs and manage jobs from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from craft_jobs.cli_output import OUTPUTS, colour_wanted, dump, job_text, jobs_table, recurring_table, recurring_text, watch, when
from craft_jobs.errors import (
    CraftJobsError,
    DatabaseUnavailableError,
    OptionsError,
    RecurringJobNotFoundError,
    ValidationError,
)
from craft_jobs.options import JobOptions, load_options
from craft_jobs.states import JobState

EXIT_USAGE = 2


def _options(args: argparse.Namespace, **extra: Any) -> JobOptions:
    return load_options(connection_string=getattr(args, "connection_string", None), **extra)


def _client_options(args: argparse.Namespace) -> JobOptions:
    """Options for commands that talk to an existing database (or a running `dev`)."""
    from craft_jobs.dev import read_dev_connection

    options = _options(args)
    if not options.connection_string:
        found = read_dev_connection(options.data_dir)
        if found is None:
            raise OptionsError(
                "CRAFT_JOBS_CONNECTION_STRING (connection_string)",
                "is not set and no `craft-jobs dev` is running here; set it or pass --connection-string",
            )
        options = options.model_copy(update={"connection_string": found})
    return options


async def _with_scheduler(args: argparse.Namespace, action):
    from craft_jobs.client.scheduler import JobScheduler

    options = _client_options(args)
    import craft_jobs_runner

    craft_jobs_runner.import_job_modules(options.job_modules)
    scheduler = await JobScheduler.connect(options, startup_timeout=3)
    try:
        return await action(scheduler)
    finally:
        await scheduler.close()


def _json_arg(text: str | None, field: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError(field, f"is not valid JSON: {exc}") from None


def _read(path: str, flag: str) -> str:
    """A file's text, or standard input for "-"; an unreadable one names the flag."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise ValidationError(flag, f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(flag, f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


def _yaml_documents(text: str, flag: str) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValidationError(flag, f"is not valid YAML: {problem}{where}") from None


def _params(args: argparse.Namespace) -> Any:
    if args.params_file:
        return _json_arg(_read(args.params_file, "--params-file"), "--params-file")
    return _json_arg(args.params, "--params")


def _state_arg(text: str) -> JobState:
    try:
        return JobState.named(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _interval_minutes(text: str) -> int:
    """--every: 5m, 2h, 1d (whole minutes)."""
    from craft_jobs.kube.spec import parse_delay

    try:
        every = parse_delay(text)
    except ValidationError as exc:
        raise ValidationError("--every", exc.reason) from None
    minutes, rest = divmod(int(every.total_seconds()), 60)
    if rest or not minutes:
        raise ValidationError("--every", f"{text!r} is not a whole number of minutes (at least 1m)")
    return minutes


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0.1 to 3600")
    return value


def _colour(args: argparse.Namespace) -> bool:
    return colour_wanted(sys.stdout)


def _present(args: argparse.Namespace, render) -> int:
    """Prints `render(scheduler)` once, or with --watch every --interval seconds until Ctrl+C."""

    async def action(scheduler):
        if not getattr(args, "watch", False):
            print(await render(scheduler))
            return
        title = "craft-jobs " + " ".join(sys.argv[1:]) if sys.argv[1:] else "craft-jobs"
        await watch(lambda: render(scheduler), interval=args.interval, title=title)

    asyncio.run(_with_scheduler(args, action))
    return 0


# -- commands ----------------------------------------------------------------------


def cmd_dev(args: argparse.Namespace) -> int:
    from craft_jobs.dev import check_port_free, configure_dev_logging, run_dev

    options = _options(args, job_modules=args.job_modules)
    if options.enable_dashboard:
        check_port_free(args.host, args.port)
    configure_dev_logging()
    asyncio.run(run_dev(options, samples=args.samples, host=args.host, port=args.port))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from craft_jobs.store.migrations import migrate

    options = _client_options(args)
    applied = asyncio.run(migrate(options.connection_string, options.schema_name))
    print(f"schema {options.schema_name}: applied {applied}" if applied else f"schema {options.schema_name} is up to date")
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from craft_jobs.kube.spec import parse_delay, parse_time

    params = _params(args)
    try:
        delay = parse_delay(args.delay) if args.delay else None
    except ValidationError as exc:
        raise ValidationError("--delay", exc.reason) from exc
    at = parse_time(args.at, "--at") if args.at else None

    async def action(scheduler):
        return await scheduler.schedule(
            args.job_type, params, delay=delay, at=at, queue=args.queue, tenant_id=args.tenant,
            user_id=args.user, metadata=_json_arg(args.metadata, "--metadata"), max_attempts=args.max_attempts,
        )

    print(asyncio.run(_with_scheduler(args, action)))
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from craft_jobs.resources import apply_background_job, apply_recurring_job, check_document, document_ref

    documents = _yaml_documents(_read(args.file, "-f"), "-f")
    if not documents:
        raise ValidationError("-f", f"{args.file} holds no document")
    refs = [document_ref(doc, args.namespace) for doc in documents]  # all checked before any is applied
    who = {"tenant_id": args.tenant, "user_id": args.user}

    async def action(scheduler):
        earlier: set[tuple[str, str]] = set()
        for ref, document in zip(refs, documents):
            await check_document(scheduler, ref, document, earlier_jobs=earlier, **who)
            if ref.kind == "BackgroundJob":
                earlier.add((ref.namespace, ref.name))
        for ref, document in zip(refs, documents):
            if ref.kind == "BackgroundJob":
                job_id = await apply_background_job(scheduler, ref, document["spec"], **who)
                print(f"backgroundjob/{ref.name} applied: job {job_id}")
            else:
                recurring = await apply_recurring_job(scheduler, ref, document["spec"], **who)
                print(f"recurringjob/{ref.name} applied: next run {when(recurring.next_run_at)} UTC")

    asyncio.run(_with_scheduler(args, action))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    if args.recurring:
        return cmd_recurring_list(args)
    wide = args.output == "wide"

    async def render(scheduler) -> str:
        jobs = await scheduler.store.list_jobs(state=args.state, tenant_id=args.tenant, job_type=args.type, limit=args.limit)
        if args.output in ("json", "yaml"):
            return dump({"items": jobs}, args.output)
        return jobs_table(jobs, wide=wide, colour=_colour(args))

    return _present(args, render)


def cmd_show(args: argparse.Namespace) -> int:
    async def render(scheduler) -> str:
        job = await scheduler.get_job(args.job_id, tenant_id=args.tenant)
        history = await scheduler.store.job_history(job.id)
        if args.output in ("json", "yaml"):
            return dump({"job": job, "history": history}, args.output)
        return job_text(job, history, colour=_colour(args))

    return _present(args, render)


def _change(args: argparse.Namespace, verb: str) -> int:
    async def action(scheduler):
        method = scheduler.delete if verb == "delete" else scheduler.requeue
        return await method(args.job_id, tenant_id=args.tenant)

    if not asyncio.run(_with_scheduler(args, action)):
        print(f"error: job {args.job_id} does not exist", file=sys.stderr)
        return 1
    print(f"job {args.job_id} {'deleted' if verb == 'delete' else 'requeued'}")
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    async def action(scheduler):
        return await scheduler.trigger_recurring(args.recurring_id, tenant_id=args.tenant)

    print(f"recurring job {args.recurring_id} triggered: job {asyncio.run(_with_scheduler(args, action))}")
    return 0


def cmd_recurring_add(args: argparse.Namespace) -> int:
    from craft_jobs.states import ConcurrencyPolicy

    params = _params(args)
    interval = _interval_minutes(args.every) if args.every else None
    policy = next((p for p in ConcurrencyPolicy if p.value.lower() == args.concurrency.lower()), None)
    if policy is None:
        raise ValidationError("--concurrency", f"must be Allow, Forbid or Replace, got {args.concurrency!r}")

    async def action(scheduler):
        existed = await scheduler.store.get_recurring(args.recurring_id) is not None
        recurring = await scheduler.schedule_recurring(
            args.recurring_id, args.cron, args.job_type, params, interval_minutes=interval, time_zone=args.time_zone,
            concurrency_policy=policy, paused=args.paused, queue=args.queue, tenant_id=args.tenant, user_id=args.user,
            metadata=_json_arg(args.metadata, "--metadata"), max_attempts=args.max_attempts,
            timeout_seconds=args.timeout,
        )
        return recurring, existed

    recurring, existed = asyncio.run(_with_scheduler(args, action))
    next_run = "paused" if recurring.paused else f"next run {when(recurring.next_run_at)} UTC"
    print(f"recurring job {recurring.id} {'updated' if existed else 'added'}: {next_run}")
    return 0


def cmd_recurring_list(args: argparse.Namespace) -> int:
    async def render(scheduler) -> str:
        items = await _stats(scheduler).list_recurring([args.tenant] if args.tenant else None)
        if args.output in ("json", "yaml"):
            return dump({"items": items}, args.output)
        return recurring_table(items, wide=args.output == "wide", colour=_colour(args))

    return _present(args, render)


def cmd_recurring_show(args: argparse.Namespace) -> int:
    from craft_jobs.schedules import parse_schedule

    async def render(scheduler) -> str:
        recurring = await scheduler.get_recurring(args.recurring_id, tenant_id=args.tenant)
        runs = await _stats(scheduler).recurring_runs(recurring.id)
        if args.output in ("json", "yaml"):
            return dump({"recurring": recurring, "recent_runs": runs}, args.output)
        try:
            words = parse_schedule(recurring.cron, recurring.interval_minutes, recurring.time_zone, recurring.anchor_at).describe()
        except ValidationError as exc:
            words = exc.reason
        return recurring_text(recurring, words, runs, colour=_colour(args))

    return _present(args, render)


def _recurring_change(args: argparse.Namespace, verb: str) -> int:
    async def action(scheduler):
        method = {"pause": scheduler.pause_recurring, "resume": scheduler.resume_recurring,
                  "remove": scheduler.remove_recurring}[verb]
        return await method(args.recurring_id, tenant_id=args.tenant)

    if not asyncio.run(_with_scheduler(args, action)):
        raise RecurringJobNotFoundError(args.recurring_id)
    print(f"recurring job {args.recurring_id} {verb}d" if verb != "remove" else f"recurring job {args.recurring_id} removed")
    return 0


def _stats(scheduler):
    from craft_jobs.store.stats import StatsStore

    return StatsStore(scheduler.store.connector, scheduler.options, scheduler.store.clock)


def cmd_register_types(args: argparse.Namespace) -> int:
    """Records job types from `python -m craft_jobs_runner describe` (run in a job image)."""
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        descriptors = json.loads(text)
    except ValueError as exc:
        raise ValidationError(args.file, f"is not the JSON that `describe` prints: {exc}") from None
    if not isinstance(descriptors, list) or not all(
        isinstance(d, dict) and isinstance(d.get("job_type"), str) and isinstance(d.get("parameters_schema"), dict)
        for d in descriptors
    ):
        raise ValidationError(args.file, "must be a list of {job_type, parameters_schema, ...} objects")

    async def action(scheduler):
        await scheduler.store.upsert_job_types(descriptors)

    asyncio.run(_with_scheduler(args, action))
    print(f"registered {len(descriptors)} job types: {', '.join(d['job_type'] for d in descriptors)}")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from craft_jobs.prune import prune, prune_request

    request = prune_request(args.state, args.older_than, args.tenant, args.batch_size)

    async def action(scheduler):
        return await prune(scheduler.store, request, scheduler.store.clock.now(), remove=args.yes)

    asyncio.run(_with_scheduler(args, action))
    return 0


def cmd_operator(args: argparse.Namespace) -> int:
    from craft_jobs.kube.operator import run_operator

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = _options(args)

    async def operate() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_operator(options, stop=stop)

    asyncio.run(operate())
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from craft_jobs.dashboard.app import serve

    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve(_client_options(args), args.host, args.port))
    return 0


# -- parser ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="craft-jobs", description="Background jobs for Kubernetes, on PostgreSQL.")
    parser.add_argument("--connection-string", help="PostgreSQL URL (default: CRAFT_JOBS_CONNECTION_STRING, else a running `craft-jobs dev`)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if handler is not None:
            sub.set_defaults(handler=handler)
        return sub

    def tenant(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--tenant", help="act as this tenant (with multi-tenancy)")

    dev = command("dev", cmd_dev, "run locally: embedded PostgreSQL, engine, local executor, dashboard")
    dev.add_argument("--samples", action="store_true", help="schedule the sample jobs")
    dev.add_argument("--host", default="127.0.0.1", help="dashboard address (default 127.0.0.1)")
    dev.add_argument("--port", type=int, default=8080, help="dashboard port (default 8080)")
    dev.add_argument("--job-modules", type=lambda s: [m for m in s.split(",") if m], default=None,
                     help="comma-separated modules holding your job classes")

    command("migrate", cmd_migrate, "create or upgrade the database schema")

    def job_options(sub: argparse.ArgumentParser) -> None:
        """What `schedule` and `recurring add` both give the jobs they make."""
        sub.add_argument("job_type")
        sub.add_argument("--params", help="parameters as JSON")
        sub.add_argument("--params-file", help="parameters from a JSON file")
        sub.add_argument("--queue")
        sub.add_argument("--user")
        sub.add_argument("--metadata", help="metadata as a JSON object")
        sub.add_argument("--max-attempts", type=int)

    schedule = command("schedule", cmd_schedule, "schedule a job (fire-and-forget, delayed or at a time)")
    job_options(schedule)
    schedule.add_argument("--delay", help="run after a delay: 90s, 10m, 1h30m, 1d")
    schedule.add_argument("--at", help="run at an RFC 3339 time")
    tenant(schedule)

    apply = command("apply", cmd_apply, "apply BackgroundJob/RecurringJob YAML (the same files kubectl takes)")
    apply.add_argument("-f", "--file", required=True, help="a YAML file, or - for standard input")
    apply.add_argument("-n", "--namespace", default="default")
    apply.add_argument("--user")
    tenant(apply)

    def presented(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("-o", "--output", choices=OUTPUTS, default="table",
                         help="table (default), wide (more columns), json or yaml")
        sub.add_argument("-w", "--watch", action="store_true", help="print again every --interval seconds until Ctrl+C")
        sub.add_argument("--interval", type=_positive_seconds, default=2.0, help="seconds between --watch updates (default 2)")

    listing = command("list", cmd_list, "list jobs, newest first (or recurring jobs)")
    listing.add_argument("--state", type=_state_arg, help="Awaiting, Scheduled, Enqueued, Processing, Succeeded, Failed or Deleted (any case)")
    listing.add_argument("--type")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--recurring", action="store_true", help="list recurring jobs instead (as `recurring list`)")
    presented(listing)
    tenant(listing)

    show = command("show", cmd_show, "show one job and its state history")
    show.add_argument("job_id", type=int)
    presented(show)
    tenant(show)

    for name, help_text in (("requeue", "enqueue a job again, from any state"), ("delete", "delete a job (a running one is stopped)")):
        sub = command(name, lambda a, verb=name: _change(a, verb), help_text)
        sub.add_argument("job_id", type=int)
        tenant(sub)

    trigger = command("trigger", cmd_trigger, "run a recurring job now (as `recurring trigger`)")
    trigger.add_argument("recurring_id")
    tenant(trigger)

    recurring = command("recurring", None, "add, list, show, pause, resume, remove or trigger recurring jobs")
    verbs = recurring.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, handler, help_text: str, with_id: bool = True) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        if with_id:
            sub.add_argument("recurring_id", metavar="ID")
        tenant(sub)
        return sub

    add = verb("add", cmd_recurring_add, "create or update a recurring job (cron or every N minutes)")
    job_options(add)
    when_group = add.add_mutually_exclusive_group(required=True)
    when_group.add_argument("--cron", help='five-field cron, e.g. "0 3 * * *"')
    when_group.add_argument("--every", help="an interval in whole minutes: 5m, 2h, 1d")
    add.add_argument("--time-zone", default="UTC", help="IANA time zone of the cron (default UTC)")
    add.add_argument("--concurrency", default="Allow", help="Allow (default), Forbid or Replace")
    add.add_argument("--paused", action="store_true", help="create it paused")
    add.add_argument("--timeout", type=int, help="seconds one run may take")
    presented(verb("list", cmd_recurring_list, "list recurring jobs with their next run", with_id=False))
    presented(verb("show", cmd_recurring_show, "show a recurring job, its schedule in words and its recent runs"))
    for name, help_text in (("pause", "stop firing until resumed"), ("resume", "fire again from the next slot"),
                            ("remove", "remove the schedule (jobs it fired stay)")):
        verb(name, lambda a, v=name: _recurring_change(a, v), help_text)
    verb("trigger", cmd_trigger, "run it now, outside its schedule")

    register = command("register-types", cmd_register_types,
                       "record the job types of a job image, so that jobs are validated when scheduled")
    register.add_argument("-f", "--file", default="-",
                          help="output of `python -m craft_jobs_runner describe` (default: standard input)")

    prune_cmd = command("prune", cmd_prune, "remove old jobs of one state with their history (a dry run without --yes)")
    prune_cmd.add_argument("--state", required=True, help="Succeeded, Deleted or Failed (any case)")
    prune_cmd.add_argument("--older-than", required=True, help="in that state for longer than this: 30d, 12h, 1d12h")
    prune_cmd.add_argument("--yes", action="store_true", help="remove them (without it, only print what would go)")
    prune_cmd.add_argument("--batch-size", type=int, default=1000, help="jobs removed per statement (default 1000)")
    tenant(prune_cmd)

    command("operator", cmd_operator, "run the Kubernetes operator (kopf + engine with the Kubernetes executor)")

    dashboard = command("dashboard", cmd_dashboard, "serve the dashboard and REST API")
    dashboard.add_argument("--host", default=None, help="default: CRAFT_JOBS_DASHBOARD_HOST, else 127.0.0.1")
    dashboard.add_argument("--port", type=int, default=None, help="default: CRAFT_JOBS_DASHBOARD_PORT, else 8080")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ValidationError as exc:
        print(f"error: {exc.field}: {exc.reason}", file=sys.stderr)
        return EXIT_USAGE
    except DatabaseUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except CraftJobsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `craft-jobs list | head`: the reader has all it wanted
        sys.stderr.close()
        return 0
    except Exception as exc:  # a bug of ours: one line, and the traceback on request
        if os.environ.get("CRAFT_JOBS_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (CRAFT_JOBS_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
