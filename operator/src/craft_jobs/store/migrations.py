"""Forward-only numbered migrations, applied under an advisory lock.

Two engines starting together both call `migrate`; the lock makes the second
wait and then find nothing left to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from craft_jobs.store.connector import translated_errors
from craft_jobs.store.queries import quoted_schema, render

_MIGRATION_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
# Any constant will do; it only has to be the same for every engine.
_ADVISORY_LOCK_KEY = 0x43524A4F42


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str


def available_migrations() -> list[Migration]:
    folder = resources.files("craft_jobs.store").joinpath("sql").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


async def migrate(conninfo: str, schema: str) -> list[int]:
    """Bring `schema` to the newest version; returns the versions applied now."""
    quoted = quoted_schema(schema)
    applied_now: list[int] = []
    with translated_errors():
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_KEY,))
                await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {quoted}.schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                cursor = await conn.execute(f"SELECT version FROM {quoted}.schema_migrations")
                done = {row[0] for row in await cursor.fetchall()}
                for migration in available_migrations():
                    if migration.version in done:
                        continue
                    await conn.execute(render(migration.text, schema))
                    await conn.execute(
                        f"INSERT INTO {quoted}.schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                    applied_now.append(migration.version)
    return applied_now


async def current_version(conninfo: str, schema: str) -> int:
    quoted = quoted_schema(schema)
    with translated_errors():
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            cursor = await conn.execute("SELECT to_regclass(%s)", (f"{quoted}.schema_migrations",))
            if (await cursor.fetchone())[0] is None:
                return 0
            cursor = await conn.execute(f"SELECT coalesce(max(version), 0) FROM {quoted}.schema_migrations")
            return (await cursor.fetchone())[0]
