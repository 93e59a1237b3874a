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

from craft_jobs.cli_output import dump, job_text, jobs_table, when
from craft_jobs.cli_recurring import add_recurring_commands, cmd_recurring_list
from craft_jobs.cli_support import (
    add_job_options,
    add_presentation,
    add_tenant,
    client_options,
    colour,
    json_arg,
    options_of,
    params_of,
    present,
    read_file,
    state_arg,
    with_scheduler,
    yaml_documents,
)
from craft_jobs.errors import CraftJobsError, DatabaseUnavailableError, ValidationError

EXIT_USAGE = 2


# -- commands ----------------------------------------------------------------------


def cmd_dev(args: argparse.Namespace) -> int:
    from craft_jobs.dev import check_port_free, configure_dev_logging, run_dev

    options = options_of(args, job_modules=args.job_modules)
    if options.enable_dashboard:
        check_port_free(args.host, args.port)
    configure_dev_logging()
    asyncio.run(run_dev(options, samples=args.samples, host=args.host, port=args.port))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from craft_jobs.store.migrations import migrate

    options = client_options(args)
    applied = asyncio.run(migrate(options.connection_string, options.schema_name))
    print(f"schema {options.schema_name}: applied {applied}" if applied else f"schema {options.schema_name} is up to date")
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from craft_jobs.kube.spec import parse_delay, parse_time

    params = params_of(args)
    try:
        delay = parse_delay(args.delay) if args.delay else None
    except ValidationError as exc:
        raise ValidationError("--delay", exc.reason) from exc
    at = parse_time(args.at, "--at") if args.at else None

    async def action(scheduler):
        return await scheduler.schedule(
            args.job_type, params, delay=delay, at=at, queue=args.queue, tenant_id=args.tenant,
            user_id=args.user, metadata=json_arg(args.metadata, "--metadata"), max_attempts=args.max_attempts,
        )

    print(asyncio.run(with_scheduler(args, action)))
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from craft_jobs.resources import apply_background_job, apply_recurring_job, check_document, document_ref

    documents = yaml_documents(read_file(args.file, "-f"), "-f")
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

    asyncio.run(with_scheduler(args, action))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    if args.recurring:
        return cmd_recurring_list(args)
    wide = args.output == "wide"

    async def render(scheduler) -> str:
        jobs = await scheduler.store.list_jobs(state=args.state, tenant_id=args.tenant, job_type=args.type, limit=args.limit)
        if args.output in ("json", "yaml"):
            return dump({"items": jobs}, args.output)
        return jobs_table(jobs, wide=wide, colour=colour())

    return present(args, render)


def cmd_show(args: argparse.Namespace) -> int:
    async def render(scheduler) -> str:
        job = await scheduler.get_job(args.job_id, tenant_id=args.tenant)
        history = await scheduler.store.job_history(job.id)
        if args.output in ("json", "yaml"):
            return dump({"job": job, "history": history}, args.output)
        return job_text(job, history, colour=colour())

    return present(args, render)


def _change(args: argparse.Namespace, verb: str) -> int:
    async def action(scheduler):
        method = scheduler.delete if verb == "delete" else scheduler.requeue
        return await method(args.job_id, tenant_id=args.tenant)

    if not asyncio.run(with_scheduler(args, action)):
        print(f"error: job {args.job_id} does not exist", file=sys.stderr)
        return 1
    print(f"job {args.job_id} {'deleted' if verb == 'delete' else 'requeued'}")
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    async def action(scheduler):
        return await scheduler.trigger_recurring(args.recurring_id, tenant_id=args.tenant)

    print(f"recurring job {args.recurring_id} triggered: job {asyncio.run(with_scheduler(args, action))}")
    return 0


def cmd_register_types(args: argparse.Namespace) -> int:
    """Records job types from `python -m craft_jobs_runner describe` (run in a job image)."""
    text = read_file(args.file, "-f")
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

    asyncio.run(with_scheduler(args, action))
    print(f"registered {len(descriptors)} job types: {', '.join(d['job_type'] for d in descriptors)}")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from craft_jobs.prune import prune, prune_request

    request = prune_request(args.state, args.older_than, args.tenant, args.batch_size)

    async def action(scheduler):
        return await prune(scheduler.store, request, scheduler.store.clock.now(), remove=args.yes)

    asyncio.run(with_scheduler(args, action))
    return 0


def cmd_operator(args: argparse.Namespace) -> int:
    from craft_jobs.kube.operator import run_operator

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = options_of(args)

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
    asyncio.run(serve(client_options(args), args.host, args.port))
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

    dev = command("dev", cmd_dev, "run locally: embedded PostgreSQL, engine, local executor, dashboard")
    dev.add_argument("--samples", action="store_true", help="schedule the sample jobs")
    dev.add_argument("--host", default="127.0.0.1", help="dashboard address (default 127.0.0.1)")
    dev.add_argument("--port", type=int, default=8080, help="dashboard port (default 8080; `make dev PORT=N` passes it)")
    dev.add_argument("--job-modules", type=lambda s: [m for m in s.split(",") if m], default=None,
                     help="comma-separated modules holding your job classes")

    command("migrate", cmd_migrate, "create or upgrade the database schema")

    schedule = command("schedule", cmd_schedule, "schedule a job (fire-and-forget, delayed or at a time)")
    add_job_options(schedule)
    schedule.add_argument("--delay", help="run after a delay: 90s, 10m, 1h30m, 1d")
    schedule.add_argument("--at", help="run at an RFC 3339 time")
    add_tenant(schedule)

    apply = command("apply", cmd_apply, "apply BackgroundJob/RecurringJob YAML (the same files kubectl takes)")
    apply.add_argument("-f", "--file", required=True, help="a YAML file, or - for standard input")
    apply.add_argument("-n", "--namespace", default="default")
    apply.add_argument("--user")
    add_tenant(apply)

    listing = command("list", cmd_list, "list jobs, newest first (or recurring jobs)")
    listing.add_argument("--state", type=state_arg, help="Awaiting, Scheduled, Enqueued, Processing, Succeeded, Failed or Deleted (any case)")
    listing.add_argument("--type")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--recurring", action="store_true", help="list recurring jobs instead (as `recurring list`)")
    add_presentation(listing)
    add_tenant(listing)

    show = command("show", cmd_show, "show one job and its state history")
    show.add_argument("job_id", type=int)
    add_presentation(show)
    add_tenant(show)

    for name, help_text in (("requeue", "enqueue a job again, from any state"), ("delete", "delete a job (a running one is stopped)")):
        sub = command(name, lambda a, verb=name: _change(a, verb), help_text)
        sub.add_argument("job_id", type=int)
        add_tenant(sub)

    trigger = command("trigger", cmd_trigger, "run a recurring job now (as `recurring trigger`)")
    trigger.add_argument("recurring_id")
    add_tenant(trigger)

    add_recurring_commands(command("recurring", None, "add, list, show, pause, resume, remove or trigger recurring jobs"),
                           cmd_trigger)

    register = command("register-types", cmd_register_types,
                       "record the job types of a job image, so that jobs are validated when scheduled")
    register.add_argument("-f", "--file", default="-",
                          help="output of `python -m craft_jobs_runner describe` (default: standard input)")

    prune_cmd = command("prune", cmd_prune, "remove old jobs of one state with their history (a dry run without --yes)")
    prune_cmd.add_argument("--state", required=True, help="Succeeded, Deleted or Failed (any case)")
    prune_cmd.add_argument("--older-than", required=True, help="in that state for longer than this: 30d, 12h, 1d12h")
    prune_cmd.add_argument("--yes", action="store_true", help="remove them (without it, only print what would go)")
    prune_cmd.add_argument("--batch-size", type=int, default=1000, help="jobs removed per statement (default 1000)")
    add_tenant(prune_cmd)

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
