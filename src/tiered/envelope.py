"""The success envelope: ``{"success": true, "data": …, "meta": …}``.

One shape for every success body lets clients unwrap responses generically;
``meta`` carries pagination for lists and is ``null`` otherwise.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

__all__ = ["ApiResponse", "PageMeta"]

T = TypeVar("T")


class PageMeta(BaseModel):
    total: int | None = Field(default=None, description="Rows matching the filters (offset pages).")
    limit: int
    offset: int | None = None
    next_cursor: str | None = Field(default=None, description="Opaque cursor of the next page.")


class ApiResponse(BaseModel, Generic[T]):
    success: Literal[True] = True
    data: T
    meta: PageMeta | dict[str, Any] | None = None

    @classmethod
    def of(cls, data: T, meta: PageMeta | dict[str, Any] | None = None) -> ApiResponse[T]:
        return cls(data=data, meta=meta)
