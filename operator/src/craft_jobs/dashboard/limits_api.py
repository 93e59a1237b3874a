"""The limits of craft_jobs.limits as OpenAPI fields, so the spec documents them
and FastAPI refuses what no job may carry before the scheduler sees it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field

from craft_jobs.limits import JSON_MAX_DEPTH, MAX_DELAY, METADATA_MAX_BYTES, TIMEOUT_MAX_SECONDS

BIGINT_MAX = 2**63 - 1  # ids are PostgreSQL bigints
JobId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
JobIdItem = Annotated[int, Field(ge=1, le=BIGINT_MAX)]

PARAMETERS = Field(
    default_factory=dict,
    description=f"The job's parameters: a JSON object of at most max_parameters_bytes (64 KiB by default) "
                f"and {JSON_MAX_DEPTH} levels of nesting; no NUL bytes.",
)
METADATA = Field(
    None, description=f"Free-form context for the job: at most {METADATA_MAX_BYTES} bytes as JSON and "
                      f"{JSON_MAX_DEPTH} levels of nesting; no NUL bytes.",
)
TIMEOUT = Field(None, ge=1, le=TIMEOUT_MAX_SECONDS, description="How long one attempt may run (at most 30 days)")
DELAY = Field(None, ge=0, le=MAX_DELAY.total_seconds(), allow_inf_nan=False,
              description=f"Run after this many seconds (at most {MAX_DELAY.days} days)")
