import pytest

from craft_jobs.store.queries import MAX_STATEMENT_LENGTH, load_queries, parse_named_blocks, quoted_schema


def test_named_blocks():
    blocks = parse_named_blocks("-- name: a\nSELECT 1;\n\n-- name: b\nSELECT 2;\n")
    assert blocks == {"a": "SELECT 1", "b": "SELECT 2"}


def test_comment_lines_and_indentation_are_dropped():
    blocks = parse_named_blocks("-- name: a\n-- why\nSELECT x\n    -- more why\n    FROM t -- kept\n;\n")
    assert blocks == {"a": "SELECT x\nFROM t -- kept"}


def test_every_query_stays_short_enough_for_psycopgs_cache():
    from psycopg import _queries

    assert MAX_STATEMENT_LENGTH == _queries.MAX_CACHED_STATEMENT_LENGTH
    too_long = {name: len(q.encode()) for name, q in load_queries("craft_jobs").items() if len(q.encode()) > MAX_STATEMENT_LENGTH}
    assert not too_long, f"re-parsed on every call: {too_long}"


def test_a_block_includes_another_ones_text():
    blocks = parse_named_blocks("-- name: ctes\nx AS (SELECT 1)\n-- name: q\nWITH __include:ctes__ SELECT * FROM x;\n")
    assert blocks["q"] == "WITH x AS (SELECT 1) SELECT * FROM x"


@pytest.mark.parametrize(("text", "message"), [
    ("-- name: q\nWITH __include:nowhere__ SELECT 1;", "'nowhere' is not defined"),
    ("-- name: a\nSELECT 1\n-- name: b\n__include:a__\n-- name: c\n__include:b__", "one level only"),
])
def test_bad_includes_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_named_blocks(text)


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="defined twice"):
        parse_named_blocks("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")


@pytest.mark.parametrize("name", ["x; DROP TABLE jobs", 'a"b', "Jobs", "1abc", ""])
def test_schema_names_with_sql_in_them_are_refused(name):
    with pytest.raises(ValueError, match="not a valid SQL identifier"):
        quoted_schema(name)


def test_queries_are_rendered_for_the_schema():
    queries = load_queries("tenant_jobs")
    assert '"tenant_jobs".jobs' in queries["claim_jobs"]
    assert "__schema__" not in "".join(queries.values())
