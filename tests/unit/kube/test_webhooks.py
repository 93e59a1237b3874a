"""Who the admission webhook records as a job's creator and last changer, and what it calls a claim."""

from __future__ import annotations

from craft_jobs.kube.names import ANNOTATION_CHANGED_BY as CHANGED_BY
from craft_jobs.kube.names import ANNOTATION_CREATED_BY as CREATED_BY
from craft_jobs.kube.webhooks import Identity, identity_after

ANN = {"username": "ann"}
OPERATOR = {"username": "system:serviceaccount:craft:cj-craft-jobs-operator"}


def obj(spec: dict, **annotations: str) -> dict:
    return {"metadata": {"annotations": annotations}, "spec": spec}


def test_create_records_the_requester_and_flags_another_name():
    assert identity_after("CREATE", ANN, obj({"jobType": "a"}), None) == Identity("ann", "ann")
    assert identity_after("CREATE", ANN, obj({}, **{CREATED_BY: "ann"}), None) == Identity("ann", "ann")
    assert identity_after("CREATE", ANN, obj({}, **{CREATED_BY: "bob"}), None) == Identity("bob", "ann", "bob")
    # The changer is never a claim: it is always overwritten by the requester.
    assert identity_after("CREATE", ANN, obj({}, **{CHANGED_BY: "bob"}), None) == Identity("ann", "ann")


def test_update_keeps_the_creator_and_records_who_changed_the_spec():
    old = obj({"schedule": "0 3 * * *"}, **{CREATED_BY: "ann", CHANGED_BY: "ann"})
    bob = {"username": "bob"}
    assert identity_after("UPDATE", bob, obj({"schedule": "0 4 * * *"}, **{CREATED_BY: "ann"}), old) == Identity("ann", "bob")
    # The operator's own annotation patches change no spec: the last changer stays.
    assert identity_after("UPDATE", OPERATOR, obj({"schedule": "0 3 * * *"}, **{CREATED_BY: "ann"}), old) == Identity("ann", "ann")
    # Removing the creator restores it; rewriting it is a claim.
    assert identity_after("UPDATE", bob, obj({"schedule": "0 3 * * *"}), old) == Identity("ann", "ann")
    assert identity_after("UPDATE", bob, obj({"schedule": "0 3 * * *"}, **{CREATED_BY: "bob"}), old) == Identity("bob", "bob", "bob")


def test_whoever_sets_a_one_shot_annotation_is_recorded_and_nobody_else_can_say_so():
    from craft_jobs.kube.names import ANNOTATION_REQUESTED_BY as REQUESTED_BY
    from craft_jobs.kube.names import ANNOTATION_REQUEUE as REQUEUE

    old = obj({"jobType": "a"}, **{CREATED_BY: "ann", CHANGED_BY: "ann"})
    bob = {"username": "bob"}
    asked = identity_after("UPDATE", bob, obj({"jobType": "a"}, **{CREATED_BY: "ann", REQUEUE: "1"}), old)
    assert asked == Identity("ann", "ann", requested_by="bob")
    # The operator removing the annotation, or anyone writing the record, keeps it as it was.
    done = obj({"jobType": "a"}, **{CREATED_BY: "ann", REQUESTED_BY: "bob"})
    assert identity_after("UPDATE", OPERATOR, obj({"jobType": "a"}, **{CREATED_BY: "ann"}), done).requested_by == "bob"
    forged = obj({"jobType": "a"}, **{CREATED_BY: "ann", REQUESTED_BY: "mallory"})
    assert identity_after("UPDATE", ANN, forged, done).requested_by == "bob"
    # The same value set again after its removal is a new request, by its requester.
    again = identity_after("UPDATE", ANN, obj({"jobType": "a"}, **{CREATED_BY: "ann", REQUEUE: "1"}), done)
    assert again.requested_by == "ann"
