"""Page numbers for the lists: totals, which page links to show, the offset to read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Query

from craft_jobs.dashboard.errors import ApiError
from craft_jobs.store.stats import Counted

PAGE_SIZES = (20, 50, 100, 200)
# An offset costs one index entry per skipped row: deeper than this, narrow the filters.
MAX_OFFSET = 100_000

PageNumber = Annotated[int, Query(ge=1, description="1-based page number")]
PageSize = Annotated[int, Query(ge=1, le=500)]


@dataclass(frozen=True)
class Pager:
    page: int
    size: int
    total: Counted

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def last(self) -> int:
        return max(1, -(-self.total.count // self.size))

    @property
    def first_row(self) -> int:
        return min(self.offset + 1, self.total.count)

    def last_row(self, shown: int) -> int:
        return self.offset + shown

    def links(self) -> list[int | None]:
        """Page numbers around the current one, the first and the last; None marks a gap."""
        wanted = sorted({1, self.last, *range(max(1, self.page - 2), min(self.last, self.page + 2) + 1)})
        out: list[int | None] = []
        for number in wanted:
            if out and number - (out[-1] or 0) > 1:
                out.append(None)
            out.append(number)
        return out


def make_pager(page: int, size: int, total: Counted) -> Pager:
    if (page - 1) * size > MAX_OFFSET:
        raise ApiError(422, "invalid", f"at most {MAX_OFFSET:,} rows deep ({MAX_OFFSET // size + 1} pages of {size}): "
                       "narrow the filters instead", "page")
    return Pager(page, size, total)
