"""Requests made by running jobs (`context.scheduler`), with a run's credential.

Such a caller is an operator of its own tenant only, may only schedule
(fire-and-forget, delayed, batch, continuation), and only while its run is
still in progress. The jobs it makes keep its tenant and user and record it
as the job that scheduled them.
"""

from __future__ import annotations

import re

from fastapi import Request

from craft_jobs import job_tokens
from craft_jobs.dashboard.auth import Principal, Role
from craft_jobs.dashboard.errors import ApiError, forbidden
from craft_jobs.dashboard.state import DashboardState

_SCHEDULING_PATHS = re.compile(r"^/api/jobs(/batch|/\d+/continuations)?$")


async def run_principal(request: Request, state: DashboardState, token: str) -> Principal:
    if state.signing_key is None:
        _, state.signing_key = await state.store.installation(state.store.clock.now())
    grant = job_tokens.read(state.signing_key, token, state.store.clock.now())
    if grant is None:
        raise ApiError(401, "unauthenticated", "the run's credential is not valid or has expired")
    if not await state.store.run_in_progress(grant.job_id, grant.run):
        raise ApiError(401, "unauthenticated",
                       f"run {grant.run} of job {grant.job_id} has ended: its credential is no longer valid")
    if request.method != "POST" or not _SCHEDULING_PATHS.match(request.url.path):
        raise forbidden("a run's credential may only schedule jobs: POST /api/jobs, /api/jobs/batch"
                        " or /api/jobs/{id}/continuations")
    return Principal(grant.principal_name, Role.OPERATOR, {grant.tenant_id: Role.OPERATOR}, run=grant)
