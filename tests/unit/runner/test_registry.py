import sys

import pytest

from craft_jobs_runner import (
    DuplicateJobTypeError,
    Job,
    JobModuleImportError,
    UnknownJobTypeError,
    get_job_class,
    import_job_modules,
    registered_job_types,
)


class FirstOwner(Job):
    job_type = "test-registry-owned"

    async def run(self, params, context):
        pass


def test_a_concrete_job_is_registered_by_its_type():
    assert get_job_class("test-registry-owned") is FirstOwner
    assert "test-registry-owned" in registered_job_types()


def test_registered_job_types_are_sorted():
    types = registered_job_types()
    assert types == sorted(types)


def test_a_duplicate_type_from_another_class_names_both_classes():
    with pytest.raises(DuplicateJobTypeError) as caught:

        class SecondOwner(Job):
            job_type = "test-registry-owned"

            async def run(self, params, context):
                pass

    message = str(caught.value)
    assert f"{__name__}.FirstOwner" in message
    assert "SecondOwner" in message
    assert get_job_class("test-registry-owned") is FirstOwner


def test_abstract_intermediate_classes_are_not_registered_but_their_subclasses_are():
    class TenantJobBase(Job):
        abstract = True
        max_attempts = 2

    class TenantCleanup(TenantJobBase):
        job_type = "test-registry-tenant-cleanup"

        async def run(self, params, context):
            pass

    assert "TenantJobBase" not in registered_job_types()
    assert get_job_class("test-registry-tenant-cleanup") is TenantCleanup
    assert TenantCleanup.max_attempts == 2


def test_abstract_is_only_honoured_in_the_class_body():
    class Base(Job):
        abstract = True

    class Concrete(Base):  # inherits abstract = True, but is concrete
        job_type = "test-registry-concrete-child"

        async def run(self, params, context):
            pass

    assert get_job_class("test-registry-concrete-child") is Concrete


def test_an_unknown_type_names_it_and_the_registered_ones():
    with pytest.raises(UnknownJobTypeError) as caught:
        get_job_class("no-such-type")
    assert caught.value.job_type == "no-such-type"
    assert "'no-such-type'" in str(caught.value)
    # The registered types are listed (the first 20, sorted) to help spot a typo.
    assert f"registered types: {registered_job_types()[0]}, " in str(caught.value)
    assert isinstance(caught.value, LookupError)


def test_reimporting_a_module_does_not_count_as_a_duplicate(tmp_path, monkeypatch):
    source = (
        "from craft_jobs_runner import Job\n"
        "class Reloaded(Job):\n"
        "    job_type = 'test-registry-reloaded'\n"
        "    async def run(self, params, context):\n"
        "        pass\n"
    )
    (tmp_path / "reloadable_jobs.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    import_job_modules(["reloadable_jobs"])
    first = get_job_class("test-registry-reloaded")
    monkeypatch.delitem(sys.modules, "reloadable_jobs")
    import_job_modules(["reloadable_jobs"])
    second = get_job_class("test-registry-reloaded")
    assert first is not second
    assert second.__module__ == "reloadable_jobs"


def test_import_job_modules_accepts_the_comma_separated_variable(tmp_path, monkeypatch):
    for name, job_type in (("jobs_alpha", "test-registry-alpha"), ("jobs_beta", "test-registry-beta")):
        (tmp_path / f"{name}.py").write_text(
            "from craft_jobs_runner import Job\n"
            f"class J(Job):\n    job_type = {job_type!r}\n"
            "    async def run(self, params, context):\n        pass\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_job_modules(" jobs_alpha, ,jobs_beta,") == ["jobs_alpha", "jobs_beta"]
    assert {"test-registry-alpha", "test-registry-beta"} <= set(registered_job_types())


def test_import_job_modules_with_nothing_to_import():
    assert import_job_modules("") == []
    assert import_job_modules([]) == []


def test_a_missing_module_is_named():
    with pytest.raises(JobModuleImportError, match="'no_such_jobs_module'") as caught:
        import_job_modules(["no_such_jobs_module"])
    assert caught.value.module == "no_such_jobs_module"
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_a_module_failing_at_import_is_named_with_its_error(tmp_path, monkeypatch):
    (tmp_path / "broken_jobs.py").write_text("raise RuntimeError('needs a database at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(JobModuleImportError, match="'broken_jobs': RuntimeError: needs a database at import"):
        import_job_modules("broken_jobs")
