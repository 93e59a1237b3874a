"""The one envelope of every list the API returns: `{"items": [...], "next_before_id"}`."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from craft_jobs.store.stats import JobPage, JobSummary

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    next_before_id: int | None = Field(
        None, description="Pass as before_id for the next page; null on the last page and for lists that are never paged"
    )


class JobList(Page[JobSummary]):
    scanned: int | None = Field(None, description="With a text search: how many jobs this page read")
    scanned_to: int | None = Field(None, description="With a text search: the oldest id read")

    @classmethod
    def of(cls, page: JobPage) -> JobList:
        return cls(items=page.jobs, next_before_id=page.next_before_id, scanned=page.scanned, scanned_to=page.scanned_to)
