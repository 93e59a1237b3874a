"""One base exception for everything Craft Jobs raises on purpose.

Errors about user input name the field at fault, so a CLI, the API and a CR
condition can all say exactly what to fix.
"""

from __future__ import annotations


class CraftJobsError(Exception):
    """Base class of every error raised by Craft Jobs."""


class ValidationError(CraftJobsError):
    """User input is wrong; `field` names the offending field."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class InvalidScheduleError(ValidationError):
    """A cron expression, interval or time zone cannot be used."""


class UnknownJobTypeError(ValidationError):
    def __init__(self, job_type: str):
        super().__init__("job_type", f"unknown job type {job_type!r}")
        self.job_type = job_type


class InvalidParametersError(ValidationError):
    """Parameters failed the job's model or exceed the size limit."""


class OptionsError(ValidationError):
    """A configuration option is missing or out of range."""


class JobNotFoundError(CraftJobsError):
    def __init__(self, job_id: int | str):
        super().__init__(f"job {job_id} does not exist")
        self.job_id = job_id


class RecurringJobNotFoundError(CraftJobsError):
    def __init__(self, recurring_id: str):
        super().__init__(f"recurring job {recurring_id!r} does not exist")
        self.recurring_id = recurring_id


class DatabaseUnavailableError(CraftJobsError):
    """PostgreSQL cannot be reached or refused the connection."""


class StoreError(CraftJobsError):
    """A database error we did not expect; the driver error is chained."""
