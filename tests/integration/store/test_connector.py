"""The connector's pools, on a real PostgreSQL."""

from __future__ import annotations

from psycopg.conninfo import make_conninfo

from craft_jobs.store.connector import Connector

SETTINGS = "SELECT current_setting('plan_cache_mode') AS plans, current_setting('statement_timeout') AS timeout"


async def test_the_dispatch_pool_plans_generically_and_keeps_the_users_options(database_url_for_test):
    url = make_conninfo(database_url_for_test, options="-c statement_timeout=12345")
    connector = Connector(url, max_size=2, generic_plan_pool_size=1)
    await connector.open()
    try:
        assert await connector.fetch_all(SETTINGS, generic_plan=True) == [
            {"plans": "force_generic_plan", "timeout": "12345ms"}]
        assert await connector.fetch_all(SETTINGS) == [{"plans": "auto", "timeout": "12345ms"}]
    finally:
        await connector.close()


async def test_without_a_dispatch_pool_generic_plan_queries_use_the_main_one(database_url_for_test):
    connector = Connector(database_url_for_test, max_size=1)
    await connector.open()
    try:
        [row] = await connector.fetch_all(SETTINGS, generic_plan=True)
        assert row["plans"] == "auto"
    finally:
        await connector.close()
