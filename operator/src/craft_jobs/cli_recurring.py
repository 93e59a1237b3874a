"""`craft-jobs recurring add|list|show|pause|resume|remove|trigger`."""

from __future__ import annotations

import argparse
import asyncio

from craft_jobs.cli_output import dump, recurring_table, recurring_text, when
from craft_jobs.cli_support import (
    add_job_options,
    add_presentation,
    add_tenant,
    colour,
    json_arg,
    params_of,
    present,
    with_scheduler,
)
from craft_jobs.errors import RecurringJobNotFoundError, ValidationError


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


def cmd_recurring_add(args: argparse.Namespace) -> int:
    from craft_jobs.states import ConcurrencyPolicy

    params = params_of(args)
    interval = _interval_minutes(args.every) if args.every else None
    policy = next((p for p in ConcurrencyPolicy if p.value.lower() == args.concurrency.lower()), None)
    if policy is None:
        raise ValidationError("--concurrency", f"must be Allow, Forbid or Replace, got {args.concurrency!r}")

    async def action(scheduler):
        existed = await scheduler.store.get_recurring(args.recurring_id, args.tenant) is not None
        recurring = await scheduler.schedule_recurring(
            args.recurring_id, args.cron, args.job_type, params, interval_minutes=interval, time_zone=args.time_zone,
            concurrency_policy=policy, paused=args.paused, queue=args.queue, tenant_id=args.tenant, user_id=args.user,
            metadata=json_arg(args.metadata, "--metadata"), max_attempts=args.max_attempts,
            timeout_seconds=args.timeout,
        )
        return recurring, existed

    recurring, existed = asyncio.run(with_scheduler(args, action))
    next_run = "paused" if recurring.paused else f"next run {when(recurring.next_run_at)} UTC"
    print(f"recurring job {recurring.id} {'updated' if existed else 'added'}: {next_run}")
    return 0


def cmd_recurring_list(args: argparse.Namespace) -> int:
    async def render(scheduler) -> str:
        items = await _stats(scheduler).list_recurring([args.tenant] if args.tenant else None)
        if args.output in ("json", "yaml"):
            return dump({"items": items}, args.output)
        return recurring_table(items, wide=args.output == "wide", colour=colour())

    return present(args, render)


def cmd_recurring_show(args: argparse.Namespace) -> int:
    from craft_jobs.schedules import parse_schedule

    async def render(scheduler) -> str:
        recurring = await scheduler.get_recurring(args.recurring_id, tenant_id=args.tenant)
        runs = await _stats(scheduler).recurring_runs(recurring.id, recurring.tenant_id)
        if args.output in ("json", "yaml"):
            return dump({"recurring": recurring, "recent_runs": runs}, args.output)
        try:
            words = parse_schedule(recurring.cron, recurring.interval_minutes, recurring.time_zone, recurring.anchor_at).describe()
        except ValidationError as exc:
            words = exc.reason
        return recurring_text(recurring, words, runs, colour=colour())

    return present(args, render)


def _recurring_change(args: argparse.Namespace, verb: str) -> int:
    async def action(scheduler):
        method = {"pause": scheduler.pause_recurring, "resume": scheduler.resume_recurring,
                  "remove": scheduler.remove_recurring}[verb]
        return await method(args.recurring_id, tenant_id=args.tenant)

    if not asyncio.run(with_scheduler(args, action)):
        raise RecurringJobNotFoundError(args.recurring_id)
    print(f"recurring job {args.recurring_id} {verb}d" if verb != "remove" else f"recurring job {args.recurring_id} removed")
    return 0


def _stats(scheduler):
    from craft_jobs.store.stats import StatsStore

    return StatsStore(scheduler.store.connector, scheduler.options, scheduler.store.clock)


def add_recurring_commands(recurring: argparse.ArgumentParser, trigger) -> None:
    """The verbs under `recurring`; `trigger` is the top-level command's handler."""
    verbs = recurring.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, handler, help_text: str, with_id: bool = True) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        if with_id:
            sub.add_argument("recurring_id", metavar="ID")
        add_tenant(sub)
        return sub

    add = verb("add", cmd_recurring_add, "create or update a recurring job (cron or every N minutes)")
    add_job_options(add)
    when_group = add.add_mutually_exclusive_group(required=True)
    when_group.add_argument("--cron", help='five-field cron, e.g. "0 3 * * *"')
    when_group.add_argument("--every", help="an interval in whole minutes: 5m, 2h, 1d")
    add.add_argument("--time-zone", default="UTC", help="IANA time zone of the cron (default UTC)")
    add.add_argument("--concurrency", default="Allow", help="Allow (default), Forbid or Replace")
    add.add_argument("--paused", action="store_true", help="create it paused")
    add.add_argument("--timeout", type=int, help="seconds one run may take")
    add_presentation(verb("list", cmd_recurring_list, "list recurring jobs with their next run", with_id=False))
    add_presentation(verb("show", cmd_recurring_show, "show a recurring job, its schedule in words and its recent runs"))
    for name, help_text in (("pause", "stop firing until resumed"), ("resume", "fire again from the next slot"),
                            ("remove", "remove the schedule (jobs it fired stay)")):
        verb(name, lambda a, v=name: _recurring_change(a, v), help_text)
    verb("trigger", trigger, "run it now, outside its schedule")
