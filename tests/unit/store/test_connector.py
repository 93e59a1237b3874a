"""Connection strings get a bound on every wait (pure: no connection is made)."""

from psycopg.conninfo import conninfo_to_dict

from craft_jobs.store.connector import with_timeouts


def test_every_wait_is_bounded():
    params = conninfo_to_dict(with_timeouts("postgresql://app@db.example/jobs", 5, 30))
    assert params["connect_timeout"] == "5" and params["options"] == "-c statement_timeout=30000"
    assert (params["keepalives"], params["keepalives_idle"], params["keepalives_interval"], params["keepalives_count"]) == (
        "1", "5", "1", "3")
    assert params["tcp_user_timeout"] == "8000"
    assert (params["host"], params["user"], params["dbname"]) == ("db.example", "app", "jobs")


def test_the_users_own_settings_win():
    url = "postgresql://app@db/jobs?connect_timeout=2&keepalives_idle=60&options=-c%20statement_timeout%3D0"
    params = conninfo_to_dict(with_timeouts(url, 5, 30))
    assert (params["connect_timeout"], params["keepalives_idle"], params["options"]) == ("2", "60", "-c statement_timeout=0")


def test_without_a_statement_timeout_only_the_connection_is_bounded():
    params = conninfo_to_dict(with_timeouts("host=/run/postgresql dbname=jobs options='-c search_path=x'", 5))
    assert params["options"] == "-c search_path=x" and params["connect_timeout"] == "5"
