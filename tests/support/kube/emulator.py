"""A Kubernetes API server for tests: kmock's emulator plus what it lacks.

kmock stores objects and serves list/watch/get/create/patch/delete, but it
assigns no uid, resourceVersion, generation or creationTimestamp, ignores
label selectors, never answers 409, and collects no garbage. `ClusterEmulator`
adds exactly that, plus:

- status subresource semantics (a patch of `/status` changes only `.status`,
  a patch of the object never changes `.status`), generation bumps on spec
  changes, `generateName`;
- cascading deletion through ownerReferences (the garbage collector);
- optional admission: a mutating and a validating webhook URL called for our
  CRs, as the API server would (AdmissionReview v1 with userInfo);
- request accounting per client (by User-Agent), so a benchmark can count the
  requests and writes the operator sends;
- a cost that follows the objects alive, not every object ever made: kmock
  keeps a tombstone and every past version of each object, and logs every
  request; here a deleted object leaves the store, an object keeps only its
  current version, a request served here leaves the log, and lists and the
  garbage collector read indexes of live objects per resource and per owner;
- in-process helpers (`create`, `patch`, `delete`, `get`) for the Job-controller
  simulator, which plays the parts of kube-controller-manager and kubelet.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import gzip
import importlib.resources
import itertools
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import aiohttp
import attrs
import kmock
import yaml
from kmock._internal import rendering
from kmock._internal.enums import action
from kmock._internal.k8s import KubernetesError

from tests.support.kube import CRD_DIR

JOBS = kmock.resource("batch", "v1", "jobs")
PODS = kmock.resource("", "v1", "pods")
SECRETS = kmock.resource("", "v1", "secrets")
NAMESPACES = kmock.resource("", "v1", "namespaces")
EVENTS = kmock.resource("", "v1", "events")
BACKGROUND_JOBS = kmock.resource("jobs.craft.dev", "v1alpha1", "backgroundjobs")
RECURRING_JOBS = kmock.resource("jobs.craft.dev", "v1alpha1", "recurringjobs")
CRDS = {BACKGROUND_JOBS: "backgroundjobs.jobs.craft.dev.yaml", RECURRING_JOBS: "recurringjobs.jobs.craft.dev.yaml"}

Listener = Callable[[str, Any, dict[str, Any]], None]
ResourceKey = tuple[str | None, str | None, str | None]
Place = tuple[str | None, str]  # (namespace, name)


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_selector(text: str | None) -> list[tuple[str, str, Any]]:
    """Equality- and set-based label selectors: a=b, a!=b, a, !a, a in (x,y), a notin (x)."""
    if not text:
        return []
    terms, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    terms.append(current)
    result = []
    for term in (t.strip() for t in terms if t.strip()):
        if " notin " in term or " in " in term:
            key, op, values = term.replace(" notin ", " notin|").replace(" in ", " in|").partition("|")[0].split()[0], \
                ("notin" if " notin " in term else "in"), term.split("(", 1)[1].rstrip(")")
            result.append((key, op, {v.strip() for v in values.split(",")}))
        elif "!=" in term:
            key, value = term.split("!=", 1)
            result.append((key.strip(), "!=", value.strip()))
        elif "==" in term or "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            result.append((key.strip(), "=", value.strip()))
        elif term.startswith("!"):
            result.append((term[1:].strip(), "!", None))
        else:
            result.append((term, "exists", None))
    return result


def fields_match(selector: str | None, obj: dict[str, Any]) -> bool:
    """Field selectors as the API server takes them: path=value, path==value, path!=value, comma-joined."""
    for term in (t.strip() for t in (selector or "").split(",") if t.strip()):
        negated = "!=" in term
        path, value = term.split("!=" if negated else "=", 1)
        current: Any = obj
        for part in path.strip().split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if (str(current if current is not None else "") == value.lstrip("=")) == negated:
            return False
    return True


def labels_match(selector: list[tuple[str, str, Any]], labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    for key, op, value in selector:
        present = key in labels
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
        if op == "in" and labels.get(key) not in value:
            return False
        if op == "notin" and labels.get(key) in value:
            return False
    return True


def crd_info(path) -> tuple[kmock.ResourceInfo, dict[str, Any]]:
    crd = yaml.safe_load(path.read_text())
    names = crd["spec"]["names"]
    info = kmock.ResourceInfo(
        namespaced=crd["spec"]["scope"] == "Namespaced", kind=names["kind"], singular=names["singular"],
        verbs={"create", "delete", "get", "list", "patch", "update", "watch", "deletecollection"},
        shortnames=set(names.get("shortNames", ())), categories=set(names.get("categories", ())),
        subresources={"status"},
    )
    return info, crd


@attrs.define(kw_only=True)
class ClusterEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with uids, versions, generations, selectors, 409s, GC and admission."""

    mutating_webhook: str | None = None
    validating_webhook: str | None = None
    # userInfo sent in admission reviews, per User-Agent prefix (default: the first entry).
    users: dict[str, dict[str, Any]] = attrs.field(factory=lambda: {"": {"username": "kubernetes-admin", "groups": ["system:masters"]}})
    # SubjectAccessReviews are answered from these grants: (user, verb, resource, name); "*" matches any name.
    grants: set[tuple[str, str, str, str]] = attrs.field(factory=set)
    access_reviews: list[dict[str, Any]] = attrs.field(factory=list)
    listeners: list[Listener] = attrs.field(factory=list)
    # A test's faults: the error to answer a request with instead of serving it, or None.
    faults: Callable[[rendering.Request], KubernetesError | None] | None = None
    counts: collections.Counter = attrs.field(factory=collections.Counter)
    _versions: Any = attrs.field(factory=lambda: itertools.count(1000))
    _session: aiohttp.ClientSession | None = None
    # Live objects per resource, in creation order, and the objects each owner uid owns.
    _live: dict[ResourceKey, dict[Place, Any]] = attrs.field(factory=lambda: collections.defaultdict(dict))
    _owned: dict[str, dict[tuple[Any, str | None, str], None]] = attrs.field(factory=lambda: collections.defaultdict(dict))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # kmock's load_bundled() uses a deprecated importlib call (warnings are errors here).
        bundled = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()
        self.resources.load_data(gzip.decompress(bundled))
        for resource, file_name in CRDS.items():
            info, _ = crd_info(CRD_DIR / file_name)
            self.resources[resource] = info

    # -- identity and accounting ----------------------------------------------------

    @staticmethod
    def agent_of(request: rendering.Request) -> str:
        agent = request.headers.get("User-Agent", "") or ""
        return agent.split("/")[0] or "unknown"

    def requests_by(self, agent: str) -> dict[str, int]:
        """{'requests': n, 'writes': n, 'create': n, 'update': n, 'delete': n} of one client."""
        result = {"requests": 0, "writes": 0}
        for (who, verb), count in self.counts.items():
            if who == agent:
                result["requests"] += count
                result[verb] = result.get(verb, 0) + count
                if verb in ("create", "update", "delete"):
                    result["writes"] += count
        return result

    def _next_version(self) -> str:
        return str(next(self._versions))

    def _info(self, resource) -> kmock.ResourceInfo | None:
        for known in self.resources:
            if known == resource:
                return self.resources[known]
        return None

    # -- the request path -------------------------------------------------------------

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if request.resource is None or request.action is None:
            return await super()._handle(request)
        if request.resource.plural is None and request.namespace and request.method == kmock.method.GET \
                and request.url.path.rstrip("/") == f"/api/v1/namespaces/{request.namespace}":
            # kmock reads /api/v1/namespaces/<name> as a listing inside a namespace.
            self.counts[self.agent_of(request), "fetch"] += 1
            raw = self._raw_or_none(NAMESPACES, None, request.namespace)
            if raw is None:
                return await self._render_error(KubernetesError(404, "NotFound", f'namespaces "{request.namespace}" not found'))
            return aiohttp.web.json_response(raw)
        if request.resource.plural == "subjectaccessreviews" and request.method == kmock.method.POST:
            return aiohttp.web.json_response(self._review_access(request.data), status=201)
        verb = request.action.value.lower()
        if request.params.get("watch") in ("true", "1"):
            verb = "watch"
        self.counts[self.agent_of(request), verb] += 1
        refused = self.faults(request) if self.faults is not None else None
        if refused is not None:
            return await self._render_error(refused)
        try:
            original = request
            if request.action == action.CREATE:
                request = await self._before_create(request)
            elif request.action == action.UPDATE:
                request = self._before_update(await self._admit_update(request))
            if request is not original:
                self._replace_request(original, request)
            elif request.method == kmock.method.PUT:
                raise KubernetesError(405, "MethodNotAllowed", "this emulator does not support PUT; use PATCH")
        except KubernetesError as exc:
            return await self._render_error(exc)
        if verb != "watch" and request.method != kmock.method.PUT and request.resource.plural:
            # Served here: kmock's own path matches every request against the whole
            # request log (quadratic), too slow for benchmarks with thousands of objects.
            # Nothing reads the log of these requests, so they leave it.
            try:
                return await self._serve_directly(request)
            except KubernetesError as exc:
                return await self._render_error(exc)
            finally:
                self._forget_request(request)
        return await super()._handle(request)

    async def _serve_directly(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        resource, namespace, name = request.resource, request.namespace, request.name
        if request.action == action.LIST:
            if self._info(resource) is None and not self._live.get(_resource_key(resource)):
                raise KubernetesError(404, "NotFound", f"the server could not find the requested resource {resource}")
            return aiohttp.web.json_response(await self._serve_list(request))
        if request.action == action.FETCH:
            return aiohttp.web.json_response(await self._serve_fetch(request))
        if request.action == action.CREATE:
            meta = request.data["metadata"]
            raw = await self._store_new(resource, meta.get("namespace"), meta["name"], request.data)
            return aiohttp.web.json_response(raw, status=201)
        if request.action == action.UPDATE:
            raw = await self.patch(resource, namespace, name, request.data, bump=False)
            if raw is None:
                raise KubernetesError(404, "NotFound", f'{resource.plural} "{name}" not found')
            return aiohttp.web.json_response(raw)
        if request.action == action.DELETE and name is not None:
            before = self._raw_or_none(resource, namespace, name)
            if before is None or not await self.delete(resource, namespace, name):
                raise KubernetesError(404, "NotFound", f'{resource.plural} "{name}" not found')
            return aiohttp.web.json_response(before)
        raise KubernetesError(405, "MethodNotAllowed", f"{request.method} is not supported here")

    def _replace_request(self, old: rendering.Request, new: rendering.Request) -> None:
        # kmock's views select requests from its own log; the changed request takes the old one's place.
        for index in range(len(self._requests) - 1, -1, -1):
            if self._requests[index] is old:
                self._requests[index] = new
                return

    def _forget_request(self, request: rendering.Request) -> None:
        # A request is near the log's end: only the ones that came in while it was served follow it.
        for index in range(len(self._requests) - 1, -1, -1):
            if self._requests[index] is request:
                del self._requests[index]
                return

    def _raw_or_none(self, resource, namespace, name) -> dict[str, Any] | None:
        key = (resource, namespace, name)
        if key in self.objects and not self.objects[key].deleted:
            return self.objects[key].raw
        return None

    async def _before_create(self, request: rendering.Request) -> rendering.Request:
        data = request.data
        if not isinstance(data, dict):
            raise KubernetesError(400, "BadRequest", "the body must be an object")
        meta = data.setdefault("metadata", {})
        info = self._info(request.resource)
        if info is not None and info.namespaced:
            namespace = request.namespace or meta.get("namespace") or "default"
            meta["namespace"] = namespace
            request = attrs.evolve(request, namespace=namespace)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            raise KubernetesError(422, "Invalid", "metadata.name: Required value")
        key = (request.resource, meta.get("namespace"), meta["name"])
        if key in self.objects and not self.objects[key].deleted:
            raise KubernetesError(409, "AlreadyExists", f'{request.resource.plural} "{meta["name"]}" already exists')
        if request.resource in CRDS:
            await self._admit(request, "CREATE", data, None)
            meta = data["metadata"]  # a mutating webhook's patch gives a new object
        meta.update(
            uid=str(uuid.uuid4()), resourceVersion=self._next_version(), generation=1,
            creationTimestamp=now_rfc3339(),
        )
        meta.pop("deletionTimestamp", None)
        if info is not None and "status" in info.subresources and request.resource in CRDS:
            data.pop("status", None)
        return request

    def _before_update(self, request: rendering.Request) -> rendering.Request:
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            raise KubernetesError(404, "NotFound", f'{request.resource.plural} "{request.name}" not found')
        current = self.objects[key].raw
        data = request.data
        if isinstance(data, list):  # a JSON patch: apply it here, continue as a merge patch
            import jsonpatch

            data = _merge_diff(current, jsonpatch.apply_patch(copy.deepcopy(current), data))
        if not isinstance(data, dict):
            raise KubernetesError(400, "BadRequest", "unsupported patch body")
        info = self._info(request.resource)
        has_status = info is not None and "status" in info.subresources
        if request.subresource == "status":
            data = {"status": data.get("status")} if "status" in data else {}
        elif has_status:
            data = {k: v for k, v in data.items() if k != "status"}
        meta = data.setdefault("metadata", {})
        if not isinstance(meta, dict):
            meta = data["metadata"] = {}
        expected = meta.get("resourceVersion")
        if expected is not None and str(expected) != str(current["metadata"].get("resourceVersion")):
            raise KubernetesError(409, "Conflict", "the object has been modified; please apply your changes to the latest version and try again")
        for immutable in ("uid", "creationTimestamp", "generation", "namespace", "name"):
            meta.pop(immutable, None)
        meta["resourceVersion"] = self._next_version()
        if request.subresource != "status" and "spec" in data:
            merged = _merge(current.get("spec") or {}, data["spec"])
            if merged != current.get("spec"):
                meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
        return attrs.evolve(request, data=data)

    def _notify(self, kind: str, resource, raw: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(kind, resource, raw)

    # -- authorization and admission ------------------------------------------------------

    def _review_access(self, review: dict[str, Any]) -> dict[str, Any]:
        spec = review.get("spec") or {}
        attributes = spec.get("resourceAttributes") or {}
        self.access_reviews.append(spec)
        allowed = any(
            (user, verb, resource) == (spec.get("user"), attributes.get("verb"), attributes.get("resource"))
            and name in ("*", attributes.get("name"))
            for user, verb, resource, name in self.grants
        )
        return {**review, "status": {"allowed": allowed}}

    async def _admit_update(self, request: rendering.Request) -> rendering.Request:
        """Admission of an UPDATE (not of status): the webhooks see the object as it would become."""
        key = (request.resource, request.namespace, request.name)
        if request.resource not in CRDS or request.subresource == "status" or key not in self.objects \
                or self.objects[key].deleted or not (self.mutating_webhook or self.validating_webhook):
            return request
        current = self.objects[key].raw
        if isinstance(request.data, list):
            import jsonpatch

            proposed = jsonpatch.apply_patch(copy.deepcopy(current), request.data)
        elif isinstance(request.data, dict):
            proposed = _merge(copy.deepcopy(current), request.data)
        else:
            return request
        await self._admit(request, "UPDATE", proposed, copy.deepcopy(current))
        return attrs.evolve(request, data=_merge_diff(current, proposed))

    async def _admit(self, request: rendering.Request, operation: str, data: dict, old: dict | None) -> None:
        if not (self.mutating_webhook or self.validating_webhook):
            return
        agent = self.agent_of(request)
        user = next((u for prefix, u in self.users.items() if prefix and agent.startswith(prefix)), None) \
            or self.users.get("") or {"username": "unknown"}
        resource = request.resource
        review = {
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": str(uuid.uuid4()),
                "kind": {"group": resource.group, "version": resource.version, "kind": data.get("kind", "")},
                "resource": {"group": resource.group, "version": resource.version, "resource": resource.plural},
                "requestKind": {"group": resource.group, "version": resource.version, "kind": data.get("kind", "")},
                "namespace": data.get("metadata", {}).get("namespace"), "name": data.get("metadata", {}).get("name"),
                "operation": operation, "userInfo": user, "object": data, "oldObject": old, "dryRun": False,
            },
        }
        if self._session is None:
            self._session = aiohttp.ClientSession()
        for url, mutating in ((self.mutating_webhook, True), (self.validating_webhook, False)):
            if not url:
                continue
            async with self._session.post(url, json=review) as response:
                answer = (await response.json())["response"]
            if not answer.get("allowed"):
                status = answer.get("status") or {}
                raise KubernetesError(
                    int(status.get("code") or 400), "Invalid",
                    f"admission webhook denied the request: {status.get('message', '')}",
                )
            if mutating and answer.get("patch"):
                import jsonpatch

                patched = jsonpatch.apply_patch(data, json.loads(base64.b64decode(answer["patch"])))
                data.clear()
                data.update(patched)
                review["request"]["object"] = data

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- serving (kmock's own fetch scans every object per request) -------------------------

    async def _serve_fetch(self, request: rendering.Request) -> rendering.Payload:
        raw = self._raw_or_none(request.resource, request.namespace, request.name)
        if raw is None:
            raise KubernetesError(404, "NotFound", f'{request.resource.plural} "{request.name}" not found')
        return raw

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        fields = request.params.get("fieldSelector")
        items = [i for i in self.list(request.resource, request.namespace, request.params.get("labelSelector"))
                 if fields_match(fields, i)]
        info = self._info(request.resource)
        kind = (info.kind if info and info.kind else "") + "List"
        return {"apiVersion": _api_version(request.resource), "kind": kind,
                "metadata": {"resourceVersion": str(next(self._versions))}, "items": items}

    async def _serve_watch(self, request: rendering.Request):
        selector = parse_selector(request.params.get("labelSelector"))
        fields = request.params.get("fieldSelector")
        async for event in super()._serve_watch(request):
            if isinstance(event, dict) and not (labels_match(selector, event.get("object", {}).get("metadata", {}).get("labels"))
                                                and fields_match(fields, event.get("object", {}))):
                continue
            yield event

    # -- in-process access for the simulator and tests ----------------------------------

    def get(self, resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self._raw_or_none(resource, namespace, name)

    def live_counts(self) -> dict[str, int]:
        """Objects alive per resource plural, for a benchmark to say what the emulator holds."""
        return {plural: len(places) for (_, _, plural), places in self._live.items() if places}

    def list(self, resource, namespace: str | None = None, selector: str | None = None) -> list[dict[str, Any]]:
        parsed = parse_selector(selector)
        return [
            obj.raw for (ns, _), obj in list(self._live.get(_resource_key(resource), {}).items())
            if (namespace is None or ns == namespace) and labels_match(parsed, obj.raw.get("metadata", {}).get("labels"))
        ]

    async def create(self, resource, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta.update(uid=str(uuid.uuid4()), resourceVersion=self._next_version(), generation=1,
                    creationTimestamp=now_rfc3339())
        return await self._store_new(resource, meta.get("namespace"), meta["name"], obj)

    async def _store_new(self, resource, namespace: str | None, name: str, obj: dict[str, Any]) -> dict[str, Any]:
        key = (resource, namespace, name)
        async with self._lock:
            if key in self.objects and not self.objects[key].deleted:
                raise KubernetesError(409, "AlreadyExists", f'{resource.plural} "{name}" already exists')
            if key in self.objects:
                self.objects[key].create(obj)
            else:
                self.objects[key] = obj
            stored = self.objects[key]
            raw = stored.raw
            self._live[_resource_key(resource)][namespace, name] = stored
            self._index_owners(key, set(), raw)
            await self._buses[resource].put({"type": "ADDED", "object": raw})
        self._notify("ADDED", resource, raw)
        return raw

    async def patch(self, resource, namespace: str | None, name: str, patch: dict[str, Any], bump: bool = True) -> dict[str, Any] | None:
        key = (resource, namespace, name)
        async with self._lock:
            if key not in self.objects or self.objects[key].deleted:
                return None
            if bump:
                patch = {**patch, "metadata": {**patch.get("metadata", {}), "resourceVersion": self._next_version()}}
            stored = self.objects[key]
            before = stored.raw
            stored.patch(patch)
            del stored.history[:-1]  # kmock keeps every version; the current one is all we serve
            raw = stored.raw
            self._index_owners(key, _owner_uids(before), raw)
            await self._buses[resource].put({"type": "MODIFIED", "object": raw})
        self._notify("MODIFIED", resource, raw)
        return raw

    async def delete(self, resource, namespace: str | None, name: str) -> bool:
        key = (resource, namespace, name)
        async with self._lock:
            if key not in self.objects or self.objects[key].deleted:
                return False
            raw = self.objects[key].raw
            del self.objects[key]  # no tombstone: a name taken again starts afresh
            self._live[_resource_key(resource)].pop((namespace, name), None)
            self._index_owners(key, _owner_uids(raw), None)
            await self._buses[resource].put({"type": "DELETED", "object": raw})
        self._notify("DELETED", resource, raw)
        await self.collect_garbage(raw["metadata"].get("uid"))
        return True

    async def collect_garbage(self, owner_uid: str | None) -> None:
        """Background cascading deletion: dependents of a deleted owner go too."""
        if not owner_uid:
            return
        for res, ns, name in list(self._owned.get(owner_uid, ())):
            await self.delete(res, ns, name)

    def _index_owners(self, key: tuple[Any, str | None, str], before: set[str], raw: dict[str, Any] | None) -> None:
        after = _owner_uids(raw) if raw is not None else set()
        for uid in before - after:
            owned = self._owned.get(uid)
            if owned is not None:
                owned.pop(key, None)
                if not owned:
                    del self._owned[uid]
        for uid in after - before:
            self._owned[uid][key] = None


def _resource_key(resource) -> ResourceKey:
    return resource.group, resource.version, resource.plural


def _owner_uids(raw: dict[str, Any]) -> set[str]:
    return {ref["uid"] for ref in raw.get("metadata", {}).get("ownerReferences") or () if ref.get("uid")}


def _api_version(resource) -> str:
    return resource.version if not resource.group else f"{resource.group}/{resource.version}"


def _merge(base: Any, patch: Any) -> Any:
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return patch
    result = dict(base)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(base.get(key), value)
    return result


def _merge_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch that turns `old` into `new`."""
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif isinstance(value, dict) and isinstance(old[key], dict):
            sub = _merge_diff(old[key], value)
            if sub:
                patch[key] = sub
        elif value != old[key]:
            patch[key] = value
    return patch
