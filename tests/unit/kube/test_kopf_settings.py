"""kopf's settings as the operator gives them."""

from __future__ import annotations

import itertools

from craft_jobs.kube.operator import kopf_settings
from craft_jobs.kube.settings import KubeSettings


def test_kopf_retries_a_failed_request_for_as_long_as_the_api_is_away():
    """kopf gives up after its finite backoffs, and a watch given up on stays gone."""
    backoffs = kopf_settings(KubeSettings(), admission=None).networking.error_backoffs
    first = list(itertools.islice(backoffs, 100))
    assert first[:8] == [1, 1, 2, 3, 5, 8, 13, 21] and set(first[8:]) == {30.0}
    assert list(itertools.islice(backoffs, 3)) == [1, 1, 2], "every request starts afresh"
