"""Fixtures for the operator's integration tests: an emulated cluster and its API client."""

from __future__ import annotations

import logging

import pytest

from craft_jobs.kube.api import KubeApi
from tests.support.kube.harness import EmulatedCluster

JOB_MODULES = ["craft_jobs.samples.jobs", "tests.support.kube.jobs"]


@pytest.fixture
def options(options):
    """The integration options, with the job modules of the Kubernetes tests."""
    return options.model_copy(update={"job_modules": JOB_MODULES})


@pytest.fixture
async def cluster():
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    async with EmulatedCluster() as cluster:
        yield cluster


@pytest.fixture
async def kube_api(cluster):
    api = KubeApi.connect(cluster.url, user_agent="craft-jobs-tests")
    yield api
    api.close()


import asyncio  # noqa: E402

from craft_jobs.kube.operator import OperatorHandle, run_operator  # noqa: E402
from craft_jobs.kube.settings import KubeSettings  # noqa: E402
from tests.support.kube.client import CrClient  # noqa: E402

SAMPLES_IMAGE = "craft-jobs-samples:test"


def kube_settings(**overrides) -> KubeSettings:
    values = dict(default_image=SAMPLES_IMAGE, status_sync_seconds=0.2, health_port=0, job_resync_seconds=5,
                  termination_grace_seconds=3, job_namespace="default", parent_wait_seconds=5)
    values.update(overrides)
    return KubeSettings(**values)


class RunningOperator:
    """`run_operator` as a background task, for one test."""

    def __init__(self, options, cluster, settings: KubeSettings, **kwargs):
        self.stop = asyncio.Event()
        self.handle = OperatorHandle()
        self.task = asyncio.create_task(run_operator(
            options, stop=self.stop, settings=settings, server=cluster.url, handle=self.handle,
            stop_grace_seconds=1, **kwargs))

    async def ready(self, timeout: float = 30) -> RunningOperator:
        waiting = asyncio.ensure_future(self.handle.ready.wait())
        done, _ = await asyncio.wait({waiting, self.task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if self.task in done:
            self.task.result()
        assert self.handle.ready.is_set(), "the operator did not get ready"
        return self

    async def shutdown(self) -> None:
        self.stop.set()
        done, _ = await asyncio.wait({self.task}, timeout=60)
        if not done:
            for task in asyncio.all_tasks():  # what it waits for, in the test's output
                task.print_stack()
            await asyncio.wait_for(self.task, 5)
        self.task.result()


@pytest.fixture
async def start_operator(options, cluster):
    running: list[RunningOperator] = []

    async def start(**overrides) -> RunningOperator:
        extra = {k: overrides.pop(k) for k in ("admission_server",) if k in overrides}
        run_options = overrides.pop("options", options)
        operator = RunningOperator(run_options, cluster, kube_settings(**overrides), **extra)
        running.append(operator)
        return await operator.ready()

    yield start
    for operator in running:
        if not operator.task.done():
            await operator.shutdown()


@pytest.fixture
async def operator(start_operator):
    return await start_operator()


@pytest.fixture
async def crs(kube_api):
    return CrClient(kube_api)
