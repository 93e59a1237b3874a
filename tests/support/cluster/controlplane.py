"""A local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler (Kubernetes' own code, built from the official modules) and our
node agent in place of a kubelet.

    plane = ControlPlane(directory)
    plane.start()            # returns once the API is ready and the node is Ready
    plane.kubeconfig         # admin credentials (system:masters)
    plane.stop()

The binaries are built once with `go build` into a cache outside the
repository, keyed by the release and the sources in `controlplane/`, so later
runs only start them. Certificates, the service-account key pair and static
tokens are made here, in `directory`.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from craft_jobs.kube.api import KubeApi
from tests.support.cluster.pki import Authority, service_account_keys

KUBERNETES_VERSION = "v1.33.13"
SOURCE = Path(__file__).resolve().parent / "controlplane"
NODE_NAME = "craft-node"
SERVICE_CIDR = "10.96.0.0/16"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "node-agent")


class ControlPlaneError(RuntimeError):
    pass


# -- binaries -----------------------------------------------------------------------------


def _source_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted([SOURCE / "go.mod", SOURCE / "go.sum", *SOURCE.glob("cmd/*/main.go")]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def binary_dir() -> Path:
    root = os.environ.get("CRAFT_JOBS_CLUSTER_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "craft-jobs"
    return Path(root) / f"kube-{KUBERNETES_VERSION}-{_source_digest()}"


def ensure_binaries(log=sys.stderr) -> Path:
    """The folder holding `kube` and `etcd`, built first if missing (minutes, once per machine)."""
    target = binary_dir()
    if (target / "kube").exists() and (target / "etcd").exists():
        return target
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        raise ControlPlaneError("building the local control plane needs Go (https://go.dev/dl), not found on PATH")
    version = KUBERNETES_VERSION.lstrip("v")
    ldflags = " ".join([
        "-s -w",
        f"-X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION}",
        f"-X k8s.io/component-base/version.gitMajor={version.split('.')[0]}",
        f"-X k8s.io/component-base/version.gitMinor={version.split('.')[1]}",
        "-X k8s.io/component-base/version.gitTreeState=clean",
    ])
    partial = target.with_name(target.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    # go.sum pins every module's hash, so the checksum database is not needed.
    env = {**os.environ, "GOSUMDB": "off", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly -buildvcs=false"}
    print(f"building Kubernetes {KUBERNETES_VERSION} and etcd into {target} (once per machine) ...", file=log, flush=True)
    started = time.monotonic()
    subprocess.run([go, "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(partial) + "/", "./cmd/kube", "./cmd/etcd"],
                   cwd=SOURCE, env=env, check=True)
    partial.rename(target)
    print(f"built in {time.monotonic() - started:.0f} s", file=log, flush=True)
    return target


# -- processes ------------------------------------------------------------------------------


def api_from_kubeconfig(kubeconfig: Path, user_agent: str) -> KubeApi:
    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return KubeApi(configuration, user_agent=user_agent)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: SIGKILL when the process that started it dies (a crashed test run)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class ControlPlane:
    directory: Path
    # Detached: the components outlive this process (make cluster-up); else they die with it.
    detached: bool = False
    # The API server's audit log (one JSON line per request, with its user agent).
    audit: bool = False
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    _processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def audit_log(self) -> Path:
        return self.directory / "logs" / "audit.log"

    @property
    def authority(self) -> Authority:
        return Authority(self.directory / "pki")

    @property
    def admin_token(self) -> str:
        return (self.directory / "pki" / "admin.token").read_text().strip()

    # -- start ------------------------------------------------------------------------------

    def start(self, timeout: float = 120) -> ControlPlane:
        binaries = ensure_binaries()
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "logs").mkdir(exist_ok=True)
        self.ports = {"etcd": free_port(), "etcd-peer": free_port(), "apiserver": free_port()}
        try:
            self._configure()
            self._start_etcd(binaries / "etcd", timeout)
            self._start_apiserver(binaries / "kube", timeout)
            kube = str(binaries / "kube")
            self._spawn("kube-controller-manager", [kube, "kube-controller-manager", *self._controller_manager_flags()])
            self._spawn("kube-scheduler", [kube, "kube-scheduler", f"--kubeconfig={self._component_kubeconfig('scheduler')}",
                                           "--leader-elect=false", "--secure-port=0", "--v=1"])
            self._spawn("node-agent", [sys.executable, "-m", "tests.support.cluster.nodeagent",
                                       f"--kubeconfig={self.kubeconfig}", f"--node={NODE_NAME}",
                                       f"--workdir={self.directory / 'node'}"],
                        cwd=Path(__file__).resolve().parents[3])
            self._wait_until_usable(timeout)
        except BaseException:
            self.stop()
            raise
        (self.directory / "state.json").write_text(json.dumps({"ports": self.ports, "pids": self.pids}))
        return self

    def _configure(self) -> None:
        pki = self.directory / "pki"
        authority = self.authority
        serving = authority.serving_certificate("apiserver", [
            "127.0.0.1", "localhost", "10.96.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc"])
        service_account_keys(pki)
        tokens = {user: secrets.token_hex(16) for user in ("admin", "kube-controller-manager", "kube-scheduler")}
        (pki / "admin.token").write_text(tokens["admin"])
        (pki / "tokens.csv").write_text("\n".join([
            f'{tokens["admin"]},craft-jobs-admin,admin,"system:masters"',
            f'{tokens["kube-controller-manager"]},system:kube-controller-manager,kcm',
            f'{tokens["kube-scheduler"]},system:kube-scheduler,scheduler',
        ]) + "\n")
        self._write_kubeconfig(self.kubeconfig, "craft-jobs-admin", tokens["admin"])
        self._write_kubeconfig(self.directory / "kcm.kubeconfig", "kube-controller-manager", tokens["kube-controller-manager"])
        self._write_kubeconfig(self.directory / "scheduler.kubeconfig", "kube-scheduler", tokens["kube-scheduler"])
        self._serving = serving
        (self.directory / "audit-policy.yaml").write_text(yaml.safe_dump({
            "apiVersion": "audit.k8s.io/v1", "kind": "Policy",
            "omitStages": ["RequestReceived", "ResponseStarted"], "rules": [{"level": "Metadata"}]}))

    def _component_kubeconfig(self, name: str) -> Path:
        return self.directory / f"{name}.kubeconfig"

    def write_token_kubeconfig(self, path: Path, user: str, token: str, namespace: str | None = None) -> Path:
        """A kubeconfig for this API server holding `token` (e.g. a ServiceAccount's)."""
        self._write_kubeconfig(path, user, token, namespace)
        return path

    def _write_kubeconfig(self, path: Path, user: str, token: str, namespace: str | None = None) -> None:
        context = {"cluster": "craft-jobs-local", "user": user}
        if namespace:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "craft-jobs-local",
            "clusters": [{"name": "craft-jobs-local", "cluster": {
                "server": f"https://127.0.0.1:{self.ports['apiserver']}",
                "certificate-authority": str(self.authority.cert_path)}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "craft-jobs-local", "context": context}],
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)

    def _spawn(self, name: str, command: list[str], cwd: Path | None = None) -> None:
        log = (self.directory / "logs" / f"{name}.log").open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("KUBECONFIG", None)
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                   env=env, start_new_session=True,
                                   preexec_fn=None if self.detached else _die_with_parent)
        log.close()
        self._processes[name] = process
        self.pids[name] = process.pid

    def _start_etcd(self, binary: Path, timeout: float) -> None:
        port, peer = self.ports["etcd"], self.ports["etcd-peer"]
        self._spawn("etcd", [
            str(binary), "--name=craft", f"--data-dir={self.directory / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{port}", f"--advertise-client-urls=http://127.0.0.1:{port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=craft=http://127.0.0.1:{peer}", "--unsafe-no-fsync", "--log-level=warn",
        ])
        self._wait("etcd", lambda: _http_ok(f"http://127.0.0.1:{port}/health"), timeout)

    def _start_apiserver(self, binary: Path, timeout: float) -> None:
        pki = self.directory / "pki"
        flags = [
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.ports['apiserver']}",
            f"--tls-cert-file={self._serving.cert}", f"--tls-private-key-file={self._serving.key}",
            f"--client-ca-file={self.authority.cert_path}", f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=false", "--profiling=false",
            f"--cert-dir={pki}", "--v=1",
        ]
        if self.audit:
            flags += [f"--audit-policy-file={self.directory / 'audit-policy.yaml'}", f"--audit-log-path={self.audit_log}",
                      "--audit-log-format=json", "--audit-log-mode=blocking"]
        self._spawn("kube-apiserver", [str(binary), "kube-apiserver", *flags])
        self._wait("kube-apiserver", lambda: self.get("/readyz") == "ok", timeout)

    def restart_apiserver(self, down_seconds: float, timeout: float = 120) -> None:
        """kill -9 of kube-apiserver, `down_seconds` without one, then the same again
        (its port, certificate and flags): what a control plane upgrade or a crash
        of the API server is to every client. etcd keeps the cluster's state."""
        self._kill("kube-apiserver")
        time.sleep(down_seconds)
        self._start_apiserver(ensure_binaries() / "kube", timeout)

    def restart_etcd(self, down_seconds: float, timeout: float = 120) -> None:
        """kill -9 of etcd, `down_seconds` without it, then the same member on its
        data again: the API server stays up but can neither read through to
        nor write its storage, as when etcd loses its quorum."""
        self._kill("etcd")
        time.sleep(down_seconds)
        self._start_etcd(ensure_binaries() / "etcd", timeout)

    def _kill(self, name: str) -> None:
        process = self._processes[name]
        process.kill()
        process.wait()

    def _controller_manager_flags(self) -> list[str]:
        pki = self.directory / "pki"
        return [
            f"--kubeconfig={self._component_kubeconfig('kcm')}", "--leader-elect=false", "--secure-port=0",
            "--use-service-account-credentials=true", f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={self.authority.cert_path}", "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
            "--v=1",
        ]

    def _wait_until_usable(self, timeout: float) -> None:
        """Until a pod can be admitted and scheduled: the default ServiceAccount exists and the node is Ready."""
        def ready() -> bool:
            account = self.get_json("/api/v1/namespaces/default/serviceaccounts/default")
            node = self.get_json(f"/api/v1/nodes/{NODE_NAME}")
            conditions = ((node or {}).get("status") or {}).get("conditions") or []
            return bool(account) and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        self._wait("the default ServiceAccount and a Ready node", ready, timeout)

    def _wait(self, what: str, check, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for name, process in self._processes.items():
                if process.poll() is not None:
                    raise ControlPlaneError(f"{name} exited with {process.returncode} while waiting for {what}; "
                                            f"see {self.directory / 'logs' / (name + '.log')}:\n{self.log_tail(name)}")
            with contextlib.suppress(OSError, ValueError):
                if check():
                    return
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"timed out after {timeout:.0f} s waiting for {what}; logs in {self.directory / 'logs'}")
            time.sleep(0.2)

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.directory / "logs" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # -- talking to the API server (readiness, tests) ------------------------------------------

    def _request(self, path: str, method: str = "GET", body: dict | None = None) -> tuple[int, bytes]:
        context = ssl.create_default_context(cafile=str(self.authority.cert_path))
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def get(self, path: str) -> str | None:
        status, data = self._request(path)
        return data.decode() if status == 200 else None

    def get_json(self, path: str) -> dict | None:
        text = self.get(path)
        return json.loads(text) if text else None

    def metrics(self) -> str:
        return self.get("/metrics") or ""

    def apply_crds(self, paths: list[Path], timeout: float = 60) -> None:
        """Creates (or replaces) each CustomResourceDefinition and waits until it is Established."""
        base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        names = []
        for path in paths:
            for crd in yaml.safe_load_all(path.read_text()):
                name = crd["metadata"]["name"]
                status, data = self._request(base, "POST", crd)
                if status == 409:
                    current = self.get_json(f"{base}/{name}")
                    crd["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                    status, data = self._request(f"{base}/{name}", "PUT", crd)
                if status >= 300:
                    raise ControlPlaneError(f"applying {path.name}: {status} {data[:500].decode(errors='replace')}")
                names.append(name)

        def established() -> bool:
            for name in names:
                conditions = ((self.get_json(f"{base}/{name}") or {}).get("status") or {}).get("conditions") or []
                if not any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                    return False
            return True
        self._wait("the CRDs to be established", established, timeout)

    # -- stop ----------------------------------------------------------------------------------

    def stop(self, grace: float = 10) -> None:
        """Stops every component (node agent first, so job processes end with it)."""
        pids = dict(self.pids)
        for name in reversed(COMPONENTS):
            pid = pids.get(name)
            if pid is None:
                continue
            _terminate(pid, grace, self._processes.get(name))
        self.pids.clear()
        self._processes.clear()

    @classmethod
    def attach(cls, directory: Path) -> ControlPlane:
        """The control plane a detached `start()` left running in `directory` (make cluster-down)."""
        state = json.loads((directory / "state.json").read_text())
        return cls(directory, detached=True, ports=state["ports"], pids=state["pids"])


def _terminate(pid: int, grace: float, process: subprocess.Popen | None) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process is not None:
            if process.poll() is not None:
                return
        elif not _alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    if process is not None:
        process.wait(5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200
