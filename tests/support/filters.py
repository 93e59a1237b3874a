"""A client filter registered for a whole installation (`client_filters`) in tests."""

from __future__ import annotations

from craft_jobs.client import ClientFilter
from craft_jobs.errors import ValidationError


class StampFilter(ClientFilter):
    """Stamps every job's metadata; refuses one whose metadata asks for it."""

    def on_creating(self, job) -> None:
        if job.metadata.get("refuse"):
            raise ValidationError("metadata.refuse", "refused by the installation's filter")
        job.metadata["stamped"] = "installation"


NOT_A_FILTER = object()
