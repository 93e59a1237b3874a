"""A pod's container in a real image: the `podman run` a kubelet's runtime would do.

The node agent runs images named `localhost/...` (built by `make images`,
scripts/build-images.sh) this way; `podman_command` turns the pod spec into
the podman flags: user and groups from the security contexts, read-only root,
capabilities, no new privileges, no network (the host's when the pod has an API to reach), env, and the volumes the agent
prepared (Secret volumes read-only, emptyDir and the termination-log file
read-write). `podman run` stays in the foreground and forwards the signals it
gets to the container (--sig-proxy, the default), so the agent's SIGTERM to
its process group reaches the job and the container's exit code is podman's.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# crun fails on this machine's hybrid cgroups; runc with cgroupfs works.
RUNC = "/usr/sbin/runc"
PODMAN = ("podman", "--runtime", RUNC, "--cgroup-manager", "cgroupfs")
LOCAL_PREFIX = "localhost/"
OPERATOR_IMAGE = "localhost/craft-jobs:dev"
RUNNER_IMAGE = "localhost/craft-jobs-runner:dev"
SAMPLES_IMAGE = "localhost/craft-jobs-samples:dev"
# Volume types a kubelet always mounts read-only.
READ_ONLY_VOLUMES = ("secret", "configMap", "projected", "downwardAPI")
_NAME_INVALID = re.compile(r"[^a-zA-Z0-9_.-]+")


class ContainerConfigError(ValueError):
    """The pod asks for what this runtime refuses (CreateContainerConfigError)."""


def podman_unavailable() -> str | None:
    """Why podman cannot run containers here, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed (make images installs it when root)"
    if not Path(RUNC).exists():
        return f"{RUNC} is missing (apt-get install runc)"
    return None


def image_config(image: str) -> dict[str, Any] | None:
    """`podman image inspect` of a local image; None when podman or the image is missing."""
    if podman_unavailable() is not None:
        return None
    result = subprocess.run([*PODMAN, "image", "inspect", image], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)[0]


def container_name(pod: Mapping[str, Any], container: Mapping[str, Any]) -> str:
    """Unique per pod run (the uid), as the CRI names containers: k8s_<container>_<pod>_<namespace>_<uid>_0."""
    meta = pod["metadata"]
    return _NAME_INVALID.sub("-", f"k8s_{container['name']}_{meta['name']}_{meta['namespace']}_{meta['uid']}_0")


def remove_command(name: str) -> list[str]:
    """Removes the container if it is still there: after a SIGKILL, `podman run` dies but the container does not."""
    return [*PODMAN, "rm", "--force", "--ignore", "--time", "0", name]


def _user(pod: Mapping[str, Any], container: Mapping[str, Any], image_user: str) -> str | None:
    """The --user value (None: the image's USER), checked against runAsNonRoot as a kubelet does."""
    pod_context = pod["spec"].get("securityContext") or {}
    context = container.get("securityContext") or {}
    uid = context.get("runAsUser", pod_context.get("runAsUser"))
    gid = context.get("runAsGroup", pod_context.get("runAsGroup"))
    where = f"pod: {pod['metadata']['name']}, container: {container['name']}"
    user = str(uid) if uid is not None else (image_user.split(":", 1)[0] or "0")
    if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
        if uid is not None and int(uid) == 0:
            raise ContainerConfigError(f"container's runAsUser breaks non-root policy ({where})")
        if not user.isdigit():
            raise ContainerConfigError(
                f"container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root ({where})")
        if int(user) == 0:
            raise ContainerConfigError(f"container has runAsNonRoot and image will run as root ({where})")
    if uid is None and gid is None:
        return None
    return user if gid is None else f"{user}:{gid}"


def _security(container: Mapping[str, Any], pod: Mapping[str, Any]) -> list[str]:
    context = container.get("securityContext") or {}
    pod_context = pod["spec"].get("securityContext") or {}
    if context.get("privileged"):
        raise ContainerConfigError("privileged containers are not supported by this node agent")
    flags: list[str] = []
    capabilities = context.get("capabilities") or {}
    flags += [part for cap in capabilities.get("drop") or () for part in ("--cap-drop", cap)]
    flags += [part for cap in capabilities.get("add") or () for part in ("--cap-add", cap)]
    if context.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type", "RuntimeDefault")
    if seccomp == "Unconfined":
        flags += ["--security-opt", "seccomp=unconfined"]
    elif seccomp != "RuntimeDefault":  # RuntimeDefault is podman's own profile
        raise ContainerConfigError(f"seccomp profile type {seccomp} is not supported by this node agent")
    if context.get("readOnlyRootFilesystem"):
        # Podman would otherwise add writable tmpfs at /tmp, /var/tmp and /run, where a kubelet mounts nothing.
        flags += ["--read-only", "--read-only-tmpfs=false"]
    return flags


def _volume_flags(pod: Mapping[str, Any], container: Mapping[str, Any],
                  mounts: Iterable[tuple[Path | str, str]]) -> list[str]:
    by_path = {m["mountPath"]: m for m in container.get("volumeMounts") or ()}
    volumes = {v["name"]: v for v in pod["spec"].get("volumes") or ()}
    flags: list[str] = []
    for source, target in mounts:
        mount = by_path.get(target)
        volume = volumes.get(mount["name"], {}) if mount else {}
        read_only = bool(mount and (mount.get("readOnly") or any(kind in volume for kind in READ_ONLY_VOLUMES)))
        flags += ["-v", f"{source}:{target}:{'ro' if read_only else 'rw'}"]
    return flags


def _network(env: Mapping[str, str]) -> str:
    """No network, unless the control plane names an API the pod must reach
    (context.scheduler): then the host's, where the harness serves that API,
    as a cluster's pod network would reach the dashboard's Service."""
    return "host" if env.get("CRAFT_JOB_API_URL") else "none"


def podman_command(image: str, pod: Mapping[str, Any], container: Mapping[str, Any], env: Mapping[str, str],
                   mounts: Iterable[tuple[Path | str, str]], *, image_user: str = "") -> list[str]:
    """The `podman run` argv of this container of this pod.

    `env` is the container's resolved environment (env, envFrom, secretKeyRef);
    the image's own ENV lines apply under it. `mounts` are (host path, mount
    path) pairs the agent prepared: each volume mount and the termination-log
    file. `image_user` is the image's USER, for runAsNonRoot."""
    meta = pod["metadata"]
    spec = pod["spec"]
    pod_context = spec.get("securityContext") or {}
    argv = [*PODMAN, "run", "--rm", "--pull", "never", "--name", container_name(pod, container),
            "--hostname", meta["name"][:63], "--network", _network(env),
            "--label", f"io.kubernetes.pod.name={meta['name']}",
            "--label", f"io.kubernetes.pod.namespace={meta['namespace']}",
            "--label", f"io.kubernetes.pod.uid={meta['uid']}",
            "--label", f"io.kubernetes.container.name={container['name']}"]
    user = _user(pod, container, image_user)
    if user is not None:
        argv += ["--user", user]
    # A kubelet adds fsGroup and supplementalGroups to the process's groups.
    groups = [pod_context["fsGroup"]] if pod_context.get("fsGroup") is not None else []
    groups += [g for g in pod_context.get("supplementalGroups") or () if g not in groups]
    argv += [part for group in groups for part in ("--group-add", str(group))]
    argv += _security(container, pod)
    argv += _volume_flags(pod, container, mounts)
    argv += [part for name, value in env.items() for part in ("--env", f"{name}={value}")]
    if container.get("workingDir"):
        argv += ["--workdir", container["workingDir"]]
    if container.get("command"):
        # The JSON form replaces the whole entry point; as in Kubernetes, the image's CMD is dropped too.
        argv += ["--entrypoint", json.dumps(list(container["command"]))]
    argv.append(image)
    argv += [str(arg) for arg in container.get("args") or ()]
    return argv
