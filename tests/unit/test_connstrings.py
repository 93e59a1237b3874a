"""The seed's (Npgsql) connection strings, translated to libpq's."""

import psycopg.conninfo
import pytest

from craft_jobs.connstrings import ConnectionStringError, to_libpq
from craft_jobs.errors import OptionsError
from craft_jobs.options import load_options


def parsed(value: str) -> dict[str, str]:
    return psycopg.conninfo.conninfo_to_dict(to_libpq(value))


def test_the_seeds_examples_translate():
    assert parsed("Host=localhost;Port=5432;Database=CraftJobs;Username=postgres;Password=password") == {
        "host": "localhost", "port": "5432", "dbname": "CraftJobs", "user": "postgres", "password": "password"}
    azure = parsed("Host=myserver.postgres.database.azure.com;Port=5432;Database=craftjobs;"
                   "Username=admin@myserver;Password=password;SslMode=Require")
    assert azure["user"] == "admin@myserver" and azure["sslmode"] == "require"


def test_keys_are_case_insensitive_with_aliases_quotes_and_timeouts():
    result = parsed('server=db; user id=app; PWD="a;b""c"; ssl mode=VerifyFull; Timeout=7; '
                    'Command Timeout=30; Search Path=jobs, public; Pooling=true;')
    assert (result["host"], result["user"], result["password"]) == ("db", "app", 'a;b"c')
    assert (result["sslmode"], result["connect_timeout"]) == ("verify-full", "7")
    assert result["options"] == "-c statement_timeout=30000 -c search_path=jobs,public"


@pytest.mark.parametrize("value", ["postgresql://u:p@h:5432/db?sslmode=require", "host=h dbname=x user=u", ""])
def test_urls_and_libpq_strings_are_kept(value):
    assert to_libpq(value) == value


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("Host=h;Colour=blue;Password=secret", "unknown key 'Colour'"),
        ("Host=h;SslMode=Sometimes", "SslMode 'Sometimes' is not one of"),
        ("Host=h;Port=fifty", "Port must be a whole number, got 'fifty'"),
        ("Host=h;Pooling=maybe", "Pooling must be true or false"),
        ("Port=5432;Database=x", "Host is required"),
        ("Host=h;garbage;Port=1", "'garbage' is not a Key=Value pair"),
    ],
)
def test_bad_keys_and_values_are_named(value, fragment):
    with pytest.raises(ConnectionStringError, match=fragment):
        to_libpq(value)


def test_options_translate_and_never_echo_the_password(monkeypatch):
    monkeypatch.setenv("CRAFT_JOBS_CONNECTION_STRING", "Host=db;Database=jobs;Username=u;Password=s3cret")
    assert load_options().connection_string == "host=db dbname=jobs user=u password=s3cret"
    monkeypatch.setenv("CRAFT_JOBS_CONNECTION_STRING", "Host=db;Passwort=s3cret")
    with pytest.raises(OptionsError) as raised:
        load_options()
    message = str(raised.value)
    assert message.startswith("CRAFT_JOBS_CONNECTION_STRING (connection_string): unknown key 'Passwort'")
    assert "s3cret" not in message
