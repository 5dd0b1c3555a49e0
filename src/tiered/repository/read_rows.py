"""A page of read models kept as rows: models built only when an item is read.

A list endpoint reads its page to serialise it, and nothing else: building a
model per row (and a nested one per relation) for pydantic to take apart again
was a tenth of a 50-row list request's CPU. :class:`ReadRows` is the page's
``items``: a sequence whose models are built, all at once, the first time an
item is read; :meth:`ReadRows.json_ready` hands the same rows to a JSON encoder
as plain values without building any (``PageResponse.respond`` uses it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from tiered.repository.read_model import ReadModel

if TYPE_CHECKING:
    from tiered.repository.find_plan import ReadPlan

__all__ = ["ReadRows"]

R = TypeVar("R", bound=ReadModel)


class ReadRows(Sequence[R], Generic[R]):
    __slots__ = ("_items", "_plan", "_rows")

    def __init__(self, rows: Sequence[Sequence[Any]], plan: ReadPlan) -> None:
        self._rows = rows
        self._plan = plan
        self._items: list[R] | None = None

    @property
    def model(self) -> type[ReadModel]:
        return self._plan.model

    def _built(self) -> list[R]:
        if self._items is None:
            build = self._plan.build
            self._items = [build(row) for row in self._rows]
        return self._items

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> R: ...

    @overload
    def __getitem__(self, index: slice) -> list[R]: ...

    def __getitem__(self, index: int | slice) -> R | list[R]:
        return self._built()[index]

    def __iter__(self) -> Iterator[R]:
        return iter(self._built())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return self._built() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ReadRows({self._built()!r})"

    def json_ready(self) -> list[dict[str, Any]] | None:
        """Each row as the model's fields in plain values; ``None`` if only pydantic can say."""
        encode = self._plan.encode
        if encode is None:
            return None
        return [encode(row) for row in self._rows]
