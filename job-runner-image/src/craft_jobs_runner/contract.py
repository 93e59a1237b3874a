"""The contract between the operator and a job pod: variable names and exit codes.

The control plane imports these names when it builds a Job manifest or runs
the entry point locally, so both sides spell them once.
"""

from __future__ import annotations

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1  # retryable
EXIT_NON_RETRYABLE = 3  # the Job's podFailurePolicy maps it to FailJob
EXIT_CANCELLED = 143  # 128 + SIGTERM, what Kubernetes reports for a terminated container

ENV_JOB_ID = "CRAFT_JOB_ID"
ENV_JOB_TYPE = "CRAFT_JOB_TYPE"
ENV_JOB_ATTEMPT = "CRAFT_JOB_ATTEMPT"
ENV_TENANT_ID = "CRAFT_TENANT_ID"
ENV_USER_ID = "CRAFT_USER_ID"
ENV_JOB_CREATED_AT = "CRAFT_JOB_CREATED_AT"
ENV_JOB_SCHEDULED_FOR = "CRAFT_JOB_SCHEDULED_FOR"
ENV_JOB_METADATA = "CRAFT_JOB_METADATA"

# Entry point only (python -m craft_jobs_runner).
ENV_JOB_MODULES = "CRAFT_JOB_MODULES"
ENV_PARAMETERS_FILE = "CRAFT_JOB_PARAMETERS_FILE"
ENV_TERMINATION_MESSAGE_PATH = "CRAFT_TERMINATION_MESSAGE_PATH"
ENV_CANCEL_GRACE_SECONDS = "CRAFT_JOB_CANCEL_GRACE_SECONDS"
ENV_LOG_FORMAT = "CRAFT_LOG_FORMAT"  # "json" (default) or "text"
ENV_LOG_LEVEL = "CRAFT_LOG_LEVEL"  # a logging level name, default INFO
# Runs that may schedule jobs (context.scheduler): the REST API's base URL and
# a file holding the run's credential (a Secret in a cluster, like the parameters).
ENV_API_URL = "CRAFT_JOB_API_URL"
ENV_SCHEDULER_TOKEN_FILE = "CRAFT_JOB_SCHEDULER_TOKEN_FILE"
# Local executor only: a pipe whose end-of-file means "the engine is gone, stop now".
ENV_LIFELINE_FD = "CRAFT_JOB_LIFELINE_FD"

DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
# Time a job gets to stop by itself after cancellation before its task is
# cancelled; keep it below the pod's terminationGracePeriodSeconds (30 by default).
DEFAULT_CANCEL_GRACE_SECONDS = 10.0
# Kubernetes keeps at most 4096 bytes of a termination message; stay below.
MAX_TERMINATION_MESSAGE_BYTES = 4000
