"""Migrations build the same database as the authoritative schema.sql."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from craft_jobs.states import JobState
from craft_jobs.store.migrations import available_migrations, current_version, migrate
from craft_jobs.store.queries import render, sql_file
from tests.support.invariants import rows_breaking_rules

CATALOG = {
    "columns": """SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default
                  FROM information_schema.columns WHERE table_schema = %(s)s AND table_name <> 'schema_migrations'""",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %(s)s AND tablename <> 'schema_migrations'",
    "constraints": """SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
                      JOIN pg_namespace n ON n.oid = c.connamespace
                      WHERE n.nspname = %(s)s AND c.conrelid::regclass::text NOT LIKE '%%schema_migrations'""",
    "enums": """SELECT t.typname, e.enumlabel, e.enumsortorder FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
                JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = %(s)s""",
    "triggers": """SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s AND NOT t.tgisinternal""",
    "functions": """SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname = %(s)s""",
}


def catalog(url: str, schema: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        result = {}
        for name, query in CATALOG.items():
            rows = conn.execute(query, {"s": schema}).fetchall()
            # The schema name appears in defaults and definitions: compare without it.
            result[name] = sorted(tuple(str(v).replace(schema, "<schema>") for v in row) for row in rows)
        return result


def test_migrations_and_schema_sql_give_the_same_database(empty_database_url):
    applied = asyncio.run(migrate(empty_database_url, "by_migrations"))
    assert applied == [m.version for m in available_migrations()]
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA by_schema")
        conn.execute(render(sql_file("schema.sql"), "by_schema"))
    migrated, authoritative = catalog(empty_database_url, "by_migrations"), catalog(empty_database_url, "by_schema")
    for part in CATALOG:
        assert migrated[part] == authoritative[part], part
    assert migrated["columns"] and migrated["triggers"], "the comparison must see the tables and triggers"


def test_migrate_is_idempotent_and_versioned(empty_database_url):
    assert asyncio.run(migrate(empty_database_url, "jobs_a"))
    assert asyncio.run(migrate(empty_database_url, "jobs_a")) == []
    assert asyncio.run(current_version(empty_database_url, "jobs_a")) == len(available_migrations())
    assert asyncio.run(current_version(empty_database_url, "jobs_b")) == 0


def test_two_engines_migrating_at_once_do_not_collide(empty_database_url):
    async def both():
        return await asyncio.gather(migrate(empty_database_url, "jobs"), migrate(empty_database_url, "jobs"))

    first, second = asyncio.run(both())
    assert sorted([first, second], key=len) == [[], [m.version for m in available_migrations()]]


def test_schema_name_with_sql_in_it_is_refused(empty_database_url):
    with pytest.raises(ValueError, match="not a valid SQL identifier"):
        asyncio.run(migrate(empty_database_url, 'jobs"; DROP SCHEMA public; --'))


def test_the_database_enum_matches_the_python_states(database_url_for_test):
    with psycopg.connect(database_url_for_test) as conn:
        labels = [row[0] for row in conn.execute("SELECT unnest(enum_range(NULL::craft_jobs.job_state))::text")]
    assert labels == [state.value for state in JobState]


def test_a_row_breaking_its_states_rules_is_named_at_the_end_of_a_test(database_url_for_test):
    with psycopg.connect(database_url_for_test, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO craft_jobs.jobs (job_type, state, parameters, max_attempts, scheduled_for, created_at, state_changed_at)"
            " VALUES ('x', 'Processing', '{}', 3, now(), now(), now()), ('y', 'Scheduled', '{}', 3, now(), now(), now())")
        broken = rows_breaking_rules(conn, "craft_jobs")
        assert broken == ["a Processing job names its server: job 1 is Processing",
                          "a Scheduled job has its time: job 2 is Scheduled"]
        conn.execute("DELETE FROM craft_jobs.jobs")  # or this test's own teardown would fail on them
