"""Units of work: one transaction per use case, with after-commit hooks."""

from tiered.unit_of_work.base import AfterCommitHook, BaseUnitOfWork, UnitOfWorkError
from tiered.unit_of_work.memory import InMemoryUnitOfWork
from tiered.unit_of_work.sql import UnitOfWork

__all__ = [
    "AfterCommitHook",
    "BaseUnitOfWork",
    "InMemoryUnitOfWork",
    "UnitOfWork",
    "UnitOfWorkError",
]
