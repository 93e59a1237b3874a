"""JobStore: every database operation of Craft Jobs, as typed methods.

It owns the named queries; callers never see SQL. Methods that take a
`session` run inside the caller's transaction (the SDK's "enqueue with my
data" path); without one they use a pooled autocommit connection.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from craft_jobs.clock import Clock, SystemClock
from craft_jobs.decisions import DecisionLog
from craft_jobs.errors import ValidationError
from craft_jobs.options import JobOptions
from craft_jobs.states import JobState
from craft_jobs.store.connector import Connector, Session, translated_errors
from craft_jobs.store.models import (
    BatchItem,
    ClaimedJob,
    Job,
    JobStateEntry,
    JobType,
    NewJob,
    Outcome,
    RecurringJob,
    Server,
)
from craft_jobs.store.notifier import Notifier, job_payload
from craft_jobs.store.queries import load_queries

_CLAIMED_FIELDS = tuple(f.name for f in dataclasses.fields(ClaimedJob) if f.name != "scheduler_access")
# The hourly outcome counters behind the day's chart, kept for a week.
OUTCOME_HOURS_KEPT = timedelta(days=7)


def _jsonb(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def _with_default(limits: dict[str, int], default: int | None) -> dict[str, int] | None:
    """Per-name limits and the default under "*" (no tenant is named so), or None for none at all."""
    merged = {**limits, "*": default} if default is not None else dict(limits)
    return merged or None


def _json_text(value: Any) -> str | None:
    """JSON as text, for a jsonb column that the statement's VALUES name: the
    parameter goes untyped and the column reads it as jsonb. psycopg's Jsonb
    dumper cost about 10 µs a value, some 5% of an enqueue's client time.
    Most jobs' metadata is empty: that text needs no encoder."""
    if value is None:
        return None
    return "{}" if value == {} else json.dumps(value)


class JobStore:
    def __init__(self, connector: Connector, options: JobOptions, clock: Clock | None = None):
        self.connector = connector
        self.options = options
        self.clock = clock or SystemClock()
        self.queries = load_queries(options.schema_name)
        self.channel = options.notify_channel
        self.notifier = Notifier(self.notify)
        self.decisions = DecisionLog(options.enable_detailed_logging)
        if self.decisions.on:
            connector.log_slow_queries(self.decisions, {text: name for name, text in self.queries.items()})

    async def close(self) -> None:
        await self.notifier.flush()
        await self.connector.close()

    # -- helpers -------------------------------------------------------------

    def _expires_at(self, now: datetime) -> datetime:
        return now + timedelta(days=self.options.job_expiration_days)

    def _runner(self, session: Session | None) -> Session | Connector:
        return session if session is not None else self.connector

    def job_insert_params(self, job: NewJob, now: datetime) -> dict[str, Any]:
        return {
            "job_type": job.job_type,
            "queue": job.queue,
            "state": job.state.value,
            "parameters": job.parameters_json if job.parameters_json is not None else _json_text(job.parameters),
            "tenant_id": job.tenant_id,
            "user_id": job.user_id,
            "metadata": _json_text(job.metadata),
            "max_attempts": job.max_attempts,
            "retry_policy": _json_text(job.retry_policy),
            "timeout_seconds": job.timeout_seconds,
            "image": job.image,
            "run_at": job.run_at,
            "scheduled_for": job.scheduled_for,
            "recurring_id": job.recurring_id,
            "parent_id": job.parent_id,
            "continuation_on": job.continuation_on.value if job.continuation_on else None,
            "batch_id": None,
            "cr_uid": job.cr_uid,
            "cr_namespace": job.cr_namespace,
            "cr_name": job.cr_name,
            "scheduled_by_job_id": job.scheduled_by_job_id,
            "reason": job.reason,
            "now": now,
            "channel": self.channel,
            "notify": True,
            **_audit_params(job),
        }

    async def installation(self, now: datetime) -> tuple[str, str]:
        """(id, signing key) of this installation; the first caller makes them."""
        row = await self.connector.fetch_one(self.queries["installation"], {
            "id": secrets.token_hex(8), "signing_key": secrets.token_hex(32), "now": now})
        return row["id"], row["signing_key"]

    async def run_in_progress(self, job_id: int, run: int) -> bool:
        """Whether the job is still Processing in that run (a run's credential lives as long)."""
        return await self.connector.fetch_value(self.queries["run_in_progress"], {"id": job_id, "run": run}) is not None

    # -- creating jobs -------------------------------------------------------

    async def insert_job(self, job: NewJob, session: Session | None = None) -> int | None:
        """Stores one job; returns its id, or None when its CR uid is already stored.
        In a session, the NOTIFY goes with its commit; on our own connection,
        with the commit or just after it (store/notifier.py)."""
        query, params = self._insert_query(job), self.job_insert_params(job, self.clock.now())
        if session is not None:
            return await session.fetch_value(query, params)
        return await self._enqueue(self.connector.fetch_value, query, params, job_payload(job.state.value, job.tenant_id))

    def _insert_query(self, job: NewJob) -> str:
        """Only a resource's job can find its uid stored already (jobs.sql says why two)."""
        return self.queries["insert_job" if job.cr_uid is None else "insert_job_for_resource"]

    async def _enqueue(self, fetch, query: str, params: dict[str, Any], payload: str) -> Any:
        """An enqueue on our own connection: its statement NOTIFYs with its
        commit when no other enqueue is under way, else the notifier sends
        one just after the commit (store/notifier.py)."""
        params["notify"] = self.notifier.starting()
        try:
            result = await fetch(query, params)
        finally:
            self.notifier.finished()
        # None (no row): the CR uid was stored before, and there is nothing new to wake for.
        if result and not params["notify"]:
            self.notifier.after_commit(payload)
        return result

    def insert_job_sync(self, job: NewJob, connection: psycopg.Connection) -> int | None:
        """The same insert on a caller's synchronous psycopg connection and transaction."""
        with translated_errors():
            row = connection.execute(self._insert_query(job), self.job_insert_params(job, self.clock.now())).fetchone()
        return None if row is None else row[0]

    def batch_insert_params(self, shared: NewJob, items: Sequence[BatchItem], batch_id: Any, now: datetime) -> dict[str, Any]:
        """`shared` holds what every job of the batch has in common (its type and
        parameters are ignored); `items` what differs."""
        return {
            "job_types": [i.job_type for i in items],
            # One JSON array, not a text[] of JSON objects: quoting every
            # object into an array literal cost a quarter of a batch's time.
            "parameters": "[" + ",".join(i.parameters_json for i in items) + "]",
            "max_attempts": [i.max_attempts for i in items],
            "timeouts": [i.timeout_seconds for i in items],
            "queue": shared.queue,
            "tenant_id": shared.tenant_id,
            "user_id": shared.user_id,
            "metadata": Jsonb(shared.metadata),
            "retry_policy": _jsonb(shared.retry_policy),
            "image": shared.image,
            "batch_id": batch_id,
            "scheduled_by_job_id": shared.scheduled_by_job_id,
            "reason": shared.reason,
            "now": now,
            "channel": self.channel,
            "notify": True,
            **_audit_params(shared),
        }

    async def insert_batch(
        self, shared: NewJob, items: Sequence[BatchItem], batch_id: Any, session: Session | None = None
    ) -> list[int]:
        """Stores many Enqueued jobs in one statement (one round trip, one NOTIFY
        sent as insert_job's is)."""
        if not items:
            return []
        query, params = self.queries["insert_jobs_batch"], self.batch_insert_params(shared, items, batch_id, self.clock.now())
        if session is not None:
            return await session.fetch_column(query, params)
        return await self._enqueue(self.connector.fetch_column, query, params, JobState.ENQUEUED.value)

    def insert_batch_sync(self, shared: NewJob, items: Sequence[BatchItem], batch_id: Any, connection: psycopg.Connection) -> list[int]:
        if not items:
            return []
        with translated_errors():
            rows = connection.execute(
                self.queries["insert_jobs_batch"], self.batch_insert_params(shared, items, batch_id, self.clock.now())
            ).fetchall()
        return [row[0] for row in rows]

    # -- reading jobs --------------------------------------------------------

    async def get_job(self, job_id: int, tenant_id: str | None = None) -> Job | None:
        row = await self.connector.fetch_one(self.queries["get_job"], {"id": job_id, "tenant_id": tenant_id})
        return None if row is None else Job.model_validate(row)

    async def get_job_by_cr_uid(self, cr_uid: str) -> Job | None:
        row = await self.connector.fetch_one(self.queries["get_job_by_cr_uid"], {"cr_uid": cr_uid})
        return None if row is None else Job.model_validate(row)

    async def get_job_by_cr_name(self, namespace: str, name: str) -> Job | None:
        row = await self.connector.fetch_one(
            self.queries["get_job_by_cr_name"], {"namespace": namespace, "name": name}
        )
        return None if row is None else Job.model_validate(row)

    async def job_state(self, job_id: int, tenant_id: str | None = None, session: Session | None = None) -> JobState | None:
        row = await self._runner(session).fetch_one(
            self.queries["job_exists"], {"id": job_id, "tenant_id": tenant_id}
        )
        return None if row is None else JobState(row["state"])

    async def job_history(self, job_id: int) -> list[JobStateEntry]:
        rows = await self.connector.fetch_all(self.queries["job_history"], {"id": job_id})
        return [JobStateEntry.model_validate(row) for row in rows]

    async def list_jobs(
        self,
        *,
        state: JobState | None = None,
        tenant_id: str | None = None,
        job_type: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[Job]:
        rows = await self.connector.fetch_all(
            self.queries["list_jobs"],
            {
                "state": state.value if state else None,
                "tenant_id": tenant_id,
                "job_type": job_type,
                "before_id": before_id,
                "limit": limit,
            },
        )
        return [Job.model_validate(row) for row in rows]

    # -- the dispatcher's path -------------------------------------------------

    def _claim_params(self, server_id: str, limit: int, queues: list[str] | None, durable: bool,
                      engine_rooms: dict[str, int] | None = None) -> dict[str, Any]:
        options = self.options
        return {
            "server_id": server_id, "limit": limit, "queues": queues, "now": self.clock.now(),
            # {tenant: slots it may still take on this engine, "*": the others'}; NULL: no headroom.
            "engine_rooms": _json_text(engine_rooms),
            "synchronous_commit": "on" if durable else "off",
            # {tenant: limit, "*": the default}; NULL without any tenant limit.
            "tenant_limits": _json_text(_with_default(options.tenant_concurrency_limits, options.tenant_concurrency_limit)),
            "queue_limits": _json_text(options.queue_concurrency_limits) if options.queue_concurrency_limits else None,
        }

    async def _claiming(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Runs a claiming statement. Under tenant concurrency limits, claims
        take turns (a transaction-wide advisory lock, then the statement, whose
        snapshot then holds every earlier claim): two engines counting a
        tenant's runs at once could otherwise both fill its last slot."""
        if not self.options.limits_concurrency:
            return await self.connector.fetch_all(query, params, generic_plan=True)
        async with self.connector.transaction(generic_plan=True) as session:
            await session.execute(self.queries["take_claim_turn"])
            return await session.fetch_all(query, params)

    @staticmethod
    def _claimed(rows: list[dict[str, Any]]) -> list[ClaimedJob]:
        return [ClaimedJob(**{name: row[name] for name in _CLAIMED_FIELDS}) for row in rows]

    async def claim_jobs(self, server_id: str, limit: int, queues: list[str] | None = None,
                         engine_rooms: dict[str, int] | None = None) -> list[ClaimedJob]:
        rows = await self._claiming(self.queries["claim_jobs"],
                                    self._claim_params(server_id, limit, queues, durable=False, engine_rooms=engine_rooms))
        return self._claimed(rows)

    async def finish_jobs(self, server_id: str, outcomes: Sequence[Outcome]) -> tuple[dict[int, JobState], bool]:
        """Records run outcomes in one statement.

        Returns the jobs that changed, and whether timed work (a retry, a
        continuation) now waits for the engines' maintenance loop."""
        if not outcomes:
            return {}, False
        rows = await self.connector.fetch_all(
            self.queries["finish_jobs"], self._finish_params(server_id, outcomes), generic_plan=True
        )
        return {row["id"]: JobState(row["state"]) for row in rows}, any(row["woke"] for row in rows)

    async def finish_and_claim(
        self, server_id: str, outcomes: Sequence[Outcome], limit: int, queues: list[str] | None = None,
        engine_rooms: dict[str, int] | None = None,
    ) -> tuple[dict[int, JobState], bool, list[ClaimedJob]]:
        """Records outcomes and claims the next jobs in one statement: one round
        trip and one commit instead of two of each."""
        params = self._finish_params(server_id, outcomes)
        params.update(self._claim_params(server_id, limit, queues, durable=True, engine_rooms=engine_rooms),
                      now=params["now"])
        rows = await self._claiming(self.queries["finish_and_claim"], params)
        first = rows[0]  # the outcomes' result rides on every row; there is always one
        changed = {job_id: JobState(state) for job_id, state in
                   zip(first["finished_ids"] or (), first["finished_states"] or ())}
        return changed, first["woke"] > 0, self._claimed([row for row in rows if row["id"] is not None])

    def _finish_params(self, server_id: str, outcomes: Sequence[Outcome]) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "ids": [o.job_id for o in outcomes],
            "states": [o.state.value for o in outcomes],
            "run_ats": [o.run_at for o in outcomes],
            "attempts": [o.attempt for o in outcomes],
            "errors": [_jsonb(o.error) for o in outcomes],
            "reasons": [o.reason for o in outcomes],
            "runs": [o.run for o in outcomes],
            "server_id": server_id,
            "now": now,
            "expires_at": self._expires_at(now),
            "channel": self.channel,
        }

    async def set_executor_ref(self, job_id: int, server_id: str, executor_ref: str) -> None:
        await self.connector.execute(
            self.queries["set_executor_ref"],
            {"id": job_id, "server_id": server_id, "executor_ref": executor_ref},
        )

    # -- maintenance -----------------------------------------------------------

    async def promote_due_jobs(self, limit: int = 1000) -> int:
        row = await self.connector.fetch_one(
            self.queries["promote_due_jobs"], {"now": self.clock.now(), "limit": limit, "channel": self.channel}
        )
        return row["promoted"]

    async def next_due_time(self) -> datetime | None:
        row = await self.connector.fetch_one(self.queries["next_due_time"])
        return row["due"]

    async def release_continuations(self, limit: int = 1000) -> int:
        now = self.clock.now()
        row = await self.connector.fetch_one(
            self.queries["release_continuations"],
            {"now": now, "limit": limit, "expires_at": self._expires_at(now), "channel": self.channel},
        )
        return row["released"]

    async def rescue_orphans(self, server_id: str) -> int:
        """Rescues the jobs of lost servers; nothing unless `server_id`'s own heartbeat
        is current. Everything is judged as of now, before waiting for a connection."""
        now = self.clock.now()
        row = await self.connector.fetch_one(
            self.queries["rescue_orphans"],
            {
                "now": now,
                "deadline": now - timedelta(seconds=self.options.server_timeout_seconds),
                "alive_after": now - timedelta(seconds=self.options.outage_after_seconds),
                "server_id": server_id,
                "channel": self.channel,
            },
        )
        return row["rescued"]

    async def expire_jobs(self, limit: int = 1000) -> int:
        row = await self.connector.fetch_one(self.queries["expire_jobs"], {"now": self.clock.now(), "limit": limit})
        return row["expired"]

    async def analyze_jobs_if_stale(self) -> bool:
        """ANALYZE jobs when its statistics are far behind it (jobs.sql says when); True if it did."""
        if not await self.connector.fetch_value(self.queries["jobs_statistics_stale"]):
            return False
        await self.connector.execute(self.queries["analyze_jobs"])
        if self.decisions.on:
            self.decisions("analyzed the jobs table: its statistics were far behind it")
        return True

    async def fold_job_counts(self) -> int:
        """Folds the job counters of ended connections into one row per key; returns the rows folded."""
        row = await self.connector.fetch_one(self.queries["fold_job_counts"])
        return row["folded"]

    async def fold_job_count_deltas(self, limit: int = 10_000) -> int:
        """Folds up to `limit` counts appended by single inserts into job_counts; returns the rows folded."""
        row = await self.connector.fetch_one(self.queries["fold_job_count_deltas"], {"limit": limit})
        return row["folded"]

    async def roll_up_outcomes(self) -> int:
        """Adds the closed hours' outcomes to the hourly counts behind the day's chart
        and drops those older than OUTCOME_HOURS_KEPT; returns the rows added."""
        now = self.clock.now()
        row = await self.connector.fetch_one(
            self.queries["roll_up_outcomes"], {"now": now, "kept_since": now - OUTCOME_HOURS_KEPT})
        return row["added"]

    async def prune_preview(self, state: JobState, cutoff: datetime, tenant_id: str | None) -> list[dict[str, Any]]:
        """Per job type: how many jobs (and history rows) `prune_jobs` would remove."""
        return await self.connector.fetch_all(
            self.queries["prune_preview"], {"state": state.value, "cutoff": cutoff, "tenant_id": tenant_id})

    async def prune_jobs(self, state: JobState, cutoff: datetime, tenant_id: str | None, limit: int) -> tuple[int, int]:
        """Removes up to `limit` such jobs with their history; (jobs, history rows) removed."""
        row = await self.connector.fetch_one(
            self.queries["prune_jobs"], {"state": state.value, "cutoff": cutoff, "tenant_id": tenant_id, "limit": limit})
        return row["jobs"], row["history_rows"]

    # -- changing one job ------------------------------------------------------

    async def change_state(
        self,
        job_id: int,
        state: JobState,
        *,
        reason: str,
        actor: str | None = None,
        tenant_id: str | None = None,
        reset_attempts: bool = False,
        session: Session | None = None,
    ) -> JobState | None:
        """Moves a job to Deleted or Enqueued from any state; returns its previous state,
        or None when no such job exists (for this tenant)."""
        now = self.clock.now()
        row = await self._runner(session).fetch_one(
            self.queries["change_state"],
            {
                "id": job_id,
                "state": state.value,
                "reason": reason,
                "actor": actor,
                "tenant_id": tenant_id,
                "reset_attempts": reset_attempts,
                "now": now,
                "expires_at": self._expires_at(now),
                "channel": self.channel,
            },
        )
        return None if row is None else JobState(row["previous_state"])

    # -- recurring jobs ----------------------------------------------------------

    async def upsert_recurring(self, values: dict[str, Any], next_run_at: datetime | None) -> RecurringJob:
        """Creates or updates the tenant's recurring job of that id."""
        params = dict(values)
        for key in ("parameters", "metadata", "retry_policy"):
            params[key] = _jsonb(params.get(key))
        params.update(now=self.clock.now(), next_run_at=next_run_at)
        return RecurringJob.model_validate(await self.connector.fetch_one(self.queries["upsert_recurring"], params))

    async def get_recurring(self, recurring_id: str, tenant_id: str | None = None, *,
                            tenants: Sequence[str] | None = None) -> RecurringJob | None:
        """The recurring job of that id in `tenant_id` (or among `tenants`); else the
        one tenant that has it (ValidationError naming tenant_id when several have)."""
        if tenant_id is not None:
            tenants = [tenant_id]
        rows = await self.connector.fetch_all(
            self.queries["get_recurring"], {"id": recurring_id, "tenants": None if tenants is None else list(tenants)}
        )
        if len(rows) > 1:
            raise ValidationError("tenant_id", f"recurring job {recurring_id!r} exists in several tenants: say which one")
        return RecurringJob.model_validate(rows[0]) if rows else None

    async def lock_recurring(self, session: Session, recurring_id: str, tenant_id: str) -> RecurringJob | None:
        row = await session.fetch_one(self.queries["lock_recurring"], {"id": recurring_id, "tenant_id": tenant_id})
        return None if row is None else RecurringJob.model_validate(row)

    async def list_recurring(self, tenant_id: str | None = None) -> list[RecurringJob]:
        rows = await self.connector.fetch_all(self.queries["list_recurring"], {"tenant_id": tenant_id})
        return [RecurringJob.model_validate(row) for row in rows]

    async def lock_due_recurring(self, session: Session, limit: int = 100) -> list[RecurringJob]:
        rows = await session.fetch_all(
            self.queries["lock_due_recurring"], {"now": self.clock.now(), "limit": limit}
        )
        return [RecurringJob.model_validate(row) for row in rows]

    async def record_recurring_fire(
        self,
        session: Session,
        recurring: RecurringJob,
        *,
        next_run_at: datetime | None,
        last_run_at: datetime | None = None,
        last_job_id: int | None = None,
        schedule_error: str | None = None,
    ) -> None:
        await session.execute(
            self.queries["record_recurring_fire"],
            {
                "id": recurring.id,
                "tenant_id": recurring.tenant_id,
                "next_run_at": next_run_at,
                "last_run_at": last_run_at,
                "last_job_id": last_job_id,
                "schedule_error": schedule_error,
                "now": self.clock.now(),
            },
        )

    async def set_recurring_paused(self, recurring_id: str, paused: bool, next_run_at: datetime | None, tenant_id: str) -> bool:
        row = await self.connector.fetch_one(
            self.queries["set_recurring_paused"],
            {"id": recurring_id, "paused": paused, "next_run_at": next_run_at, "tenant_id": tenant_id, "now": self.clock.now()},
        )
        return row is not None

    async def delete_recurring(self, recurring_id: str, tenant_id: str) -> bool:
        row = await self.connector.fetch_one(
            self.queries["delete_recurring"], {"id": recurring_id, "tenant_id": tenant_id}
        )
        return row is not None

    async def notify(self, payload: str, session: Session | None = None) -> None:
        await self._runner(session).execute(self.queries["notify"], {"channel": self.channel, "payload": payload})

    # -- servers and job types -------------------------------------------------

    async def heartbeat(self, server: dict[str, Any]) -> None:
        await self.connector.execute(self.queries["heartbeat_server"], {**server, "now": self.clock.now()})

    async def remove_server(self, server_id: str) -> None:
        await self.connector.execute(self.queries["remove_server"], {"id": server_id})

    async def list_servers(self) -> list[Server]:
        rows = await self.connector.fetch_all(self.queries["list_servers"])
        return [Server.model_validate(row) for row in rows]

    async def upsert_job_types(self, descriptors: Iterable[dict[str, Any]]) -> None:
        now = self.clock.now()
        async with self.connector.transaction() as session:
            for descriptor in descriptors:
                await session.execute(
                    self.queries["upsert_job_type"],
                    {
                        "name": descriptor["job_type"],
                        "parameters_schema": Jsonb(descriptor["parameters_schema"]),
                        "max_attempts": descriptor.get("max_attempts"),
                        "timeout_seconds": descriptor.get("timeout_seconds"),
                        "now": now,
                    },
                )

    async def get_job_type(self, name: str) -> JobType | None:
        row = await self.connector.fetch_one(self.queries["get_job_type"], {"name": name})
        return None if row is None else JobType.model_validate(row)

    async def list_job_types(self) -> list[JobType]:
        rows = await self.connector.fetch_all(self.queries["list_job_types"])
        return [JobType.model_validate(row) for row in rows]

    # -- notifications -----------------------------------------------------------

    async def notifications(self, on_listening: Callable[[], None] = lambda: None) -> AsyncIterator[str]:
        """Payloads on this schema's channel, over a dedicated connection.

        `on_listening` is called once LISTEN is in place: whatever was notified
        before that is lost, so that is when to look for work.
        Ends with DatabaseUnavailableError when the connection drops; the
        engine then reconnects."""
        with translated_errors():
            conn = await psycopg.AsyncConnection.connect(self.connector.conninfo, autocommit=True)
        try:
            with translated_errors():
                await conn.execute(f'LISTEN "{self.channel}"')
                on_listening()
                async for notify in conn.notifies():
                    yield notify.payload
        finally:
            await conn.close()


def _audit_params(job: NewJob) -> dict[str, Any]:
    audit = job.audit
    return {"audit_surface": audit.surface.value if audit else None,
            "audit_actor": (audit.actor or job.user_id) if audit else None}
