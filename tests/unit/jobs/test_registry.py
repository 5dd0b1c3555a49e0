from __future__ import annotations

import pytest
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from tiered.errors import ConfigurationError
from tiered.jobs import (
    Backoff,
    JobContext,
    TaskRegistry,
    UnknownTaskError,
    default_registry,
    task,
)


class Invoice(BaseModel):
    number: int
    email: str


def test_the_payload_type_comes_from_the_annotation() -> None:
    registry = TaskRegistry()

    @registry.task("send-invoice", max_tries=7, backoff=Backoff(base=3))
    async def send_invoice(ctx: JobContext, payload: Invoice) -> None:
        return None

    assert registry.get("send-invoice") is send_invoice
    assert "send-invoice" in registry
    assert list(registry) == [send_invoice]
    assert len(registry) == 1
    assert send_invoice.payload_type is Invoice
    assert (send_invoice.max_tries, send_invoice.backoff.base) == (7, 3)
    stored = send_invoice.dump_payload(Invoice(number=4, email="a@example.com"))
    assert stored == {"number": 4, "email": "a@example.com"}
    assert send_invoice.load_payload(stored) == Invoice(number=4, email="a@example.com")
    with pytest.raises(PydanticValidationError):
        send_invoice.load_payload({"number": "four"})


def test_an_explicit_payload_type_wins() -> None:
    registry = TaskRegistry()

    async def handler(ctx, payload):  # type: ignore[no-untyped-def]
        return None

    created = registry.task("untyped", payload=dict[str, int])(handler)
    assert created.dump_payload({"a": 1}) == {"a": 1}


def test_a_handler_must_take_a_context_and_an_annotated_payload() -> None:
    registry = TaskRegistry()

    async def no_payload(ctx: JobContext) -> None:
        return None

    async def unannotated(ctx, payload):  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(ConfigurationError, match="takes \\(ctx, payload\\)"):
        registry.task("a")(no_payload)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="annotate"):
        registry.task("b")(unannotated)


def test_names_are_unique_per_registry() -> None:
    registry = TaskRegistry()
    other = TaskRegistry()

    async def first(ctx: JobContext, payload: int) -> None:
        return None

    async def second(ctx: JobContext, payload: int) -> None:
        return None

    registry.task("same")(first)
    registry.register(registry.get("same"))  # registering the same task again is harmless
    other.task("same")(second)
    with pytest.raises(ConfigurationError, match="two handlers"):
        registry.task("same")(second)


def test_an_unknown_name_raises() -> None:
    with pytest.raises(UnknownTaskError, match="nope"):
        TaskRegistry().get("nope")


@pytest.mark.parametrize(("name", "max_tries"), [("", 1), ("x" * 201, 1), ("ok", 0)])
def test_bad_declarations_are_refused(name: str, max_tries: int) -> None:
    async def handler(ctx: JobContext, payload: int) -> None:
        return None

    with pytest.raises(ConfigurationError):
        TaskRegistry().task(name, max_tries=max_tries)(handler)


def test_the_default_registry_backs_the_task_decorator() -> None:
    @task("tiered-tests-default-registry")
    async def handler(ctx: JobContext, payload: int) -> None:
        return None

    assert default_registry.get("tiered-tests-default-registry") is handler
