"""The input limits every surface shares (craft_jobs.limits)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from craft_jobs.errors import ValidationError
from craft_jobs.limits import (
    JSON_MAX_DEPTH,
    METADATA_MAX_BYTES,
    check_delay,
    check_json,
    check_json_text,
    check_metadata,
    check_timeout,
)


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_depth_up_to_the_limit_is_accepted_and_one_more_is_not():
    assert check_json(nested(JSON_MAX_DEPTH), "parameters")
    check_json_text(json.dumps(nested(JSON_MAX_DEPTH)), "parameters")
    for refuse in (lambda v: check_json(v, "parameters"), lambda v: check_json_text(json.dumps(v), "parameters")):
        with pytest.raises(ValidationError, match=f"parameters: nests deeper than {JSON_MAX_DEPTH} levels"):
            refuse({"list": [nested(JSON_MAX_DEPTH)]})


def test_many_brackets_side_by_side_are_not_depth():
    wide = {f"k{i}": [{"x": i}] for i in range(200)}
    assert check_json_text(json.dumps(wide), "parameters")


def test_nul_bytes_are_found_in_values_and_keys_with_their_path():
    with pytest.raises(ValidationError) as raised:
        check_json_text(json.dumps({"lines": [{"sku": "a\x00"}]}), "parameters")
    assert (raised.value.field, raised.value.reason) == ("parameters.lines.0.sku", "contains a NUL byte")
    with pytest.raises(ValidationError) as raised:
        check_json({"ok": {"bad\x00key": 1}}, "metadata")
    assert raised.value.field == "metadata.ok" and "key" in raised.value.reason
    # The six characters \u0000 written as text are no NUL byte.
    assert check_json_text(json.dumps({"text": "\\u0000"}), "parameters")


def test_metadata_size_is_measured_as_compact_json():
    at_limit = {"k": "x" * (METADATA_MAX_BYTES - len('{"k":""}'))}
    assert check_metadata(at_limit) is at_limit
    with pytest.raises(ValidationError, match=f"metadata: {METADATA_MAX_BYTES + 1} bytes is over the limit"):
        check_metadata({"k": at_limit["k"] + "x"})
    with pytest.raises(ValidationError, match="nests deeper"):
        check_metadata(nested(2000))


@pytest.mark.parametrize("timeout", [0, -1, 2**40, 2_592_001, True, 1.5, "60"])
def test_timeouts_outside_one_second_to_thirty_days_are_refused(timeout):
    with pytest.raises(ValidationError, match="timeout_seconds: must be a whole number of seconds from 1 to 2592000"):
        check_timeout(timeout)


def test_timeouts_and_delays_at_their_bounds_are_accepted():
    assert check_timeout(None) is None and check_timeout(1) == 1 and check_timeout(2_592_000) == 2_592_000
    assert check_delay(timedelta(days=3650)) == timedelta(days=3650)
    with pytest.raises(ValidationError, match="delay: must be at most 3650 days"):
        check_delay(timedelta(days=3650, seconds=1))
