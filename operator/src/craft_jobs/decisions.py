"""The engine's decisions at DEBUG, when `enable_detailed_logging` is on.

Claims, each run's outcome (a retry with its delay), recurring fires and
replacements, promotions, skipped rescues, expiry batches and slow
statements go to the logger `craft_jobs.decisions` (skips and rescues are
already logged at INFO and WARNING). Call sites test `decisions.on` first, so with
the option off a decision costs one attribute read: no arguments are built
and nothing is formatted.
"""

from __future__ import annotations

import logging
from typing import Any

decision_log = logging.getLogger("craft_jobs.decisions")

# A statement the store runs on its own that takes longer than this is logged.
SLOW_QUERY_SECONDS = 0.25


class DecisionLog:
    __slots__ = ("on",)

    def __init__(self, on: bool):
        self.on = on
        if on:
            # The option alone makes the lines appear, whatever the root level.
            decision_log.setLevel(logging.DEBUG)

    def __call__(self, message: str, *args: Any) -> None:
        decision_log.debug(message, *args)
