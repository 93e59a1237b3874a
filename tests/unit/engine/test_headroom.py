"""An engine keeps slots for quiet tenants only while more than one tenant is active on it."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from craft_jobs.engine.headroom import ACTIVE_WINDOW, TenantHeadroom

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc)


def test_one_tenant_alone_may_take_every_slot_but_one_coming_beside_it_may_not():
    headroom = TenantHeadroom(worker_count=10, headroom_slots=1)
    assert headroom.rooms(Counter(), NOW) is None, "nobody active: any tenant may take all"
    headroom.claimed(["quiet"], NOW)
    assert headroom.rooms(Counter(), NOW) == {"*": 9, "quiet": 10}


def test_beside_another_active_tenant_no_tenant_fills_the_last_slots():
    headroom = TenantHeadroom(worker_count=10, headroom_slots=2)
    headroom.claimed(["quiet", "flood"], NOW)
    rooms = headroom.rooms(Counter(flood=7, quiet=1), NOW + timedelta(seconds=5))
    assert rooms == {"*": 8, "flood": 1, "quiet": 7}
    assert headroom.rooms(Counter(flood=9), NOW)["flood"] == 0, "never below nothing"


def test_a_tenant_silent_for_the_window_is_no_longer_kept_room_for():
    headroom = TenantHeadroom(worker_count=10, headroom_slots=1)
    headroom.claimed(["quiet"], NOW)
    headroom.claimed(["flood"], NOW + ACTIVE_WINDOW)
    assert headroom.rooms(Counter(flood=9), NOW + ACTIVE_WINDOW)["flood"] == 0
    assert headroom.rooms(Counter(flood=9), NOW + ACTIVE_WINDOW + timedelta(seconds=1))["flood"] == 10


def test_a_tenant_with_runs_here_is_active_however_long_ago_it_claimed():
    headroom = TenantHeadroom(worker_count=10, headroom_slots=1)
    headroom.claimed(["slow", "flood"], NOW)
    later = NOW + 2 * ACTIVE_WINDOW
    headroom.claimed(["flood"], later)
    assert headroom.rooms(Counter(flood=8, slow=1), later)["flood"] == 1


def test_no_headroom_when_it_is_off_or_the_engine_has_one_slot():
    for worker_count, headroom_slots in ((10, 0), (1, 1)):
        headroom = TenantHeadroom(worker_count, headroom_slots)
        headroom.claimed(["a", "b"], NOW)
        assert headroom.rooms(Counter(a=1), NOW) is None, (worker_count, headroom_slots)


def test_headroom_beyond_the_slots_still_leaves_each_tenant_one():
    headroom = TenantHeadroom(worker_count=3, headroom_slots=5)
    headroom.claimed(["a", "b"], NOW)
    assert headroom.rooms(Counter(a=1), NOW) == {"*": 1, "a": 0}
