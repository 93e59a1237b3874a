"""A node agent: what a kubelet does for our tests, over the real API server.

It registers a Node and renews its Lease, takes the pods the scheduler binds
to it, and runs each container as a local process:

- the container's command (or its image's entry point) with the pod's env,
  `envFrom` and `secretKeyRef` values resolved from the API;
- Secret volumes written to files and bind-mounted at their real mount paths,
  and the termination-message file at `terminationMessagePath`, in a private
  mount namespace of the process (root only; emptyDir at /tmp becomes TMPDIR,
  since hiding this machine's /tmp would hide a checkout under it);
- while a Secret is missing the container waits (ContainerCreating, or
  CreateContainerConfigError for env; an `optional` reference is skipped), as
  a kubelet does; an image it cannot
  run waits in ErrImagePull / ImagePullBackOff;
- the exit code, reason and termination message (honouring
  `terminationMessagePolicy`) go to the pod's status;
- on deletion (and eviction, where the API server has set DisruptionTarget)
  SIGTERM, SIGKILL after the grace period, the terminal status, then the
  final delete.

An image named `localhost/...` (`make images`) runs in a podman container
instead, as a kubelet's runtime would run it (tests/support/cluster/images.py):
its own entry point, user, read-only root, and the same volumes, at their
mount paths, /tmp included.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from craft_jobs.kube.api import KubeApi, KubeApiError
from tests.support.cluster import images as podman_images
from tests.support.cluster.controlplane import api_from_kubeconfig
from tests.support.kube.jobcontroller import LOG_TAIL_BYTES, Image

log = logging.getLogger("node-agent")

STRATEGIC_MERGE = "application/strategic-merge-patch+json"
TERMINAL = ("Succeeded", "Failed")
# Images this node "has": a name the tests use, run with the runner's entry point.
LOCAL_IMAGES = {"craft-jobs-samples:e2e": Image(), "craft-jobs-samples:test": Image()}
IMAGE_RETRY_SECONDS = 5
STATUS_RETRY_SECONDS = 300
MOUNT_SCRIPT = (
    'set -e; while [ "$1" != "--" ]; do mkdir -p "$(dirname "$2")"; '
    '[ -d "$1" ] && mkdir -p "$2" || { [ -e "$2" ] || : > "$2"; }; '
    'mount --bind "$1" "$2"; shift 2; done; shift; exec "$@"'
)


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WaitingError(Exception):
    """The container cannot start yet: its waiting reason and message."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class PodRun:
    namespace: str
    name: str
    uid: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    grace: float = 30
    task: asyncio.Task | None = None


class NodeAgent:
    def __init__(self, api: KubeApi, node: str, workdir: Path, images: dict[str, Image] | None = None):
        self.api = api
        self.node = node
        self.workdir = workdir
        self.images = {**LOCAL_IMAGES, **(images or {})}
        self.runs: dict[str, PodRun] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: asyncio.Queue = asyncio.Queue()

    # -- the node -------------------------------------------------------------------------

    async def register(self) -> None:
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": self.node, "labels": {"kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux",
                                          "kubernetes.io/arch": "amd64"}}}
        try:
            await self.api.request("POST", "/api/v1/nodes", body=node)
        except KubeApiError as exc:
            if not exc.conflict:
                raise
        await self._report_node()

    async def _report_node(self) -> None:
        stamp = now()
        capacity = {"cpu": "32", "memory": "64Gi", "pods": "250", "ephemeral-storage": "100Gi"}
        conditions = [
            {"type": kind, "status": "False", "reason": f"Kubelet Has Sufficient {kind[:-8]}".replace(" ", ""),
             "message": "ok", "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}
            for kind in ("MemoryPressure", "DiskPressure", "PIDPressure")
        ] + [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "craft-jobs node agent is ready",
              "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}]
        status = {"capacity": capacity, "allocatable": capacity, "conditions": conditions,
                  "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": self.node}],
                  "nodeInfo": {"kubeletVersion": "v1.33.13", "operatingSystem": "linux", "architecture": "amd64",
                               "containerRuntimeVersion": "craft-jobs-node-agent://1", "machineID": "", "systemUUID": "",
                               "bootID": "", "kernelVersion": os.uname().release, "osImage": "local processes",
                               "kubeProxyVersion": ""}}
        await self.api.request("PATCH", f"/api/v1/nodes/{self.node}/status", body={"status": status},
                               content_type=STRATEGIC_MERGE)

    async def _heartbeat(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node}"
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": self.node, "namespace": "kube-node-lease"},
                 "spec": {"holderIdentity": self.node, "leaseDurationSeconds": 40}}
        beats = 0
        while True:
            try:
                lease["spec"]["renewTime"] = micro_now()
                try:
                    await self.api.request("PATCH", path, body={"spec": lease["spec"]}, content_type="application/merge-patch+json")
                except KubeApiError as exc:
                    if not exc.not_found:
                        raise
                    await self.api.request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", body=lease)
                if beats % 6 == 0:
                    await self._report_node()
            except Exception as exc:  # the API server restarting: beat again shortly
                log.warning("heartbeat failed: %s", exc)
            beats += 1
            await asyncio.sleep(10)

    # -- pods -----------------------------------------------------------------------------

    def _watch(self, stop: threading.Event) -> None:
        """Blocking: lists then watches this node's pods, feeding events to the loop."""
        path = "/api/v1/pods"
        query = {"fieldSelector": f"spec.nodeName={self.node}"}
        while not stop.is_set():
            response = None
            try:
                listing = self.api.request_sync("GET", path, query=query)
                for pod in listing["items"]:
                    self._loop.call_soon_threadsafe(self._events.put_nowait, ("SYNC", pod))
                watch = {**query, "watch": "true", "timeoutSeconds": 300,
                         "resourceVersion": listing["metadata"]["resourceVersion"]}
                response = self.api.request_sync("GET", path, query=watch, timeout=(10, 330), stream=True)
                buffer = b""
                for chunk in response.stream(65536, decode_content=True):
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        if line.strip():
                            event = json.loads(line)
                            if event.get("type") == "ERROR":
                                raise RuntimeError(event.get("object"))
                            self._loop.call_soon_threadsafe(self._events.put_nowait, (event["type"], event["object"]))
            except Exception as exc:  # reconnect; the listing catches up
                log.info("pod watch restarts: %s", exc)
                stop.wait(0.5)
            finally:
                if response is not None:
                    response.release_conn()

    def _on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        meta, status = pod["metadata"], pod.get("status") or {}
        run = self.runs.get(meta["uid"])
        if kind == "DELETED":
            if run is not None:
                run.grace = 0
                run.stop.set()
            return
        if meta.get("deletionTimestamp"):
            if run is not None:
                run.grace = float(meta.get("deletionGracePeriodSeconds") or 0)
                run.stop.set()
            elif meta["uid"] not in self._finished:
                self._finished.add(meta["uid"])
                asyncio.ensure_future(self._final_delete(pod))
            return
        if run is None and status.get("phase") not in TERMINAL and meta["uid"] not in self._finished:
            run = PodRun(meta["namespace"], meta["name"], meta["uid"],
                         grace=float(pod["spec"].get("terminationGracePeriodSeconds", 30)))
            self.runs[meta["uid"]] = run
            run.task = asyncio.create_task(self._run_pod(pod, run), name=f"pod-{meta['namespace']}-{meta['name']}")

    async def _final_delete(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(KubeApiError):
            await self.api.request("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                                   body={"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})

    async def _patch_status(self, run: PodRun, status: dict[str, Any], keep_trying: bool = False) -> None:
        """`keep_trying`: through an API server's absence, as a kubelet's status manager
        does, so that a container's start and end are never lost (best effort otherwise)."""
        deadline = asyncio.get_running_loop().time() + STATUS_RETRY_SECONDS
        while True:
            try:
                await self.api.request("PATCH", f"/api/v1/namespaces/{run.namespace}/pods/{run.name}/status",
                                       body={"metadata": {"uid": run.uid}, "status": status}, content_type=STRATEGIC_MERGE)
                return
            except KubeApiError as exc:
                if not (keep_trying and exc.transient) or asyncio.get_running_loop().time() > deadline:
                    return
                log.info("pod %s/%s: status not reported yet, again in 1 s: %s", run.namespace, run.name, exc)
                await asyncio.sleep(1)

    async def _run_pod(self, pod: dict[str, Any], run: PodRun) -> None:
        pod_dir = self.workdir / f"{run.namespace}_{run.name}_{run.uid[:8]}"
        try:
            await self._execute(pod, run, pod_dir)
        except Exception:
            log.exception("pod %s/%s", run.namespace, run.name)
        finally:
            self.runs.pop(run.uid, None)
            self._finished.add(run.uid)
            shutil.rmtree(pod_dir, ignore_errors=True)

    async def _execute(self, pod: dict[str, Any], run: PodRun, pod_dir: Path) -> None:
        spec = pod["spec"]
        container = spec["containers"][0]
        pod_dir.mkdir(parents=True, exist_ok=True)
        started_at = now()
        await self._patch_status(run, {"phase": "Pending", "startTime": started_at, "hostIP": "127.0.0.1",
                                       "conditions": _conditions(False, initialized=True)})
        command = None
        while command is None:
            try:
                command = await self._prepare(pod, container, pod_dir)
            except WaitingError as waiting:
                await self._patch_status(run, {"containerStatuses": [_waiting(container, waiting.reason, waiting.message)]})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(run.stop.wait(), IMAGE_RETRY_SECONDS if "Image" in waiting.reason else 1)
            if run.stop.is_set():
                await self._finish(run, container, None, "", started_at)
                return
        argv, env, cwd, cleanup = command
        log_path = pod_dir / "log"
        with log_path.open("wb") as out:
            process = await asyncio.create_subprocess_exec(*argv, env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
                                                           stdout=out, stderr=out, start_new_session=True)
        running_since = now()
        await self._patch_status(run, {"phase": "Running", "podIP": "127.0.0.1", "conditions": _conditions(True),
                                       "containerStatuses": [{
                                           "name": container["name"], "image": container["image"], "imageID": "",
                                           "ready": True, "started": True, "restartCount": 0,
                                           "state": {"running": {"startedAt": running_since}}}]}, keep_trying=True)
        exited = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(run.stop.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not exited.done():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(exited), run.grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await exited
        if cleanup:
            cleaner = await asyncio.create_subprocess_exec(*cleanup, stdin=asyncio.subprocess.DEVNULL,
                                                           stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            await cleaner.wait()
        code = process.returncode
        exit_code = 128 - code if code < 0 else code
        message = _termination_message(pod_dir / "termination-log", log_path, exit_code,
                                       container.get("terminationMessagePolicy", "File"))
        await self._finish(run, container, exit_code, message, running_since)

    async def _finish(self, run: PodRun, container: dict[str, Any], exit_code: int | None, message: str,
                      started_at: str) -> None:
        """The terminal status (a container that never started counts as exit 137, as a kubelet reports), then,
        for a deleted pod, the final delete."""
        code = 137 if exit_code is None else exit_code
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                      "startedAt": started_at, "finishedAt": now(), "containerID": ""}
        if message:
            terminated["message"] = message
        await self._patch_status(run, {
            "phase": "Succeeded" if code == 0 else "Failed", "conditions": _conditions(False),
            "containerStatuses": [{"name": container["name"], "image": container["image"], "imageID": "",
                                   "ready": False, "started": False, "restartCount": 0,
                                   "state": {"terminated": terminated}}]}, keep_trying=True)
        if run.stop.is_set():
            with contextlib.suppress(KubeApiError):
                await self.api.request("DELETE", f"/api/v1/namespaces/{run.namespace}/pods/{run.name}",
                                       body={"gracePeriodSeconds": 0, "preconditions": {"uid": run.uid}})

    # -- one container ------------------------------------------------------------------------

    async def _prepare(self, pod: dict[str, Any], container: dict[str, Any], pod_dir: Path):
        """(argv, env, cwd, cleanup argv or None) of the container's process; raises WaitingError while it cannot start."""
        namespace = pod["metadata"]["namespace"]
        image_name = container["image"]
        image = self.images.get(image_name)
        podman_image = None
        if image is None and image_name.startswith(podman_images.LOCAL_PREFIX):
            unavailable = podman_images.podman_unavailable()
            podman_image = None if unavailable else await asyncio.to_thread(podman_images.image_config, image_name)
            if podman_image is None:
                raise WaitingError("ErrImagePull", f'failed to pull and unpack image "{image_name}": '
                                                   f'{unavailable or "not in the podman store of this node (make images)"}')
        elif image is None:
            raise WaitingError("ErrImagePull", f'failed to pull and unpack image "{image_name}": not found on this node')
        volumes = await self._volumes(namespace, pod["spec"], pod_dir)
        env = await self._environment(namespace, container)
        termination_log = pod_dir / "termination-log"
        termination_log.touch()
        termination_log.chmod(0o666)  # as a kubelet does, so that a non-root container can write it
        mounts: list[tuple[Path, str]] = [(termination_log, container.get("terminationMessagePath", "/dev/termination-log"))]
        if podman_image is not None:
            mounts += [(volumes[m["name"]], m["mountPath"]) for m in container.get("volumeMounts") or () if m["name"] in volumes]
            try:
                argv = podman_images.podman_command(image_name, pod, container, env, mounts,
                                                    image_user=(podman_image.get("Config") or {}).get("User") or "")
            except podman_images.ContainerConfigError as refused:
                raise WaitingError("CreateContainerConfigError", str(refused)) from None
            return argv, {"PATH": os.environ.get("PATH", "")}, str(pod_dir), \
                podman_images.remove_command(podman_images.container_name(pod, container))
        tmpdir = pod_dir / "tmp"
        tmpdir.mkdir(exist_ok=True)
        for mount in container.get("volumeMounts") or ():
            source = volumes.get(mount["name"])
            if source is None:
                continue
            if mount["mountPath"] == "/tmp":
                tmpdir = source
            else:
                mounts.append((source, mount["mountPath"]))
        env = {**image.env, **env, "PATH": os.environ.get("PATH", ""),
               "PYTHONPATH": os.pathsep.join(str(Path(p).resolve()) for p in sys.path), "HOME": str(pod_dir), "TMPDIR": str(tmpdir),
               "CRAFT_LOG_FORMAT": "text"}
        command = list(container.get("command") or image.entrypoint) + list(container.get("args") or ())
        pairs = [part for source, target in mounts for part in (str(source), target)]
        argv = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", MOUNT_SCRIPT, "sh",
                *pairs, "--", *command]
        return argv, env, str(pod_dir), None

    async def _secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.api.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except KubeApiError as exc:
            if exc.not_found:
                return None
            raise

    async def _volumes(self, namespace: str, spec: dict[str, Any], pod_dir: Path) -> dict[str, Path]:
        volumes: dict[str, Path] = {}
        # With fsGroup a kubelet gives the volume's files that group, so a non-root container reads a 0440 Secret
        # (chown needs root, as the bind mounts do).
        fs_group = (spec.get("securityContext") or {}).get("fsGroup") if os.geteuid() == 0 else None
        for volume in spec.get("volumes") or ():
            target = pod_dir / "volumes" / volume["name"]
            if "secret" in volume:
                name = volume["secret"]["secretName"]
                secret = await self._secret(namespace, name)
                if secret is None:
                    raise WaitingError("ContainerCreating",
                                       f'MountVolume.SetUp failed for volume "{volume["name"]}" : secret "{name}" not found')
                target.mkdir(parents=True, exist_ok=True)
                for key, value in (secret.get("data") or {}).items():
                    (target / key).write_bytes(base64.b64decode(value))
                    (target / key).chmod(volume["secret"].get("defaultMode", 0o644))
                    if fs_group is not None:
                        os.chown(target / key, -1, fs_group)
            elif "emptyDir" in volume:
                target.mkdir(parents=True, exist_ok=True)
                target.chmod(0o777)  # a kubelet's emptyDir is world-writable
            else:
                continue  # projected service-account tokens and the like: our jobs mount none
            volumes[volume["name"]] = target
        return volumes

    async def _environment(self, namespace: str, container: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom") or ():
            ref = source.get("secretRef") or {}
            secret = await self._secret(namespace, ref["name"])
            if secret is None and ref.get("optional"):
                continue
            if secret is None:
                raise WaitingError("CreateContainerConfigError", f'secret "{ref["name"]}" not found')
            env.update({k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()})
        for entry in container.get("env") or ():
            ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
            if ref is None:
                env[entry["name"]] = entry.get("value", "")
                continue
            secret = await self._secret(namespace, ref["name"])
            encoded = None if secret is None else (secret.get("data") or {}).get(ref["key"])
            if encoded is None and ref.get("optional"):
                continue  # as a kubelet does: the variable stays unset
            if secret is None:
                raise WaitingError("CreateContainerConfigError", f'secret "{ref["name"]}" not found')
            if encoded is None:
                raise WaitingError("CreateContainerConfigError", f"couldn't find key {ref['key']} in Secret {namespace}/{ref['name']}")
            env[entry["name"]] = base64.b64decode(encoded).decode()
        return env

    # -- running ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._finished: set[str] = set()
        self.workdir.mkdir(parents=True, exist_ok=True)
        await self.register()
        heartbeat = asyncio.create_task(self._heartbeat())
        watch_stop = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(watch_stop,), daemon=True, name="pod-watch")
        watcher.start()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                getting = asyncio.ensure_future(self._events.get())
                await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if getting.done():
                    self._on_pod(*getting.result())
                else:
                    getting.cancel()
        finally:
            watch_stop.set()
            heartbeat.cancel()
            for run in list(self.runs.values()):
                run.grace = min(run.grace, 5)
                run.stop.set()
            await asyncio.gather(*(r.task for r in list(self.runs.values()) if r.task), return_exceptions=True)


def _conditions(ready: bool, initialized: bool = True) -> list[dict[str, Any]]:
    stamp = now()
    flag = "True" if ready else "False"
    return [
        {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": stamp},
        {"type": "Initialized", "status": "True" if initialized else "False", "lastTransitionTime": stamp},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": stamp},
        {"type": "Ready", "status": flag, "lastTransitionTime": stamp},
    ]


def _waiting(container: dict[str, Any], reason: str, message: str) -> dict[str, Any]:
    return {"name": container["name"], "image": container["image"], "imageID": "", "ready": False, "started": False,
            "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}}}


def _termination_message(path: Path, log_path: Path, exit_code: int, policy: str) -> str:
    text = path.read_text(errors="replace")[:4096] if path.exists() else ""
    if not text and exit_code != 0 and policy == "FallbackToLogsOnError" and log_path.exists():
        text = log_path.read_bytes()[-LOG_TAIL_BYTES:].decode(errors="replace")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        api = api_from_kubeconfig(args.kubeconfig, "craft-jobs-node-agent")
        try:
            await NodeAgent(api, args.node, args.workdir).run(stop)
        finally:
            api.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
