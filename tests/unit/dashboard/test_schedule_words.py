"""Recurring schedules in words, as the recurring job page shows them."""

from __future__ import annotations

import pytest

from craft_jobs.dashboard.pages.schedule_words import schedule_words


@pytest.mark.parametrize(("cron", "words"), [
    ("* * * * *", "every minute"),
    ("*/15 * * * *", "every 15 minutes"),
    ("0 * * * *", "every hour"),
    ("30 * * * *", "every hour at minute 30"),
    ("0 */6 * * *", "every 6 hours"),
    ("5 */2 * * *", "every 2 hours at minute 5"),
    ("0 3 * * *", "every day at 03:00"),
    ("@daily", "every day at 00:00"),
    ("30 9,17 * * *", "every day at 09:30 and 17:30"),
    ("0 9 * * 1-5", "on weekdays at 09:00"),
    ("0 9 * * MON", "on Monday at 09:00"),
    ("0 8 * * 1,3,5", "on Monday, Wednesday and Friday at 08:00"),
    ("0 0 1 * *", "on day 1 of the month at 00:00"),
    ("0 12 L * *", "on the last day of the month at 12:00"),
    ("0 6 1 JAN *", "on day 1 in January at 06:00"),
    ("*/5 9-17 * * 1-5", "every 5 minutes from 9:00 to 17:59, on weekdays"),
    ("0 0 * * 5L", "on day-of-week 5L at 00:00"),
    ("30 0 3 * * *", "every day at 03:00:30"),
    ("*/10 * * * * *", "at second */10, every minute"),
])
def test_cron_in_words(cron, words):
    assert schedule_words(cron, None) == words


@pytest.mark.parametrize(("minutes", "words"), [
    (1, "every minute"), (5, "every 5 minutes"), (60, "every hour"), (90, "every 90 minutes"),
    (120, "every 2 hours"), (1440, "every day"), (2880, "every 2 days"),
])
def test_intervals_in_words(minutes, words):
    assert schedule_words(None, minutes) == words
