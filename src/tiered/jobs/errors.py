"""Errors of the jobs package."""

from __future__ import annotations

from tiered.errors import ConfigurationError

__all__ = ["PermanentJobFailure", "UnknownTaskError"]


class UnknownTaskError(ConfigurationError):
    """A task name no registry here knows: a typo, or a worker older than the code enqueueing."""

    code = "UNKNOWN_TASK"


class PermanentJobFailure(Exception):  # noqa: N818 (a verdict, not a fault of the code)
    """Raised by a handler when trying again cannot help (the input is wrong, the
    target is gone): the job goes straight to the dead letters with this message."""
