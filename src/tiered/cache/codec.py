"""How cached values become bytes and back.

A cache holds serialised DTOs, never live objects: an ORM entity read back
from a cache is detached from any session, and pickling one drags its whole
object graph along. A codec states the type explicitly, so a hit is validated
into the same type a miss produced.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, Generic, Protocol, TypeVar

import orjson
from pydantic import TypeAdapter

__all__ = ["Codec", "FunctionCodec", "JsonCodec", "ModelCodec", "codec_for", "refuse_orm_entity"]

T = TypeVar("T")


class Codec(Protocol[T]):
    def dump(self, value: T) -> bytes:
        """The bytes to store."""
        ...

    def load(self, data: bytes) -> T:
        """The value the stored bytes stand for."""
        ...


class JsonCodec:
    """Plain JSON through orjson: dicts, lists, strings, numbers, booleans and ``None``.

    Other types orjson can write (UUIDs, datetimes, dataclasses) come back as
    their JSON form; give a :class:`ModelCodec` to get the type back.
    """

    def dump(self, value: Any) -> bytes:
        return orjson.dumps(value)

    def load(self, data: bytes) -> Any:
        return orjson.loads(data)


class ModelCodec(Generic[T]):
    """Any type pydantic can validate (models, dataclasses, ``list[Model]``…) as JSON.

    A value is validated before it is written: pydantic would otherwise write
    an object of another class by its attributes, or as ``{}``, and the
    mistake would surface only on a later hit.
    """

    def __init__(self, adapter: TypeAdapter[T]) -> None:
        self.adapter = adapter

    def dump(self, value: T) -> bytes:
        return self.adapter.dump_json(self.adapter.validate_python(value))

    def load(self, data: bytes) -> T:
        return self.adapter.validate_json(data)


class FunctionCodec(Generic[T]):
    """A codec from two functions, for types with their own (de)serialisation."""

    def __init__(self, dump: Callable[[T], bytes], load: Callable[[bytes], T]) -> None:
        self._dump = dump
        self._load = load

    def dump(self, value: T) -> bytes:
        return self._dump(value)

    def load(self, data: bytes) -> T:
        return self._load(data)


JSON = JsonCodec()


@lru_cache(maxsize=256)
def _model_codec(annotation: Any) -> ModelCodec[Any]:
    return ModelCodec(TypeAdapter(annotation))


def codec_for(kind: Codec[T] | type[T] | None) -> Codec[T]:
    """``kind`` itself if it is a codec, a :class:`ModelCodec` of it if it is a type, else JSON.

    Type adapters are built once per type: building one costs far more than using it.
    """
    if kind is None:
        return JSON
    if not isinstance(kind, type) and hasattr(kind, "dump") and hasattr(kind, "load"):
        return kind
    annotation: Any = kind
    return _model_codec(annotation)


def refuse_orm_entity(value: object) -> None:
    """Fail loudly when a loader returns a mapped entity instead of a DTO."""
    if hasattr(value, "_sa_instance_state"):
        raise TypeError(
            f"{type(value).__name__} is an ORM entity: cache a DTO (a read model) instead"
        )
