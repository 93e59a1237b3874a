"""A seed (Npgsql) connection string reaches the real PostgreSQL."""

import psycopg
import psycopg.conninfo

from craft_jobs.options import load_options


async def test_a_seed_connection_string_connects(database_url_for_test):
    parts = psycopg.conninfo.conninfo_to_dict(database_url_for_test)
    seed = f"Host={parts['host']};Port={parts.get('port', 5432)};Database={parts['dbname']};Username={parts['user']}"
    if parts.get("password"):
        seed += f";Password=\"{parts['password']}\""
    options = load_options(connection_string=seed + ";SslMode=Disable;CommandTimeout=5;Pooling=true")
    async with await psycopg.AsyncConnection.connect(options.connection_string) as conn:
        row = await (await conn.execute("SELECT current_database(), current_setting('statement_timeout')")).fetchone()
    assert row == (parts["dbname"], "5s")
