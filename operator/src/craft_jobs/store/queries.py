"""Loads the named SQL blocks (`-- name: x`) once per schema name."""

from __future__ import annotations

import functools
import re
from importlib import resources

from psycopg import sql

from craft_jobs.options import SQL_IDENTIFIER

SCHEMA_TOKEN = "__schema__"
QUERY_FILES = ("jobs.sql", "recurring.sql", "servers.sql", "stats.sql", "kube.sql", "prune.sql", "audit.sql")
_NAME_LINE = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
# A block may include another one's text: shared CTE lists, so that one
# statement can do the work of two without a second copy of either.
_INCLUDE = re.compile(r"__include:(\w+)__")
# psycopg caches the conversion of statements up to this length only
# (psycopg._queries.MAX_CACHED_STATEMENT_LENGTH); tests keep every query under it.
MAX_STATEMENT_LENGTH = 4096


def quoted_schema(schema: str) -> str:
    if not SQL_IDENTIFIER.match(schema):
        raise ValueError(f"schema name {schema!r} is not a valid SQL identifier")
    return sql.Identifier(schema).as_string(None)


def render(text: str, schema: str) -> str:
    return text.replace(SCHEMA_TOKEN, quoted_schema(schema))


def parse_named_blocks(text: str) -> dict[str, str]:
    parts = _NAME_LINE.split(text)
    blocks: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        if name in blocks:
            raise ValueError(f"query {name!r} is defined twice")
        blocks[name] = _compact(body)
    return {name: _with_includes(body, blocks) for name, body in blocks.items()}


def _compact(body: str) -> str:
    """Without comment lines and indentation: psycopg re-parses on every call a
    statement longer than MAX_STATEMENT_LENGTH (its cache's limit)."""
    lines = (line.strip() for line in body.strip().rstrip(";").splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("--"))


def _with_includes(body: str, blocks: dict[str, str]) -> str:
    def included(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in blocks:
            raise ValueError(f"included query {name!r} is not defined in the same file")
        if _INCLUDE.search(blocks[name]):
            raise ValueError(f"included query {name!r} includes another one: one level only")
        return blocks[name]

    return _INCLUDE.sub(included, body)


def sql_file(name: str) -> str:
    return resources.files("craft_jobs.store").joinpath("sql").joinpath(name).read_text()


@functools.cache
def load_queries(schema: str) -> dict[str, str]:
    queries: dict[str, str] = {}
    for file_name in QUERY_FILES:
        path = resources.files("craft_jobs.store").joinpath("sql").joinpath(file_name)
        if not path.is_file():
            continue
        for name, body in parse_named_blocks(path.read_text()).items():
            if name in queries:
                raise ValueError(f"query {name!r} is defined in two files")
            queries[name] = render(body, schema)
    return queries
