"""The e2e harness: "a cluster", reached only through the Kubernetes API.

Three targets, one suite:

- `KUBECONFIG` set: that cluster, where `make e2e-kind` (scripts/e2e-kind.sh)
  installed the chart; the operator runs in the cluster and the tests only
  create resources and wait for their status;
- `CRAFT_JOBS_E2E_CLUSTER=local` (`make test-cluster`): the local control
  plane (tests/support/cluster: kube-apiserver, etcd, controller-manager,
  scheduler and our node agent), started once for the session with our CRDs,
  and `craft-jobs operator` running as its own process against it;
- else the emulator harness (tests/support/kube) with a real operator
  (`run_operator`) and the Job-controller simulator in this process, on a
  fresh PostgreSQL database per test.

Tests that only mean something on a real API server are marked `cluster` and
skipped on the emulator with a reason.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from craft_jobs.kube.api import KubeApi
from tests.support.kube.client import CrClient

LOCAL_CLUSTER = os.environ.get("CRAFT_JOBS_E2E_CLUSTER") == "local" and not os.environ.get("KUBECONFIG")
REAL_CLUSTER = bool(os.environ.get("KUBECONFIG")) or LOCAL_CLUSTER
CRDS = sorted((Path(__file__).resolve().parents[2] / "crds").glob("*.yaml"))
E2E_NAMESPACE = os.environ.get("CRAFT_JOBS_E2E_NAMESPACE", "default")
E2E_IMAGE = os.environ.get("CRAFT_JOBS_E2E_IMAGE", "craft-jobs-samples:e2e")


def pytest_collection_modifyitems(config, items):
    if REAL_CLUSTER:
        return
    skip = pytest.mark.skip(reason="needs a real API server: make test-cluster, or set KUBECONFIG (make e2e-kind)")
    for item in items:
        if "cluster" in item.keywords:
            item.add_marker(skip)


@dataclass
class ClusterUnderTest:
    api: KubeApi
    crs: CrClient
    namespace: str
    real: bool
    timeout: float

    def name(self, prefix: str) -> str:
        """A name of its own per test, so runs against a shared cluster do not collide."""
        return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def e2e_database(request) -> str | None:
    """A fresh database for the in-process operator; none against a real cluster (it has its own)."""
    return None if REAL_CLUSTER else request.getfixturevalue("database_url_for_test")


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory, postgres_server, template_database):
    """The local control plane with our CRDs and an operator process on a database of the session's own."""
    from tests.conftest import _scratch_database
    from tests.support.cluster.controlplane import ControlPlane
    from tests.support.cluster.operatorprocess import DashboardProcess, OperatorProcess

    directory = tmp_path_factory.mktemp("cluster")
    plane = ControlPlane(directory).start()
    databases = _scratch_database(postgres_server, "craft_jobs_e2e", template_database)
    operator = dashboard = None
    try:
        plane.apply_crds(CRDS)
        database = next(databases)
        # Job pods schedule jobs through this dashboard's API (context.scheduler).
        dashboard = DashboardProcess(plane.kubeconfig, database, directory / "logs" / "dashboard.log").start()
        operator = OperatorProcess(plane.kubeconfig, database, directory / "logs" / "operator.log",
                                   env={"CRAFT_JOBS_JOB_API_URL": dashboard.url}).start()
        yield plane, operator
    finally:
        for process in (operator, dashboard):
            if process is not None:
                process.stop()
        plane.stop()
        databases.close()


@pytest.fixture
def real_cluster_api(request) -> KubeApi | None:
    """The API of a real cluster (the local control plane's, or KUBECONFIG's); None on the emulator."""
    if not REAL_CLUSTER:
        return None
    if LOCAL_CLUSTER:
        from tests.support.cluster.controlplane import api_from_kubeconfig

        plane, _ = request.getfixturevalue("local_cluster")
        return api_from_kubeconfig(plane.kubeconfig, "craft-jobs-e2e")
    return KubeApi.connect(user_agent="craft-jobs-e2e")


@pytest.fixture
async def cluster_under_test(real_cluster_api, e2e_database, tmp_path):
    if real_cluster_api is not None:
        api = real_cluster_api
        crs = CrClient(api, E2E_NAMESPACE)
        created: list = []
        original_create = crs.create

        async def tracked_create(kind, name, spec, **kwargs):
            created.append((kind, name, kwargs.get("namespace")))
            return await original_create(kind, name, spec, **kwargs)

        crs.create = tracked_create
        try:
            yield ClusterUnderTest(api, crs, E2E_NAMESPACE, True, timeout=180)
        finally:
            for kind, name, namespace in created:
                await crs.delete(kind, name, namespace)
            api.close()
        return
    # The emulator: the operator runs here, on a database of this test's own.
    from craft_jobs.kube.operator import OperatorHandle, run_operator
    from craft_jobs.kube.settings import KubeSettings
    from craft_jobs.options import load_options
    from tests.support.kube.harness import EmulatedCluster

    options = load_options(connection_string=e2e_database, job_modules=["craft_jobs.samples.jobs", "tests.support.kube.jobs"],
                           polling_interval_seconds=1, heartbeat_interval_seconds=1, cancel_grace_seconds=2,
                           data_dir=tmp_path)
    settings = KubeSettings(default_image=E2E_IMAGE, status_sync_seconds=0.3, health_port=0,
                            termination_grace_seconds=3, job_namespace=E2E_NAMESPACE)
    async with EmulatedCluster() as cluster:
        stop, handle = asyncio.Event(), OperatorHandle()
        task = asyncio.create_task(run_operator(options, stop=stop, settings=settings, server=cluster.url,
                                                handle=handle, stop_grace_seconds=1))
        ready = asyncio.ensure_future(handle.ready.wait())
        await asyncio.wait({ready, task}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if task.done():
            task.result()
        api = KubeApi.connect(cluster.url, user_agent="craft-jobs-e2e")
        try:
            yield ClusterUnderTest(api, CrClient(api, E2E_NAMESPACE), E2E_NAMESPACE, False, timeout=60)
        finally:
            api.close()
            stop.set()
            await asyncio.wait_for(task, 60)
