"""The seed's connection strings (Npgsql's `Host=...;Port=...;Database=...`)
translated to libpq's, so settings carried over from Craft.Jobs work as they are.

A URL (`postgresql://...`) or a libpq keyword string (`host=... dbname=...`)
is kept as it is; a string with `;`-separated `Key=Value` pairs is read as
Npgsql's, keys case-insensitive and spaces in them ignored ("User Id").
"""

from __future__ import annotations

import re

import psycopg.conninfo

# Npgsql key (lower case, no spaces) -> libpq keyword.
_KEYS = {
    "host": "host", "server": "host",
    "port": "port",
    "database": "dbname", "db": "dbname",
    "username": "user", "userid": "user", "user": "user", "uid": "user",
    "password": "password", "pwd": "password",
    "sslmode": "sslmode",
    "timeout": "connect_timeout",
    "applicationname": "application_name",
    "searchpath": "options",
    "commandtimeout": "options",
    "pooling": None,  # we always pool; accepted so the seed's strings load unchanged
}
_KNOWN = "Host, Port, Database, Username, Password, SslMode, Timeout, CommandTimeout, ApplicationName, SearchPath, Pooling"
_SSL_MODES = {"disable": "disable", "allow": "allow", "prefer": "prefer", "require": "require",
              "verifyca": "verify-ca", "verify-ca": "verify-ca", "verifyfull": "verify-full", "verify-full": "verify-full"}
_PAIR = re.compile(r"""\s*([^=;]+?)\s*=\s*("(?:[^"]|"")*"|'(?:[^']|'')*'|[^;]*?)\s*(?:;|$)""")


class ConnectionStringError(ValueError):
    """A key or value of a seed connection string we cannot use; says which, never the password."""


def is_seed_connection_string(value: str) -> bool:
    # libpq's keywords are lower case and space-separated; Npgsql's use ";" and capitals.
    text = value.strip()
    return "://" not in text and (";" in text or bool(re.match(r"[A-Z]", text)))


def to_libpq(value: str) -> str:
    """`value` as psycopg takes it; a seed (Npgsql) string is translated."""
    if not is_seed_connection_string(value):
        return value
    params: dict[str, str] = {}
    server_options: list[str] = []
    for key, raw in _pairs(value):
        name = key.replace(" ", "").lower()
        if name not in _KEYS:
            raise ConnectionStringError(f"unknown key {key!r} (known: {_KNOWN})")
        target = _KEYS[name]
        if name == "sslmode":
            mode = _SSL_MODES.get(raw.lower())
            if mode is None:
                raise ConnectionStringError(f"SslMode {raw!r} is not one of Disable, Allow, Prefer, Require, VerifyCA, VerifyFull")
            params["sslmode"] = mode
        elif name in ("port", "timeout", "commandtimeout"):
            if not raw.isdigit():
                raise ConnectionStringError(f"{key} must be a whole number, got {raw!r}")
            if name == "commandtimeout":
                # Npgsql counts seconds, 0 for none; PostgreSQL's statement_timeout counts ms.
                server_options.append(f"-c statement_timeout={int(raw) * 1000}")
            else:
                params[target] = raw
        elif name == "searchpath":
            server_options.append(f"-c search_path={raw.replace(' ', '')}")
        elif name == "pooling":
            if raw.lower() not in ("true", "false"):
                raise ConnectionStringError(f"Pooling must be true or false, got {raw!r}")
        else:
            params[target] = raw
    if "host" not in params:
        raise ConnectionStringError("Host is required")
    if server_options:
        params["options"] = " ".join(server_options)
    return psycopg.conninfo.make_conninfo(**params)


def _pairs(value: str) -> list[tuple[str, str]]:
    pairs, position, text = [], 0, value.strip()
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None or match.end() == position:
            fragment = text[position:].split(";", 1)[0].strip()
            raise ConnectionStringError(f"{fragment.split('=', 1)[0]!r} is not a Key=Value pair")
        key, raw = match.group(1), match.group(2)
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            raw = raw[1:-1].replace(raw[0] * 2, raw[0])
        pairs.append((key, raw))
        position = match.end()
    return pairs
