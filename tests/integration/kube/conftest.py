"""Fixtures for the operator's integration tests: an emulated cluster and its API client."""

from __future__ import annotations

import logging

import pytest

from craft_jobs.kube.api import KubeApi
from craft_jobs.options import load_options
from tests.support.kube.harness import EmulatedCluster

JOB_MODULES = ["craft_jobs.samples.jobs", "tests.support.kube.jobs"]


@pytest.fixture
def options(database_url_for_test, tmp_path):
    return load_options(
        connection_string=database_url_for_test,
        job_modules=JOB_MODULES,
        polling_interval_seconds=1,
        heartbeat_interval_seconds=1,
        server_timeout_seconds=5,
        cancel_grace_seconds=2,
        data_dir=tmp_path,
    )


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
