import pytest

from craft_jobs.errors import ValidationError
from craft_jobs.resource_ref import ResourceRef
from craft_jobs.resources import document_ref


def _doc(**overrides):
    doc = {"apiVersion": "jobs.craft.dev/v1alpha1", "kind": "BackgroundJob", "metadata": {"name": "report"}, "spec": {"jobType": "hello"}}
    doc.update(overrides)
    return doc


def test_document_ref_gives_local_documents_a_stable_uid():
    ref = document_ref(_doc(), "team-a")
    assert (ref.kind, ref.namespace, ref.name) == ("BackgroundJob", "team-a", "report")
    assert ref.resource.uid == document_ref(_doc(), "team-a").resource.uid
    assert ref.resource == ResourceRef(uid=ref.resource.uid, namespace="team-a", name="report")


def test_a_namespace_in_the_document_wins():
    assert document_ref(_doc(metadata={"name": "r", "namespace": "ops"}), "team-a").namespace == "ops"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"apiVersion": "batch/v1"}, "apiVersion"),
        ({"kind": "CronJob"}, "kind"),
        ({"metadata": {"name": "Bad_Name"}}, "metadata.name"),
        ({"spec": None}, "spec"),
    ],
)
def test_document_ref_errors_name_the_field(overrides, field):
    with pytest.raises(ValidationError) as raised:
        document_ref(_doc(**overrides))
    assert raised.value.field == field


def test_a_document_that_is_not_a_mapping_is_refused():
    with pytest.raises(ValidationError, match="document: must be a YAML mapping"):
        document_ref(["a", "list"])
