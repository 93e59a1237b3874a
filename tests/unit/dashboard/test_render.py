"""What the pages print: page links and totals, <time> elements, durations, a job's own time zone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from craft_jobs.dashboard.errors import ApiError
from craft_jobs.dashboard.pages.paging import MAX_OFFSET, make_pager
from craft_jobs.dashboard.pages.render import in_zone, moment, run_time
from craft_jobs.states import JobState
from craft_jobs.store.stats import Counted

NOON = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("page", "total", "links"), [
    (1, 0, [1]),
    (1, 45, [1, 2, 3]),
    (5, 500, [1, None, 3, 4, 5, 6, 7, None, 25]),
    (25, 500, [1, None, 23, 24, 25]),
    (2, 100, [1, 2, 3, 4, 5]),
])
def test_page_links_show_the_ends_and_the_neighbours(page, total, links):
    assert make_pager(page, 20, Counted(total, False)).links() == links


def test_rows_shown_and_offset():
    pager = make_pager(3, 20, Counted(45, False))
    assert (pager.offset, pager.first_row, pager.last_row(5), pager.last) == (40, 41, 45, 3)


def test_a_page_too_deep_is_refused_naming_the_field():
    make_pager(MAX_OFFSET // 50 + 1, 50, Counted(0, False))
    with pytest.raises(ApiError) as caught:
        make_pager(MAX_OFFSET // 50 + 2, 50, Counted(0, False))
    assert caught.value.status == 422 and caught.value.field == "page" and "narrow the filters" in caught.value.message


def test_times_are_utc_elements_that_the_script_formats():
    assert str(moment(NOON)) == '<time datetime="2026-07-01T12:00:00Z" data-style="relative">2026-07-01 12:00:00 UTC</time>'
    assert 'data-style="absolute"' in str(moment(NOON.astimezone(timezone(timedelta(hours=2))), "absolute"))
    assert "12:00:00Z" in str(moment(NOON.astimezone(timezone(timedelta(hours=2)))))
    assert moment(None) == "—"


def test_the_wall_clock_of_a_zone_names_it():
    assert in_zone(NOON, "Europe/London") == "2026-07-01 13:00 BST (Europe/London)"
    assert in_zone(NOON, "UTC") == "2026-07-01 12:00 UTC (UTC)"


def test_run_time_of_finished_running_and_waiting_jobs():
    def job(state, started=None, finished=None):
        return SimpleNamespace(state=state, started_at=started, finished_at=finished)

    assert run_time(job(JobState.SUCCEEDED, NOON, NOON + timedelta(seconds=3.25))) == "3.2 s"
    assert run_time(job(JobState.FAILED, NOON, NOON + timedelta(minutes=5))) == "5.0 min"
    running = str(run_time(job(JobState.PROCESSING, NOON)))
    assert 'data-style="since"' in running and "2026-07-01T12:00:00Z" in running
    assert run_time(job(JobState.ENQUEUED)) == "—"
    assert run_time(job(JobState.ENQUEUED, NOON)) == "—", "requeued after a run: no run in progress"
