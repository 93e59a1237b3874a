"""The operator's part of a job's metadata, reached only through `KubeMetadata`.

Stored under one reserved key, `{"pod": {...overrides...}, "owner": {"kind",
"name", "uid"}}`, because the jobs table has no column for it; rows stored
before this module keep that same form, so it is read as is. The key is
stripped from the metadata a job sees (CRAFT_JOB_METADATA).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from craft_jobs.errors import ValidationError

KUBE_METADATA_KEY = "craft.dev/kube"


@dataclass(frozen=True)
class Owner:
    """The resource a run's Kubernetes Job belongs to (same namespace as the Job)."""

    kind: str
    name: str
    uid: str


@dataclass(frozen=True)
class KubeMetadata:
    pod: dict[str, Any] = field(default_factory=dict)
    owner: Owner | None = None

    @classmethod
    def of(cls, metadata: dict[str, Any] | None) -> KubeMetadata:
        """What a stored job's metadata carries; a malformed block reads as empty."""
        block = (metadata or {}).get(KUBE_METADATA_KEY)
        if not isinstance(block, dict):
            return cls()
        pod = block.get("pod") if isinstance(block.get("pod"), dict) else {}
        owner = block.get("owner")
        if isinstance(owner, dict) and all(isinstance(owner.get(key), str) and owner[key] for key in ("kind", "name", "uid")):
            return cls(pod=pod, owner=Owner(owner["kind"], owner["name"], owner["uid"]))
        return cls(pod=pod)

    @staticmethod
    def without(metadata: dict[str, Any]) -> dict[str, Any]:
        """The metadata a job sees: everything but the operator's block."""
        return {key: value for key, value in metadata.items() if key != KUBE_METADATA_KEY}

    @staticmethod
    def added_to(user_metadata: dict[str, Any], pod: dict[str, Any] | None, owner: Owner | None) -> dict[str, Any]:
        """A spec's own metadata, which may not use the reserved key, with the operator's block added."""
        if KUBE_METADATA_KEY in user_metadata:
            raise ValidationError("metadata", f"{KUBE_METADATA_KEY!r} is reserved")
        block: dict[str, Any] = {}
        if pod:
            block["pod"] = pod
        if owner is not None:
            block["owner"] = {"kind": owner.kind, "name": owner.name, "uid": owner.uid}
        return {**user_metadata, KUBE_METADATA_KEY: block} if block else user_metadata
