"""``@cached``: an async function whose results are kept in a :class:`~tiered.cache.Cache`.

The key comes from a template over the function's arguments
(``key="market:{market_id}"``), a function of them, or by default from the
function's qualified name and its arguments as JSON. Results are stored with
the codec of the function's return annotation (a pydantic model, a
dataclass, ``list[Model]``…), so a hit returns the type a call does.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, get_type_hints

import orjson

from tiered.cache.cache import Cache
from tiered.cache.codec import Codec, codec_for

__all__ = ["CachedFunction", "cached"]

P = ParamSpec("P")
T = TypeVar("T")

KeySpec = str | Callable[..., str] | None


class CachedFunction(Generic[P, T]):
    """The decorated function: call it as before; ``invalidate`` drops one result."""

    __name__: str
    __qualname__: str

    def __init__(
        self,
        function: Callable[P, Awaitable[T]],
        cache: Cache,
        *,
        key: KeySpec,
        ttl: float | None,
        tags: Sequence[str],
        codec: Codec[T] | None,
    ) -> None:
        if not inspect.iscoroutinefunction(function):
            raise TypeError(f"@cached needs an async function, not {function!r}")
        functools.update_wrapper(self, function)
        self.function = function
        self.cache = cache
        self.ttl = ttl
        self._key = key
        self._tags = tuple(tags)
        self._codec = codec
        self._signature = inspect.signature(function)
        self._name = f"{function.__module__}.{function.__qualname__}"

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        arguments = self._arguments(args, kwargs)
        result: T = await self.cache.get_or_set(
            self._key_of(arguments, args, kwargs),
            lambda: self.function(*args, **kwargs),
            codec=self.codec,
            ttl=self.ttl,
            tags=self._tags_of(arguments),
        )
        return result

    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Drop the cached result of a call with these arguments."""
        arguments = self._arguments(args, kwargs)
        await self.cache.delete(
            self._key_of(arguments, args, kwargs), tags=self._tags_of(arguments)
        )

    def key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The cache key of a call with these arguments."""
        return self._key_of(self._arguments(args, kwargs), args, kwargs)

    @functools.cached_property
    def codec(self) -> Codec[T]:
        """From the return annotation, read on first use (forward references resolve by then)."""
        if self._codec is not None:
            return self._codec
        return codec_for(_return_type(self.function, self._name))

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.arguments

    def _key_of(
        self, arguments: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> str:
        if isinstance(self._key, str):
            return self._key.format(**arguments)
        if self._key is not None:
            return self._key(*args, **kwargs)
        try:
            encoded = orjson.dumps(arguments, option=orjson.OPT_NON_STR_KEYS)
        except TypeError as error:
            raise TypeError(
                f"@cached {self._name}: its arguments are not JSON; pass key=… to name the entry"
            ) from error
        return f"{self._name}:{encoded.decode()}"

    def _tags_of(self, arguments: dict[str, Any]) -> tuple[str, ...]:
        return tuple(tag.format(**arguments) for tag in self._tags)


def _return_type(function: Callable[..., Any], name: str) -> Any:
    """The evaluated return annotation, ignoring the parameters' (which may not resolve)."""
    annotation = inspect.get_annotations(function).get("return")
    if not isinstance(annotation, str):
        return annotation
    probe = types.FunctionType(_return_type.__code__, function.__globals__)
    probe.__annotations__ = {"return": annotation}
    try:
        return get_type_hints(probe)["return"]
    except NameError as error:
        raise TypeError(
            f"@cached {name}: its return annotation {annotation!r} does not resolve at module "
            "level; pass codec=… instead"
        ) from error


def cached(
    cache: Cache,
    *,
    key: KeySpec = None,
    ttl: float | None = None,
    tags: Sequence[str] = (),
    codec: Codec[Any] | None = None,
) -> Callable[[Callable[P, Awaitable[T]]], CachedFunction[P, T]]:
    """Cache an async function's results; ``tags`` are templates over its arguments too."""

    def decorate(function: Callable[P, Awaitable[T]]) -> CachedFunction[P, T]:
        return CachedFunction(function, cache, key=key, ttl=ttl, tags=tags, codec=codec)

    return decorate
