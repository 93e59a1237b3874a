"""Pods of ours evicted mid-run (a drain, preemption, the taint manager).

The Job's podFailurePolicy ignores a pod failure with the DisruptionTarget
condition: the Job controller starts a replacement pod without using an
attempt, so the work runs once more. DESIGN: a re-run after a loss says so.
The executor watches failed pods of ours (a field selector keeps it cheap)
and writes one history row per evicted pod of a running job.
"""

from __future__ import annotations

from typing import Any

FAILED_PODS = "status.phase=Failed"


def disruption_of(pod: dict[str, Any]) -> str | None:
    """The DisruptionTarget condition's reason of a pod that has it, else None."""
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "DisruptionTarget" and condition.get("status") == "True":
            return condition.get("reason") or "DisruptionTarget"
    return None


def owning_job(pod: dict[str, Any]) -> tuple[str, str, str] | None:
    """(namespace, name, uid) of the Job that controls the pod."""
    meta = pod.get("metadata") or {}
    for owner in meta.get("ownerReferences") or ():
        if owner.get("kind") == "Job" and owner.get("controller"):
            return meta.get("namespace"), owner.get("name"), owner.get("uid")
    return None


def eviction_reason(pod_name: str, disruption: str) -> str:
    return f"pod {pod_name} evicted (DisruptionTarget: {disruption}), replaced; no attempt used"
