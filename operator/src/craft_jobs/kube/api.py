"""The few Kubernetes API calls the operator makes, as raw JSON.

Built on the official `kubernetes` client (configuration, auth, TLS) but
without its models: requests go through `ApiClient.param_serialize/call_api`
and bodies stay plain dicts, which is faster and keeps the manifests exactly
as built. The client is synchronous, so calls run in a small thread pool of
their own; the watch runs in a thread that feeds the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from craft_jobs.errors import CraftJobsError

log = logging.getLogger(__name__)

USER_AGENT = "craft-jobs-operator"
GROUP = "jobs.craft.dev"
VERSION = "v1alpha1"
MERGE_PATCH = "application/merge-patch+json"
TRANSPORT_ERROR = "TransportError"
# What the client raises when no answer came: a connection refused, reset or
# dropped mid-request (ProtocolError), a timeout, TLS failing (ApiException
# with status 0), or urllib3's retries used up (MaxRetryError).
_TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError, k8s_client.exceptions.ApiException)


class KubeApiError(CraftJobsError):
    def __init__(self, status: int, reason: str, message: str = ""):
        super().__init__(f"Kubernetes API {status} {reason}: {message}".strip())
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def transient(self) -> bool:
        """No answer (status 0: the request may or may not have been acted on),
        too many requests, or the server failing: worth another try."""
        return self.status == 0 or self.status == 429 or self.status >= 500

    @classmethod
    def transport(cls, exc: BaseException) -> KubeApiError:
        return cls(0, TRANSPORT_ERROR, f"{type(exc).__name__}: {exc}")


def load_configuration(server: str | None = None) -> k8s_client.Configuration:
    """In-cluster credentials, else KUBECONFIG / ~/.kube/config; `server` overrides all (tests)."""
    configuration = k8s_client.Configuration()
    if server:
        configuration.host = server.rstrip("/")
        return configuration
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        k8s_config.load_incluster_config(client_configuration=configuration)
    else:
        k8s_config.load_kube_config(client_configuration=configuration)
    return configuration


class KubeApi:
    def __init__(self, configuration: k8s_client.Configuration, *, threads: int = 16, user_agent: str = USER_AGENT):
        configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 0, threads + 4)
        self.client = k8s_client.ApiClient(configuration)
        self.client.user_agent = user_agent
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="craft-kube")

    @classmethod
    def connect(cls, server: str | None = None, **kwargs: Any) -> KubeApi:
        return cls(load_configuration(server), **kwargs)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    # -- the raw request ---------------------------------------------------------------

    def request_sync(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
                     content_type: str = "application/json", timeout: Any = 30, stream: bool = False) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        serialized = self.client.param_serialize(
            method=method, resource_path=path, query_params=list((query or {}).items()),
            header_params=headers, body=body, auth_settings=["BearerToken"],
        )
        try:
            response = self.client.call_api(*serialized, _request_timeout=timeout)
            if stream and 200 <= response.status < 300:
                return response.response
            data = response.read()
        except _TRANSPORT_ERRORS as exc:  # the one place where the transport's failures become ours
            if isinstance(exc, k8s_client.exceptions.ApiException) and exc.status:
                raise _error(exc.status, (exc.body or b"") if isinstance(exc.body, bytes) else str(exc.body or "").encode()) from exc
            raise KubeApiError.transport(exc) from exc
        if not 200 <= response.status < 300:
            raise _error(response.status, data)
        return json.loads(data) if data else None

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: self.request_sync(method, path, **kwargs))

    # -- batch/v1 Jobs, Secrets, Pods --------------------------------------------------

    async def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", f"/apis/batch/v1/namespaces/{namespace}/jobs", body=body)

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get_or_none(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")

    async def delete_job(self, namespace: str, name: str) -> bool:
        try:
            await self.request("DELETE", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
                               body={"propagationPolicy": "Background"})
            return True
        except KubeApiError as exc:
            if exc.not_found:
                return False
            raise

    async def patch_job(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
                                  body=patch, content_type=MERGE_PATCH)

    async def list_jobs(self, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        path = f"/apis/batch/v1/namespaces/{namespace}/jobs" if namespace else "/apis/batch/v1/jobs"
        return (await self.request("GET", path, query={"labelSelector": selector}))["items"]

    async def create_secret(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body=body)

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get_or_none(f"/api/v1/namespaces/{namespace}/secrets/{name}")

    async def list_events(self, namespace: str, field_selector: str) -> list[dict[str, Any]]:
        return (await self.request("GET", f"/api/v1/namespaces/{namespace}/events", query={"fieldSelector": field_selector}))["items"]

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return (await self.request("GET", f"/api/v1/namespaces/{namespace}/pods", query={"labelSelector": selector}))["items"]

    async def get_namespace(self, name: str) -> dict[str, Any] | None:
        return await self._get_or_none(f"/api/v1/namespaces/{name}")

    async def may(self, user: dict[str, Any], verb: str, resource: str, name: str, group: str = "") -> bool:
        """A SubjectAccessReview: may this user (an admission request's userInfo) do it?"""
        spec = {"user": user.get("username"), "groups": user.get("groups") or [], "uid": user.get("uid"),
                "extra": user.get("extra") or {},
                "resourceAttributes": {"group": group, "resource": resource, "verb": verb, "name": name}}
        review = await self.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body={
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {k: v for k, v in spec.items() if v is not None}})
        return bool(((review or {}).get("status") or {}).get("allowed"))

    # -- our resources -------------------------------------------------------------------

    @staticmethod
    def custom_path(plural: str, namespace: str, name: str, subresource: str | None = None) -> str:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}"
        return f"{path}/{subresource}" if subresource else path

    async def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get_or_none(self.custom_path(plural, namespace, name))

    async def patch_custom(self, plural: str, namespace: str, name: str, patch: dict[str, Any],
                           subresource: str | None = None) -> dict[str, Any]:
        return await self.request("PATCH", self.custom_path(plural, namespace, name, subresource),
                                  body=patch, content_type=MERGE_PATCH)

    async def _get_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            return await self.request("GET", path)
        except KubeApiError as exc:
            if exc.not_found:
                return None
            raise

    # -- watching --------------------------------------------------------------------------

    def watch_jobs(self, selector: str, namespaces: list[str] | None,
                   on_event: Callable[[str, dict[str, Any]], None], stop: threading.Event,
                   read_timeout: float = 60) -> None:
        """Blocking: streams Job events to `on_event` until `stop` is set (run it in a thread).

        On every (re)connection the current Jobs are listed first and reported
        as "SYNC" events, so nothing that happened while disconnected is lost."""
        paths = [f"/apis/batch/v1/namespaces/{ns}/jobs" for ns in namespaces] if namespaces else ["/apis/batch/v1/jobs"]
        self._watch_paths(paths, {"labelSelector": selector}, on_event, stop, read_timeout)

    def watch_pods(self, selector: str, field_selector: str, namespaces: list[str] | None,
                   on_event: Callable[[str, dict[str, Any]], None], stop: threading.Event,
                   read_timeout: float = 60) -> None:
        """As watch_jobs, for pods; `field_selector` (e.g. status.phase=Failed) is applied
        by the API server, so only the few pods that matter cross the wire."""
        paths = [f"/api/v1/namespaces/{ns}/pods" for ns in namespaces] if namespaces else ["/api/v1/pods"]
        self._watch_paths(paths, {"labelSelector": selector, "fieldSelector": field_selector}, on_event, stop, read_timeout)

    def _watch_paths(self, paths: list[str], selectors: dict[str, str], on_event, stop: threading.Event,
                     read_timeout: float) -> None:
        if len(paths) > 1:
            threads = [threading.Thread(target=self._watch_path, args=(p, selectors, on_event, stop, read_timeout),
                                        daemon=True, name=f"craft-watch-{i}") for i, p in enumerate(paths)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        else:
            self._watch_path(paths[0], selectors, on_event, stop, read_timeout)

    def _watch_path(self, path: str, selectors: dict[str, str], on_event, stop: threading.Event, read_timeout: float) -> None:
        delay = 0.5
        self._streams = getattr(self, "_streams", set())
        while not stop.is_set():
            response = None
            try:
                listing = self.request_sync("GET", path, query=dict(selectors))
                for item in listing.get("items", ()):
                    on_event("SYNC", item)
                version = (listing.get("metadata") or {}).get("resourceVersion")
                query = {**selectors, "watch": "true", "timeoutSeconds": 300}
                if version:
                    query["resourceVersion"] = version
                response = self.request_sync("GET", path, query=query, timeout=(10, read_timeout), stream=True)
                self._streams.add(response)
                delay = 0.5
                buffer = b""
                for chunk in response.stream(65536, decode_content=True):
                    if stop.is_set():
                        break
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        if event.get("type") == "ERROR":
                            raise KubeApiError(int((event.get("object") or {}).get("code") or 500), "WatchError",
                                               str((event.get("object") or {}).get("message", "")))
                        if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                            on_event(event["type"], event["object"])
            except Exception as exc:  # reconnect on anything: the listing catches up
                if stop.is_set():
                    break
                log.debug("job watch on %s restarts: %s", path, exc)
                stop.wait(delay)
                delay = min(delay * 2, 10)
            finally:
                if response is not None:
                    self._streams.discard(response)
                    response.release_conn()

    def interrupt_watches(self) -> None:
        for response in list(getattr(self, "_streams", ())):
            try:
                response.shutdown()
            except Exception:  # already closed
                pass


def _error(status: int, data: bytes) -> KubeApiError:
    try:
        body = json.loads(data)
        return KubeApiError(status, str(body.get("reason") or ""), str(body.get("message") or ""))
    except (ValueError, AttributeError):
        return KubeApiError(status, "", data[:200].decode(errors="replace") if data else "")
