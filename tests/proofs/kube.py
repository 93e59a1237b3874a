"""The Kubernetes side: one local control plane for every scenario, the fault
proxy in front of it, a namespace and an operator process per scenario.

The harness itself talks to the API server directly (never through the
proxy), so what it creates, reads and deletes is not subject to the faults.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from craft_jobs.kube.api import GROUP, VERSION, KubeApi, KubeApiError
from tests.proofs import work
from tests.proofs.apiproxy import ApiProxy
from tests.support.cluster.controlplane import ControlPlane, api_from_kubeconfig
from tests.support.cluster.operatorprocess import OperatorProcess

ROOT = Path(__file__).resolve().parents[2]
CRDS = sorted((ROOT / "crds").glob("*.yaml"))


class ProofCluster:
    def __init__(self, directory: Path):
        self.directory = directory
        self.plane = ControlPlane(directory / "plane")
        self.proxy: ApiProxy | None = None
        self.api: KubeApi | None = None

    def start(self) -> None:
        # A cluster of this run's own: an earlier run's etcd may hold a namespace still
        # terminating under the name a scenario takes (its logs go with it).
        shutil.rmtree(self.plane.directory, ignore_errors=True)
        self.plane.start()
        self.plane.apply_crds(CRDS)
        self.api = api_from_kubeconfig(self.plane.kubeconfig, "craft-jobs-proofs")
        self.proxy = ApiProxy(self.plane.server, self.plane.authority.cert_path)
        self.proxy.start()
        # The operator's way in: plain HTTP to the proxy, with the admin token it passes on.
        self.operator_kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "proofs",
            "clusters": [{"name": "proofs", "cluster": {"server": self.proxy.url}}],
            "users": [{"name": "proofs", "user": {"token": self.plane.admin_token}}],
            "contexts": [{"name": "proofs", "context": {"cluster": "proofs", "user": "proofs"}}],
        }))

    @property
    def operator_kubeconfig(self) -> Path:
        return self.directory / "operator.kubeconfig"

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.api is not None:
            self.api.close()
        self.plane.stop()

    # -- per scenario ------------------------------------------------------------------------

    def create_namespace(self, name: str, timeout: float = 30) -> None:
        self.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        # Pods are admitted only once the namespace's default ServiceAccount exists.
        deadline = time.monotonic() + timeout
        while self.get(f"/api/v1/namespaces/{name}/serviceaccounts/default") is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"namespace {name}: no default ServiceAccount after {timeout} s")
            time.sleep(0.2)

    def delete_namespace(self, name: str) -> None:
        with contextlib.suppress(KubeApiError):
            self.request("DELETE", f"/api/v1/namespaces/{name}")

    def operator(self, database_url: str, namespace: str, log_path: Path, **env: str) -> OperatorProcess:
        return OperatorProcess(self.operator_kubeconfig, database_url, log_path, env={
            "CRAFT_JOBS_NAMESPACES": namespace,
            "CRAFT_JOBS_JOB_MODULES": work.MODULE,
            **env,
        })

    # -- the API, directly ---------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        assert self.api is not None
        return self.api.request_sync(method, path, **kwargs)

    def get(self, path: str) -> Any:
        try:
            return self.request("GET", path)
        except KubeApiError as exc:
            if exc.not_found:
                return None
            raise

    def create_background_job(self, namespace: str, name: str, log: Path, seconds: float, **spec: Any) -> dict:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "BackgroundJob",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"jobType": work.ProofWork.job_type, "parameters": {"log": str(log), "seconds": seconds},
                         # The node agent's pods import the job classes named here (PYTHONPATH has the checkout).
                         "pod": {"env": [{"name": "CRAFT_JOB_MODULES", "value": work.MODULE}]}, **spec}}
        return self.request("POST", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/backgroundjobs", body=body)

    def background_job(self, namespace: str, name: str) -> dict | None:
        return self.get(f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/backgroundjobs/{name}")

    def delete_background_job(self, namespace: str, name: str) -> None:
        self.request("DELETE", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/backgroundjobs/{name}")

    def jobs(self, namespace: str, selector: str = "app.kubernetes.io/managed-by=craft-jobs") -> list[dict]:
        return self.request("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs", query={"labelSelector": selector})["items"]

    def pods(self, namespace: str, selector: str = "") -> list[dict]:
        query = {"labelSelector": selector} if selector else None
        return self.request("GET", f"/api/v1/namespaces/{namespace}/pods", query=query)["items"]

    def running_pods(self, namespace: str) -> list[dict]:
        return [p for p in self.pods(namespace) if (p.get("status") or {}).get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp")]

    def delete_job(self, namespace: str, name: str) -> None:
        self.request("DELETE", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}", body={"propagationPolicy": "Background"})

    def delete_secret(self, namespace: str, name: str) -> None:
        self.request("DELETE", f"/api/v1/namespaces/{namespace}/secrets/{name}")

    def evict(self, namespace: str, pod: str) -> None:
        self.request("POST", f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction", body={
            "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}})
