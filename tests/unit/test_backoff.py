"""Retry policy validation, delay growth, cap and jitter, and the retry decision."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from craft_jobs.backoff import AttemptsExceeded, RetryPolicy, next_delay, should_retry
from craft_jobs.errors import ValidationError


class FixedDraw(random.Random):
    """A generator whose `random()` always returns the same value (0 <= value < 1)."""

    def __init__(self, value: float):
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def test_defaults_are_sensible():
    policy = RetryPolicy()
    # max_attempts None: the job class's, else the installation's max_retry_attempts.
    assert (policy.max_attempts, policy.base_seconds, policy.max_seconds, policy.jitter) == (None, 10.0, 3600.0, 0.2)
    assert policy.non_retryable_exit_codes == frozenset()
    assert policy.on_attempts_exceeded is AttemptsExceeded.FAIL


def test_a_long_base_without_a_cap_is_its_own_cap():
    assert RetryPolicy(base_seconds=7200).max_seconds == 7200.0
    assert RetryPolicy(base_seconds=60).max_seconds == 3600.0


def test_the_stored_record_gives_back_the_same_policy():
    policy = RetryPolicy(max_attempts=5, base_seconds=30, jitter=0, non_retryable_exit_codes={42, 7},
                         on_attempts_exceeded="Delete")
    assert RetryPolicy.from_row(5, policy.record()) == policy
    assert RetryPolicy(max_attempts=2).record() is None  # the defaults: nothing stored beside max_attempts
    assert RetryPolicy.from_row(2, None) == RetryPolicy(max_attempts=2)


def test_with_max_attempts_changes_only_that_and_checks_it():
    policy = RetryPolicy(base_seconds=3, jitter=0.5, non_retryable_exit_codes=frozenset({2}))
    changed = policy.with_max_attempts(7)
    assert changed == RetryPolicy(max_attempts=7, base_seconds=3, jitter=0.5, non_retryable_exit_codes=frozenset({2}))
    assert policy.max_attempts is None, "the original is left as it was"
    assert changed.with_max_attempts(7) is changed
    with pytest.raises(ValidationError, match="max_attempts"):
        policy.with_max_attempts(-1)


def test_should_retry_needs_a_resolved_max_attempts():
    with pytest.raises(ValueError, match="resolved"):
        should_retry(RetryPolicy(), 0, 1, False)


def test_delay_doubles_from_the_base_without_jitter():
    policy = RetryPolicy(jitter=0)
    assert [next_delay(policy, a).total_seconds() for a in range(6)] == [10, 20, 40, 80, 160, 320]


def test_delay_is_capped():
    policy = RetryPolicy(base_seconds=60, max_seconds=600, jitter=0)
    assert [next_delay(policy, a) for a in (3, 4, 10, 500, 10**6)] == [timedelta(seconds=480)] + [
        timedelta(seconds=600)
    ] * 4


def test_hours_long_delays_are_possible():
    policy = RetryPolicy(max_attempts=10, base_seconds=600, max_seconds=86_400, jitter=0)
    assert next_delay(policy, 5) == timedelta(hours=5, minutes=20)
    assert next_delay(policy, 8) == timedelta(days=1)


def test_jitter_only_shortens_the_wait():
    policy = RetryPolicy(base_seconds=10, jitter=0.5)
    assert next_delay(policy, 2, FixedDraw(0.0)) == timedelta(seconds=40)
    assert next_delay(policy, 2, FixedDraw(0.5)) == timedelta(seconds=30)
    assert next_delay(policy, 2, FixedDraw(0.999999)) > timedelta(seconds=20)


def test_delay_is_deterministic_for_a_seeded_generator():
    policy = RetryPolicy()
    first = [next_delay(policy, a, random.Random(42)) for a in range(10)]
    again = [next_delay(policy, a, random.Random(42)) for a in range(10)]
    other = [next_delay(policy, a, random.Random(43)) for a in range(10)]
    assert first == again != other


def test_jitter_spreads_jobs_that_wait_at_the_cap():
    policy = RetryPolicy(base_seconds=10, max_seconds=60, jitter=0.2)
    rng = random.Random(7)
    delays = {next_delay(policy, 9, rng) for _ in range(50)}
    assert len(delays) == 50
    assert all(timedelta(seconds=48) <= d <= timedelta(seconds=60) for d in delays)


@given(
    base=st.floats(0.1, 3600),
    cap_factor=st.floats(1, 100),
    jitter=st.floats(0, 1),
    attempt=st.integers(0, 200),
    seed=st.integers(0, 2**32),
)
def test_delay_stays_between_the_jittered_floor_and_the_capped_nominal(base, cap_factor, jitter, attempt, seed):
    cap = min(max(base * cap_factor, 1.0), 86_400.0)
    policy = RetryPolicy(base_seconds=base, max_seconds=cap, jitter=jitter)
    delay = next_delay(policy, attempt, random.Random(seed)).total_seconds()
    nominal = min(base * 2**attempt, cap)
    tolerance = 1e-6  # timedelta keeps microseconds
    assert nominal * (1 - jitter) - tolerance <= delay <= nominal + tolerance
    assert delay <= cap + tolerance


@given(attempt=st.integers(0, 30), jitter=st.floats(0, 1))
def test_delay_never_shrinks_as_attempts_grow_at_the_same_draw(attempt, jitter):
    policy = RetryPolicy(base_seconds=1, max_seconds=86_400, jitter=jitter)
    assert next_delay(policy, attempt + 1, FixedDraw(0.3)) >= next_delay(policy, attempt, FixedDraw(0.3))


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"max_attempts": -1}, "max_attempts", "between 0 and 10"),
        ({"max_attempts": 11}, "max_attempts", "between 0 and 10"),
        ({"max_attempts": 2.0}, "max_attempts", "whole number"),
        ({"max_attempts": True}, "max_attempts", "whole number"),
        ({"base_seconds": 0}, "base_seconds", "above 0"),
        ({"base_seconds": -5}, "base_seconds", "above 0"),
        ({"base_seconds": "10"}, "base_seconds", "number"),
        ({"base_seconds": float("nan")}, "base_seconds", "number"),
        ({"max_seconds": 0.5}, "max_seconds", "between 1 and 86400"),
        ({"max_seconds": 86_401}, "max_seconds", "between 1 and 86400"),
        ({"max_seconds": float("inf")}, "max_seconds", "between 1 and 86400"),
        ({"base_seconds": 100, "max_seconds": 50}, "max_seconds", "at least base_seconds"),
        ({"jitter": -0.1}, "jitter", "between 0 and 1"),
        ({"jitter": 1.5}, "jitter", "between 0 and 1"),
        ({"non_retryable_exit_codes": {0}}, "non_retryable_exit_codes", "0 is not an exit code"),
        ({"non_retryable_exit_codes": [3, 256]}, "non_retryable_exit_codes", "256"),
        ({"non_retryable_exit_codes": [True]}, "non_retryable_exit_codes", "True"),
        ({"non_retryable_exit_codes": "3"}, "non_retryable_exit_codes", "collection"),
        ({"non_retryable_exit_codes": 3}, "non_retryable_exit_codes", "collection"),
        ({"on_attempts_exceeded": "Requeue"}, "on_attempts_exceeded", "'Fail' or 'Delete'"),
    ],
)
def test_bad_policies_name_the_field(kwargs, field, fragment):
    with pytest.raises(ValidationError) as caught:
        RetryPolicy(**kwargs)
    assert caught.value.field == field
    assert fragment in caught.value.reason


def test_exit_codes_are_normalised_to_a_frozenset():
    policy = RetryPolicy(non_retryable_exit_codes=[42, 3, 42])
    assert policy.non_retryable_exit_codes == frozenset({3, 42})
    hash(policy)  # frozen and hashable, so it can be shared and cached


def test_max_attempts_counts_retries_after_the_first_run():
    policy = RetryPolicy(max_attempts=3)
    assert [should_retry(policy, a, 1, False) for a in range(5)] == [True, True, True, False, False]
    assert should_retry(RetryPolicy(max_attempts=0), 0, 1, False) is False


def test_non_retryable_failures_are_final():
    policy = RetryPolicy(max_attempts=5, non_retryable_exit_codes={42})
    assert should_retry(policy, 0, 42, False) is False
    assert should_retry(policy, 0, 1, True) is False  # the runner said so
    assert should_retry(policy, 0, 43, False) is True
    assert should_retry(policy, 0, None, False) is True  # pod lost: no exit code


@pytest.mark.parametrize(
    ("attempt", "exit_code", "field"),
    [
        (-1, 1, "attempt_just_failed"),
        (1.0, 1, "attempt_just_failed"),
        (0, 0, "exit_code"),
        (0, "1", "exit_code"),
    ],
)
def test_should_retry_validates_its_input(attempt, exit_code, field):
    with pytest.raises(ValidationError) as caught:
        should_retry(RetryPolicy(), attempt, exit_code, False)
    assert caught.value.field == field


@pytest.mark.parametrize("attempt", [-1, 1.5, None, True])
def test_next_delay_validates_the_attempt(attempt):
    with pytest.raises(ValidationError) as caught:
        next_delay(RetryPolicy(), attempt)
    assert caught.value.field == "attempt"
