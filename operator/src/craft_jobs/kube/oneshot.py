"""One-shot annotations (`jobs.craft.dev/trigger`, `jobs.craft.dev/requeue`):
acted on once, then removed.

The order is what makes it safe:

1. in one transaction: claim (resource uid, annotation, value) in
   `kube_one_shots`, read the resource afresh (the annotation must still
   carry that value), act (store the fire or the requeue); commit;
2. remove the annotation, only while it still carries that value;
3. delete the claim.

A crash before 1 commits loses nothing (the annotation stays; the next
attempt acts). After it, whoever sees the annotation again (a retry, a second
replica, the next operator) finds the claim, does not act, and finishes 2
and 3. The claim decides, not the removal: two replicas that see the same
annotation at once act once (the second one's insert waits for the first
one's transaction). A replica that sees it late, after 3, claims anew but
reads the resource without it and does nothing. The same value set again
once it was removed is a new request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from craft_jobs.errors import DatabaseUnavailableError, StoreError
from craft_jobs.kube.api import KubeApi, KubeApiError
from craft_jobs.store.connector import Session
from craft_jobs.store.kube_store import KubeStore

log = logging.getLogger(__name__)

_REMOVAL_TRIES = 5


class Transient(Exception):
    """The store or the API failed: try the whole step again later (it is idempotent)."""


class _Stale(Exception):
    """The resource no longer carries the value: nothing to do (rolls the claim back)."""


def _carries(body: dict[str, Any] | None, uid: str, key: str, value: str) -> bool:
    meta = (body or {}).get("metadata") or {}
    return meta.get("uid") == uid and (meta.get("annotations") or {}).get(key) == value


async def take_one_shot(api: KubeApi, kube_store: KubeStore, plural: str, body: dict[str, Any], key: str,
                        now: datetime, act: Callable[[Session], Awaitable[Any]]) -> bool:
    """Acts on the annotation `key` of `body` once across replicas and restarts, then
    removes it. True when this call acted; `act`'s own exceptions pass through."""
    meta = body["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
    value = (meta.get("annotations") or {}).get(key)
    if not value:
        return False
    acted = False
    try:
        try:
            async with kube_store.store.connector.transaction() as session:
                if await kube_store.take_one_shot(session, uid, key, value, now):
                    if not _carries(await api.get_custom(plural, namespace, name), uid, key, value):
                        raise _Stale
                    await act(session)
                    acted = True
        except _Stale:
            return False
        await _remove(api, plural, namespace, name, uid, key, value)
        await kube_store.forget_one_shot(uid, key, value)
    except KubeApiError as exc:
        raise Transient(f"{key} on {plural}/{namespace}/{name}: {exc}") from exc
    except (DatabaseUnavailableError, StoreError) as exc:
        raise Transient(f"{key} on {plural}/{namespace}/{name}: {exc}") from exc
    return acted


async def _remove(api: KubeApi, plural: str, namespace: str, name: str, uid: str, key: str, value: str) -> None:
    """Removes the annotation while it still carries `value` (a newer value is a new request)."""
    for _ in range(_REMOVAL_TRIES):
        current = await api.get_custom(plural, namespace, name)
        if not _carries(current, uid, key, value):
            return
        try:
            await api.patch_custom(plural, namespace, name, {"metadata": {
                "resourceVersion": current["metadata"].get("resourceVersion"), "annotations": {key: None}}})
            return
        except KubeApiError as exc:
            if exc.not_found:
                return
            if not exc.conflict:
                raise
    raise KubeApiError(409, "Conflict", f"{plural}/{namespace}/{name} kept changing while {key} was removed")
