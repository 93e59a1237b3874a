"""The Kubernetes resource a stored job or recurring job comes from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResourceRef:
    """A BackgroundJob or RecurringJob, as the store keeps it (the cr_* columns)."""

    uid: str
    namespace: str
    name: str

    @classmethod
    def of(cls, meta: dict[str, Any]) -> ResourceRef:
        """From a resource's `.metadata`."""
        return cls(uid=meta["uid"], namespace=meta["namespace"], name=meta["name"])

    @staticmethod
    def columns(ref: ResourceRef | None) -> dict[str, str | None]:
        """The cr_* columns of a row for `ref` (all None for a job no resource made)."""
        if ref is None:
            return {"cr_uid": None, "cr_namespace": None, "cr_name": None}
        return {"cr_uid": ref.uid, "cr_namespace": ref.namespace, "cr_name": ref.name}
