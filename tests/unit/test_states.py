from craft_jobs.states import FINAL_STATES, TRANSITIONS, ContinuationCondition, JobState, can_transition


def test_every_state_can_be_deleted_or_requeued_except_where_it_already_is():
    for state in JobState:
        targets = TRANSITIONS[state]
        assert JobState.ENQUEUED in targets or state is JobState.SCHEDULED
        assert JobState.DELETED in targets or state is JobState.DELETED


def test_failed_is_not_final_so_it_never_expires():
    assert not JobState.FAILED.is_final
    assert FINAL_STATES == {JobState.SUCCEEDED, JobState.DELETED}


def test_processing_outcomes():
    assert can_transition(JobState.PROCESSING, JobState.SUCCEEDED)
    assert can_transition(JobState.PROCESSING, JobState.SCHEDULED)  # retry after backoff
    assert can_transition(JobState.PROCESSING, JobState.ENQUEUED)  # rescued
    assert not can_transition(JobState.SUCCEEDED, JobState.PROCESSING)
    assert not can_transition(JobState.AWAITING, JobState.PROCESSING)


def test_continuation_conditions():
    on_success, on_finish = ContinuationCondition.SUCCEEDED, ContinuationCondition.FINISHED
    assert on_success.satisfied_by(JobState.SUCCEEDED)
    assert not on_success.satisfied_by(JobState.DELETED)
    assert on_success.impossible_for(JobState.DELETED)
    assert on_finish.satisfied_by(JobState.DELETED)
    assert not on_finish.impossible_for(JobState.DELETED)
    # A failed parent may still be requeued: the child keeps waiting.
    assert not on_success.satisfied_by(JobState.FAILED)
    assert not on_finish.satisfied_by(JobState.FAILED)
    assert not on_success.impossible_for(JobState.FAILED)
