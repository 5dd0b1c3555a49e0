"""Tasks by name: the handler, its payload type, how often and how patiently to retry.

A registry is an object, not a module global, so two applications (or two
tests) in one process never see each other's tasks; ``default_registry`` and
its ``task`` decorator are there for applications that need only one.
Payloads are validated and serialised by pydantic, on the way in (enqueue) and
on the way out (the worker), so a handler receives the type it declares.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, get_type_hints

from pydantic import TypeAdapter

from tiered.errors import ConfigurationError
from tiered.jobs.backoff import Backoff
from tiered.jobs.errors import UnknownTaskError
from tiered.jobs.tables import TASK_NAME_LENGTH

if TYPE_CHECKING:
    from tiered.jobs.context import JobContext

__all__ = ["Task", "TaskRegistry", "default_registry", "task"]

P = TypeVar("P")
R = TypeVar("R")

DEFAULT_MAX_TRIES = 5


class Task(Generic[P, R]):
    """A named handler: ``async def handler(ctx: JobContext, payload: P) -> R``."""

    __slots__ = ("_adapter", "backoff", "handler", "max_tries", "name", "payload_type")

    def __init__(
        self,
        name: str,
        handler: Callable[[JobContext, P], Awaitable[R]],
        *,
        payload_type: Any,
        max_tries: int = DEFAULT_MAX_TRIES,
        backoff: Backoff | None = None,
    ) -> None:
        if not name or len(name) > TASK_NAME_LENGTH:
            raise ConfigurationError(f"a task name has 1 to {TASK_NAME_LENGTH} characters")
        if max_tries < 1:
            raise ConfigurationError(f"task {name!r}: max_tries must be at least 1")
        self.name = name
        self.handler = handler
        self.payload_type = payload_type
        self.max_tries = max_tries
        self.backoff = backoff or Backoff()
        self._adapter: TypeAdapter[P] = TypeAdapter(payload_type)

    def dump_payload(self, payload: P) -> Any:
        """``payload`` validated, as JSON-ready data for the jobs table."""
        return self._adapter.dump_python(self._adapter.validate_python(payload), mode="json")

    def load_payload(self, stored: Any) -> P:
        return self._adapter.validate_python(stored)

    def __repr__(self) -> str:
        return f"Task({self.name!r}, max_tries={self.max_tries})"


def _payload_type(handler: Callable[..., Any], name: str) -> Any:
    """The annotation of the handler's second parameter (after the context)."""
    parameters = list(inspect.signature(handler).parameters)
    if len(parameters) != 2:
        raise ConfigurationError(
            f"task {name!r}: a handler takes (ctx, payload), not {len(parameters)} parameters"
        )
    try:
        hints = get_type_hints(handler)
    except NameError as error:
        raise ConfigurationError(
            f"task {name!r}: cannot resolve the payload annotation ({error}); pass payload=…"
        ) from error
    if parameters[1] not in hints:
        raise ConfigurationError(f"task {name!r}: annotate the payload parameter or pass payload=…")
    return hints[parameters[1]]


class TaskRegistry:
    """The tasks an application can enqueue and its workers can run."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task[Any, Any]] = {}

    def task(
        self,
        name: str,
        *,
        max_tries: int = DEFAULT_MAX_TRIES,
        backoff: Backoff | None = None,
        payload: Any = None,
    ) -> Callable[[Callable[[JobContext, P], Awaitable[R]]], Task[P, R]]:
        """Register the decorated handler as ``name``; the payload type comes from its
        annotation unless ``payload=`` names it."""

        def register(handler: Callable[[JobContext, P], Awaitable[R]]) -> Task[P, R]:
            payload_type = payload if payload is not None else _payload_type(handler, name)
            created: Task[P, R] = Task(
                name, handler, payload_type=payload_type, max_tries=max_tries, backoff=backoff
            )
            self.register(created)
            return created

        return register

    def register(self, task: Task[Any, Any]) -> None:
        known = self._tasks.get(task.name)
        if known is not None and known.handler is not task.handler:
            raise ConfigurationError(f"two handlers are registered as task {task.name!r}")
        self._tasks[task.name] = task

    def get(self, name: str) -> Task[Any, Any]:
        found = self._tasks.get(name)
        if found is None:
            raise UnknownTaskError(f"No task named {name!r} is registered.")
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[Task[Any, Any]]:
        return iter(self._tasks.values())

    def __len__(self) -> int:
        return len(self._tasks)


default_registry = TaskRegistry()
"""The registry of applications that need only one."""
task = default_registry.task
"""``@task("name", max_tries=…, backoff=…)`` on :data:`default_registry`."""
