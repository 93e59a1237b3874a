"""The termination message: the error of a failed run, for the operator.

Kubernetes keeps at most 4096 bytes of /dev/termination-log, so the message is
fitted under `MAX_TERMINATION_MESSAGE_BYTES`: the stack is shortened first
(keeping its end, where the error is), then the message (keeping its start).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from .contract import MAX_TERMINATION_MESSAGE_BYTES
from .execution import ErrorInfo

TRUNCATION_MARK = "...[truncated]"
_MAX_TYPE_CHARS = 256

logger = logging.getLogger(__name__)


def termination_message(error: ErrorInfo, limit: int = MAX_TERMINATION_MESSAGE_BYTES) -> bytes:
    """`{"type", "message", "stack"}` as JSON, at most `limit` bytes."""
    error_type = _keep_head(error.type, _MAX_TYPE_CHARS) if len(error.type) > _MAX_TYPE_CHARS else error.type

    def encode(message: str, stack: str) -> bytes:
        return json.dumps({"type": error_type, "message": message, "stack": stack}).encode()

    whole = encode(error.message, error.stack)
    if len(whole) <= limit:
        return whole
    stack = _fit(error.stack, _keep_tail, lambda s: len(encode(error.message, s)) <= limit)
    if stack is not None:
        return encode(error.message, stack)
    message = _fit(error.message, _keep_head, lambda m: len(encode(m, "")) <= limit)
    if message is None:
        raise ValueError(f"limit: {limit} bytes cannot hold even an empty termination message")
    return encode(message, "")


def _keep_head(text: str, chars: int) -> str:
    return text[:chars] + TRUNCATION_MARK


def _keep_tail(text: str, chars: int) -> str:
    return TRUNCATION_MARK + "\n" + text[len(text) - chars :] if chars else TRUNCATION_MARK


def _fit(text: str, shorten: Callable[[str, int], str], fits: Callable[[str], bool]) -> str | None:
    """The longest `shorten(text, n)` that fits (binary search: escaping varies per char)."""
    if not fits(shorten(text, 0)):
        return None
    low, high = 0, len(text)  # invariant: shorten(text, low) fits
    while low < high:
        middle = (low + high + 1) // 2
        if fits(shorten(text, middle)):
            low = middle
        else:
            high = middle - 1
    return shorten(text, low)


def write_termination_message(path: str, error: ErrorInfo) -> bool:
    """Write the message to `path`; on failure log a warning and return False, never raise."""
    try:
        with open(path, "wb") as file:
            file.write(termination_message(error))
    except OSError as exc:
        logger.warning("cannot write the termination message to %s: %s", path, exc)
        return False
    return True
