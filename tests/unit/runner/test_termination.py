import json

import pytest

from craft_jobs_runner import ErrorInfo, termination_message, write_termination_message
from craft_jobs_runner.contract import MAX_TERMINATION_MESSAGE_BYTES
from craft_jobs_runner.termination import TRUNCATION_MARK


def decode(data: bytes) -> dict:
    assert len(data) <= MAX_TERMINATION_MESSAGE_BYTES < 4096
    return json.loads(data)


def test_a_small_error_is_written_whole():
    error = ErrorInfo("ValueError", "bad value", "Traceback ...\nValueError: bad value\n")
    assert decode(termination_message(error)) == error.as_dict()


def test_a_long_stack_is_cut_first_keeping_its_end():
    stack = "".join(f'  File "jobs.py", line {i}, in frame_{i}\n' for i in range(500)) + "ValueError: bad\n"
    message = decode(termination_message(ErrorInfo("ValueError", "bad", stack)))
    assert message["message"] == "bad"
    assert message["stack"].startswith(TRUNCATION_MARK + "\n")
    assert message["stack"].endswith("in frame_499\nValueError: bad\n")
    assert len(message["stack"]) > 3000  # the space is used, not thrown away


def test_a_long_message_is_cut_after_the_stack_keeping_its_start():
    error = ErrorInfo("ValueError", "start " + "x" * 10_000, "some stack")
    message = decode(termination_message(error))
    assert message["stack"] == ""
    assert message["message"].startswith("start xxx")
    assert message["message"].endswith(TRUNCATION_MARK)
    assert len(message["message"]) > 3000


def test_characters_that_expand_when_escaped_still_fit():
    # Each of these becomes 6 or 12 bytes of JSON; the fit is measured in bytes.
    text = ("é\n\x00😀\"" * 2000)
    data = termination_message(ErrorInfo("Oops", text, text))
    message = decode(data)
    assert message["stack"] == ""
    assert message["message"].startswith("é\n\x00😀")
    assert len(data) > MAX_TERMINATION_MESSAGE_BYTES - 20


def test_a_huge_type_name_is_shortened():
    message = decode(termination_message(ErrorInfo("T" * 10_000, "m", "s")))
    assert message["type"].endswith(TRUNCATION_MARK)
    assert message["message"] == "m"


def test_a_limit_that_cannot_hold_anything_is_an_error():
    with pytest.raises(ValueError, match="limit: 10 bytes"):
        termination_message(ErrorInfo("ValueError", "m", "s"), limit=10)


def test_writing_the_message(tmp_path):
    path = tmp_path / "termination-log"
    assert write_termination_message(str(path), ErrorInfo("E", "m", "s"))
    assert json.loads(path.read_bytes()) == {"type": "E", "message": "m", "stack": "s"}


def test_an_unwritable_path_is_logged_not_raised(tmp_path, caplog):
    path = tmp_path / "missing-directory" / "termination-log"
    assert not write_termination_message(str(path), ErrorInfo("E", "m", "s"))
    assert f"cannot write the termination message to {path}" in caplog.text
