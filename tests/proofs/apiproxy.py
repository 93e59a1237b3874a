"""A fault-injecting HTTP proxy between the operator and the Kubernetes API server.

The operator's kubeconfig points at http://127.0.0.1:<port> (with the admin
token, which the proxy passes on); the proxy forwards every request to the
real API server over TLS, trusting the control plane's CA. It runs its own
event loop in a thread, so the harness may block while it works.

What it can do to the operator, for a window of time:

- answer a share of requests with 500 (before or after forwarding them: a
  write may have happened although the client hears it failed), 409
  (AlreadyExists on a create that did go through; Conflict on an update,
  not forwarded), or a timeout (no answer for `stall_seconds`, then the
  connection drops; forwarded or not);
- on watch streams: send events twice, swap an event with the next one, and
  end a watch with a 410 Gone (`Expired`) ERROR event after a while, as an
  API server does when its watch cache moved on;
- hooks at chosen points: a callable run when a request arrives, when its
  answer is back from the server (before the operator sees it) or when a
  watch event passes, e.g. to kill the operator exactly between creating a
  Job and creating its Secret. A hook may swallow what it saw.

Every injected fault is counted, so a scenario can show (and check) that its
fault really happened.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

# Not forwarded either way: hop-by-hop, or no longer true once aiohttp has decoded the body.
_DROP_HEADERS = {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
                 "accept-encoding", "upgrade", "proxy-connection"}
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SWALLOW = "swallow"


@dataclass
class Faults:
    share: float = 0.0                 # of requests (watch starts included)
    kinds: tuple[str, ...] = ()        # "500", "409", "timeout"
    stall_seconds: float = 20.0
    duplicate: float = 0.0             # of watch events, sent twice
    reorder: float = 0.0               # of watch events, held back until the next one passed
    expire_after: float | None = None  # seconds into each watch stream: a 410 Gone, then the end


@dataclass
class Hook:
    """`when`: "request" (method, path, query, body) | "response" (method, path, query, body,
    status, answer) | "event" (path, event). `action` returns SWALLOW to drop what was seen."""
    when: str
    matches: Callable[..., bool]
    action: Callable[[], Any]
    once: bool = True
    fired: int = 0


@dataclass
class Exchange:
    method: str
    path: str
    query: dict[str, str]
    at: float = field(default_factory=time.time)


def is_watch(query: dict[str, str]) -> bool:
    return query.get("watch") in ("true", "1")


def status_body(code: int, reason: str, message: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code}).encode()


class ApiProxy:
    def __init__(self, upstream: str, cafile: Path, seed: int = 11):
        self.upstream = upstream.rstrip("/")
        self.cafile = cafile
        self.random = random.Random(seed)
        self.faults = Faults()
        self.hooks: list[Hook] = []
        self.injected: Counter[str] = Counter()
        self.requests: list[Exchange] = []
        self.port = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None

    # -- control (from the harness's thread) ---------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._serve, name="proof-api-proxy", daemon=True)
        self._thread.start()
        self._started.wait(10)
        if self._error is not None or not self.port:
            raise RuntimeError(f"the API proxy did not start: {self._error}")
        return self.url

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults

    def clear_faults(self) -> None:
        self.set_faults(Faults())

    def add_hook(self, hook: Hook) -> Hook:
        with self._lock:
            self.hooks.append(hook)
        return hook

    def clear_hooks(self) -> None:
        with self._lock:
            self.hooks.clear()

    def reset(self) -> None:
        with self._lock:
            self.faults = Faults()
            self.hooks.clear()
            self.injected.clear()
            self.requests.clear()

    # -- the server ------------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._started.set()

    async def _main(self) -> None:
        # Clients killed in mid-request are what the scenarios do: not worth a traceback.
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        context = ssl.create_default_context(cafile=str(self.cafile))
        # No total timeout: watches stream for minutes; the operator has its own timeouts.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=0),
                                              timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                                              auto_decompress=True)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._started.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()
            await self._session.close()

    def _fire(self, when: str, *args: Any) -> bool:
        """Runs the matching hooks; True when one of them swallows what it saw."""
        with self._lock:
            hooks = [h for h in self.hooks if h.when == when and not (h.once and h.fired)]
        swallow = False
        for hook in hooks:
            if hook.matches(*args):
                with self._lock:
                    if hook.once and hook.fired:
                        continue
                    hook.fired += 1
                swallow = (hook.action() == SWALLOW) or swallow
        return swallow

    def _pick_fault(self, method: str, watch: bool) -> str | None:
        with self._lock:
            faults = self.faults
            if not faults.kinds or self.random.random() >= faults.share:
                return None
            kinds = [k for k in faults.kinds if not (k == "409" and (watch or method not in WRITE_METHODS))]
            if not kinds:
                return None
            kind = self.random.choice(kinds)
            # Half of the 500s and timeouts happen after the server acted: the client cannot tell.
            if kind in ("500", "timeout"):
                kind += "-after" if (not watch and self.random.random() < 0.5) else "-before"
            elif method == "POST":
                kind = "409-after"        # AlreadyExists: an earlier try of this create got through
            else:
                kind = "409-before"       # Conflict: someone changed it first
            self.injected[kind] += 1
            return kind

    async def _drop(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            stall = self.faults.stall_seconds
        await asyncio.sleep(stall)
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=504)  # never reaches the client: the connection is gone

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path, query = request.method, request.path, dict(request.query)
        with self._lock:
            self.requests.append(Exchange(method, path, query))
        body = await request.read()
        if self._fire("request", method, path, query, body):
            return await self._swallowed(request)
        watch = is_watch(query)
        fault = self._pick_fault(method, watch)
        if fault == "500-before":
            return web.Response(status=500, body=status_body(500, "InternalError", "injected by the proof proxy"),
                                content_type="application/json")
        if fault == "409-before":
            return web.Response(status=409, body=status_body(409, "Conflict", "the object has been modified; "
                                "please apply your changes to the latest version and try again (injected)"),
                                content_type="application/json")
        if fault == "timeout-before":
            return await self._drop(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_HEADERS}
        upstream = await self._session.request(method, self.upstream + request.path_qs, headers=headers,
                                               data=body if body else None)
        try:
            if watch and upstream.status == 200:
                return await self._stream(request, path, upstream)
            data = await upstream.read()
        finally:
            if not (watch and upstream.status == 200):
                upstream.release()
        if self._fire("response", method, path, query, body, upstream.status, data):
            return await self._swallowed(request)
        if fault == "500-after":
            return web.Response(status=500, body=status_body(500, "InternalError", "injected by the proof proxy"),
                                content_type="application/json")
        if fault == "409-after" and upstream.status < 300:
            name = (json.loads(data).get("metadata") or {}).get("name", "") if data else ""
            return web.Response(status=409, body=status_body(409, "AlreadyExists", f'"{name}" already exists (injected)'),
                                content_type="application/json")
        if fault == "timeout-after":
            return await self._drop(request)
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP_HEADERS}
        return web.Response(status=upstream.status, body=data, headers=out_headers)

    async def _swallowed(self, request: web.Request) -> web.StreamResponse:
        # The client never hears back: as if it had died (or the network) right then.
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=504)

    async def _stream(self, request: web.Request, path: str, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP_HEADERS}
        response = web.StreamResponse(status=200, headers=out_headers)
        await response.prepare(request)
        started = time.monotonic()
        held: bytes | None = None
        try:
            while True:
                with self._lock:
                    faults = self.faults
                timeout = None
                if faults.expire_after is not None:
                    timeout = max(faults.expire_after - (time.monotonic() - started), 0)
                if held is not None:  # a held-back event waits at most a second for a successor
                    timeout = 1.0 if timeout is None else min(timeout, 1.0)
                try:
                    line = await asyncio.wait_for(upstream.content.readline(), timeout)
                except TimeoutError:
                    line = None
                if line is None:
                    if held is not None:
                        await response.write(held)
                        held = None
                    if faults.expire_after is not None and time.monotonic() - started >= faults.expire_after:
                        await response.write(json.dumps({"type": "ERROR", "object": json.loads(
                            status_body(410, "Expired", "too old resource version (injected)"))}).encode() + b"\n")
                        with self._lock:
                            self.injected["watch-410"] += 1
                        break
                    continue
                if not line:
                    break
                if not line.strip():
                    continue
                event = json.loads(line)
                if self._fire("event", path, event):
                    if request.transport is not None:
                        request.transport.abort()
                    break
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    with self._lock:
                        duplicate = self.random.random() < faults.duplicate
                        hold = held is None and self.random.random() < faults.reorder
                        if duplicate:
                            self.injected["watch-duplicate"] += 1
                        if hold:
                            self.injected["watch-reorder"] += 1
                    if hold:
                        held = line
                        continue
                    await response.write(line)
                    if duplicate:
                        await response.write(line)
                else:
                    await response.write(line)
                if held is not None:
                    await response.write(held)
                    held = None
        except (ConnectionError, aiohttp.ClientError, asyncio.CancelledError):
            pass
        finally:
            upstream.release()
        return response
