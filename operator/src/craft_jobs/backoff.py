"""Retry policy: how often a failed job is retried and how long it waits.

Attempts are numbered from 0 (the first run), as `CRAFT_JOB_ATTEMPT` is.
`max_attempts` counts retries, as Hangfire's `AutomaticRetry(Attempts = N)`
does: 0 means a failure is final, 3 means up to 4 runs in all.

The wait before retry k+1 (after attempt k failed) is `base * 2**k`, capped at
`max_seconds`, then shortened by a random fraction up to `jitter` so that jobs
failing together do not retry together. Jitter only ever shortens the wait, so
the cap is a hard upper bound and jobs waiting at the cap still spread out.

A policy is validated once, where a job is made (SDK, API, resource), and
travels with the job: the row keeps `max_attempts` in its own column and the
rest as `record()` (None when it is the default), and `from_row` rebuilds it
without checking again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from datetime import timedelta
from enum import StrEnum
from typing import Any, Iterable

from craft_jobs.errors import ValidationError

MAX_ATTEMPTS = 10
MAX_DELAY_SECONDS = 86_400  # a day: Hangfire-style waits of hours must fit
DEFAULT_MAX_SECONDS = 3600.0
_MAX_EXPONENT = 64  # beyond this every sane base is far past any cap


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValidationError(name, f"must be a number, got {value!r}")
    return float(value)


class AttemptsExceeded(StrEnum):
    """What happens to a job whose retries ran out: Hangfire's OnAttemptsExceeded."""

    FAIL = "Fail"
    DELETE = "Delete"


@dataclass(frozen=True)
class RetryPolicy:
    # None: the job class's max_attempts, else the installation's max_retry_attempts.
    max_attempts: int | None = None
    base_seconds: float = 10.0
    # None: the default cap, or base_seconds when that is longer.
    max_seconds: float | None = None
    jitter: float = 0.2
    non_retryable_exit_codes: frozenset[int] = field(default_factory=frozenset)
    on_attempts_exceeded: AttemptsExceeded = AttemptsExceeded.FAIL

    def __post_init__(self) -> None:
        if self.max_attempts is not None:
            checked_max_attempts(self.max_attempts)
        base = _number("base_seconds", self.base_seconds)
        if not 0 < base <= MAX_DELAY_SECONDS:
            raise ValidationError("base_seconds", f"must be above 0 and at most {MAX_DELAY_SECONDS}, got {base:g}")
        cap = max(base, DEFAULT_MAX_SECONDS) if self.max_seconds is None else _number("max_seconds", self.max_seconds)
        if not 1 <= cap <= MAX_DELAY_SECONDS:
            raise ValidationError("max_seconds", f"must be between 1 and {MAX_DELAY_SECONDS}, got {cap:g}")
        if cap < base:
            raise ValidationError("max_seconds", f"must be at least base_seconds ({base:g}), got {cap:g}")
        jitter = _number("jitter", self.jitter)
        if not 0 <= jitter <= 1:
            raise ValidationError("jitter", f"must be between 0 and 1, got {jitter:g}")
        object.__setattr__(self, "base_seconds", base)
        object.__setattr__(self, "max_seconds", cap)
        object.__setattr__(self, "jitter", jitter)
        object.__setattr__(self, "non_retryable_exit_codes", _exit_codes(self.non_retryable_exit_codes))
        object.__setattr__(self, "on_attempts_exceeded", checked_on_attempts_exceeded(self.on_attempts_exceeded))

    def with_max_attempts(self, max_attempts: int) -> RetryPolicy:
        """The same policy with another max_attempts. Every enqueue calls this: the
        other fields were checked when this policy was made, so only the new
        number is, not the whole policy again (replace() would re-run
        __post_init__: some 5% of an enqueue one by one, profiled)."""
        if max_attempts == self.max_attempts:
            return self
        # Kept per number (0-10), so that a job class's policy is copied once.
        copies = self.__dict__.setdefault("_copies", {})
        policy = copies.get(max_attempts)
        if policy is None:
            checked_max_attempts(max_attempts)
            policy = object.__new__(RetryPolicy)
            policy.__dict__.update({name: self.__dict__[name] for name in _FIELD_NAMES}, max_attempts=max_attempts)
            copies[max_attempts] = policy
        return policy

    def record(self) -> dict[str, Any] | None:
        """What the job's row keeps beside its max_attempts column; None for the defaults."""
        default = self.__dict__.get("_default_otherwise")
        if default is None:  # kept on the policy: every enqueue asks
            default = _is_default(self)
            object.__setattr__(self, "_default_otherwise", default)
        if default:
            return None
        return {
            "base_seconds": self.base_seconds,
            "max_seconds": self.max_seconds,
            "jitter": self.jitter,
            "non_retryable_exit_codes": sorted(self.non_retryable_exit_codes),
            "on_attempts_exceeded": self.on_attempts_exceeded.value,
        }

    @classmethod
    def from_row(cls, max_attempts: int, record: dict[str, Any] | None) -> RetryPolicy:
        """The policy a stored job carries; validated when it was stored, so not again."""
        policy = object.__new__(cls)
        values = {**_DEFAULT_VALUES, **(record or {}), "max_attempts": max_attempts}
        for name in _FIELD_NAMES:
            object.__setattr__(policy, name, values[name])
        object.__setattr__(policy, "non_retryable_exit_codes", frozenset(values["non_retryable_exit_codes"]))
        object.__setattr__(policy, "on_attempts_exceeded", AttemptsExceeded(values["on_attempts_exceeded"]))
        return policy


def checked_on_attempts_exceeded(value: object) -> AttemptsExceeded:
    try:
        return AttemptsExceeded(value)
    except ValueError:
        choices = " or ".join(repr(v.value) for v in AttemptsExceeded)
        raise ValidationError("on_attempts_exceeded", f"must be {choices}, got {value!r}") from None


def checked_max_attempts(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("max_attempts", f"must be a whole number, got {value!r}")
    if not 0 <= value <= MAX_ATTEMPTS:
        raise ValidationError("max_attempts", f"must be between 0 and {MAX_ATTEMPTS}, got {value}")
    return value


def _exit_codes(codes: Iterable[int]) -> frozenset[int]:
    if isinstance(codes, (str, bytes)) or not isinstance(codes, Iterable):
        raise ValidationError("non_retryable_exit_codes", f"must be a collection of exit codes, got {codes!r}")
    result = set()
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, int) or not 1 <= code <= 255:
            # 0 is success; Kubernetes podFailurePolicy refuses it in an "In" rule too.
            raise ValidationError("non_retryable_exit_codes", f"{code!r} is not an exit code from 1 to 255")
        result.add(code)
    return frozenset(result)


DEFAULT_RETRY = RetryPolicy()
_FIELD_NAMES = tuple(f.name for f in fields(RetryPolicy))
_DEFAULT_VALUES = {name: getattr(DEFAULT_RETRY, name) for name in _FIELD_NAMES}


def _is_default(policy: RetryPolicy) -> bool:
    return all(getattr(policy, name) == _DEFAULT_VALUES[name] for name in _FIELD_NAMES if name != "max_attempts")


def _check_attempt(name: str, attempt: object) -> int:
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
        raise ValidationError(name, f"must be a whole number >= 0, got {attempt!r}")
    return attempt


def next_delay(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> timedelta:
    """How long to wait after attempt `attempt` (0-based) failed, before the next one.

    Deterministic for a given `rng`; the module's shared generator otherwise.
    """
    attempt = _check_attempt("attempt", attempt)
    nominal = min(policy.base_seconds * 2 ** min(attempt, _MAX_EXPONENT), policy.max_seconds)
    draw = rng.random() if rng is not None else random.random()
    return timedelta(seconds=nominal * (1 - policy.jitter * draw))


def should_retry(policy: RetryPolicy, attempt_just_failed: int, exit_code: int | None, non_retryable: bool) -> bool:
    """Whether a job whose attempt `attempt_just_failed` failed gets another run.

    `exit_code` is None when there is none (the pod vanished, the deadline
    passed); `non_retryable` is the runner's own verdict (its exit code 3, or a
    termination message saying so).
    """
    attempt = _check_attempt("attempt_just_failed", attempt_just_failed)
    if exit_code is not None:
        if isinstance(exit_code, bool) or not isinstance(exit_code, int):
            raise ValidationError("exit_code", f"must be an integer or None, got {exit_code!r}")
        if exit_code == 0:
            raise ValidationError("exit_code", "0 means the attempt succeeded, so there is nothing to retry")
        if exit_code in policy.non_retryable_exit_codes:
            return False
    if non_retryable:
        return False
    if policy.max_attempts is None:
        raise ValueError("should_retry needs a stored job's policy: its max_attempts is resolved")
    return attempt < policy.max_attempts
