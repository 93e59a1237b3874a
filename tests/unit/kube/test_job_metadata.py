"""The reserved `craft.dev/kube` block of a job's metadata, through `KubeMetadata` only."""

import pytest

from craft_jobs.errors import ValidationError
from craft_jobs.kube.job_metadata import KUBE_METADATA_KEY, KubeMetadata, Owner

# The form rows stored before `KubeMetadata` existed carry (no migration rewrote them).
STORED = {"team": "a", "craft.dev/kube": {"pod": {"nodeSelector": {"disk": "ssd"}},
                                          "owner": {"kind": "RecurringJob", "name": "nightly", "uid": "u-1"}}}


def test_a_stored_row_reads_as_it_was_written():
    assert KubeMetadata.of(STORED) == KubeMetadata(pod={"nodeSelector": {"disk": "ssd"}},
                                                   owner=Owner("RecurringJob", "nightly", "u-1"))
    assert KubeMetadata.added_to({"team": "a"}, STORED[KUBE_METADATA_KEY]["pod"],
                                 Owner("RecurringJob", "nightly", "u-1")) == STORED


@pytest.mark.parametrize("metadata", [None, {}, {KUBE_METADATA_KEY: "x"}, {KUBE_METADATA_KEY: {"pod": 1, "owner": {"kind": "RecurringJob"}}}])
def test_a_missing_or_malformed_block_reads_as_empty(metadata):
    assert KubeMetadata.of(metadata) == KubeMetadata()


def test_a_job_sees_its_metadata_without_the_block():
    assert KubeMetadata.without(STORED) == {"team": "a"}
    assert KubeMetadata.added_to({"team": "a"}, None, None) == {"team": "a"}


def test_a_spec_may_not_use_the_reserved_key():
    with pytest.raises(ValidationError) as error:
        KubeMetadata.added_to({KUBE_METADATA_KEY: {}}, None, None)
    assert (error.value.field, error.value.reason) == ("metadata", "'craft.dev/kube' is reserved")
