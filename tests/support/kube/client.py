"""Drives "a cluster" through the Kubernetes API only: create resources, wait for status."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from craft_jobs.kube.api import GROUP, VERSION, KubeApi, KubeApiError

PLURALS = {"BackgroundJob": "backgroundjobs", "RecurringJob": "recurringjobs"}


class CrClient:
    def __init__(self, api: KubeApi, namespace: str = "default"):
        self.api = api
        self.namespace = namespace

    async def create(self, kind: str, name: str, spec: dict[str, Any], *, annotations: dict[str, str] | None = None,
                     namespace: str | None = None) -> dict[str, Any]:
        namespace = namespace or self.namespace
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind,
                "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}}, "spec": spec}
        return await self.api.request("POST", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURALS[kind]}", body=body)

    async def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return await self.api.get_custom(PLURALS[kind], namespace or self.namespace, name)

    async def annotate(self, kind: str, name: str, annotations: dict[str, str | None], namespace: str | None = None) -> dict[str, Any]:
        return await self.api.patch_custom(PLURALS[kind], namespace or self.namespace, name, {"metadata": {"annotations": annotations}})

    async def patch_spec(self, kind: str, name: str, spec: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        return await self.api.patch_custom(PLURALS[kind], namespace or self.namespace, name, {"spec": spec})

    async def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        try:
            await self.api.request("DELETE", self.api.custom_path(PLURALS[kind], namespace or self.namespace, name))
            return True
        except KubeApiError as exc:
            if exc.not_found:
                return False
            raise

    async def wait_for(self, kind: str, name: str, check: Callable[[dict[str, Any]], Any], *, timeout: float = 30,
                       namespace: str | None = None, what: str = "") -> dict[str, Any]:
        """Polls the resource until `check(resource)` is truthy; returns the resource."""
        deadline = time.monotonic() + timeout
        body = None
        while True:
            body = await self.get(kind, name, namespace)
            if body is not None and check(body):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"{kind} {name}: timed out after {timeout} s waiting for {what or check}; "
                                     f"status {None if body is None else body.get('status')!r}")
            await asyncio.sleep(0.1)

    async def wait_phase(self, kind: str, name: str, phase: str, timeout: float = 30, namespace: str | None = None) -> dict[str, Any]:
        return await self.wait_for(kind, name, lambda b: (b.get("status") or {}).get("phase") == phase,
                                   timeout=timeout, namespace=namespace, what=f"phase {phase}")


def condition(body: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in (body.get("status") or {}).get("conditions") or () if c.get("type") == kind), None)
