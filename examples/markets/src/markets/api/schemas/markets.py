"""What clients send to create, edit and resolve markets: only the fields they own.

Server-owned fields (id, creator, volume, version, outcome, timestamps) are not
members of any body here, and unknown members are refused, so sending one is a
422 that changes nothing. Text patterns say exactly what is accepted: no
control characters in a name, no NUL in a description (PostgreSQL cannot
store it), never a blank name.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import MISSING, BaseModel, ConfigDict, Field

from markets.domain.markets import (
    DESCRIPTION_MAX,
    DESCRIPTION_PATTERN,
    NAME_MAX,
    NAME_PATTERN,
    MarketStatus,
    Outcome,
)
from markets.services.markets import MarketChanges, MarketDraft

__all__ = ["MarketCreate", "MarketPatch", "MarketReplace", "MarketResolution"]

Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=NAME_MAX,
        pattern=NAME_PATTERN,
        description=f"The question the market settles: 1 to {NAME_MAX} characters, "
        "not blank, no control characters.",
    ),
]
Description = Annotated[
    str,
    Field(
        max_length=DESCRIPTION_MAX,
        pattern=DESCRIPTION_PATTERN,
        description=f"How the market resolves: up to {DESCRIPTION_MAX} characters.",
    ),
]
InitialStatus = Literal["draft", "active"]
EditableStatus = Literal["draft", "active", "closed"]

_STATUS_EDIT = (
    "Markets move draft → active → closed; any other change is a 409. "
    "Resolving is `POST /api/v1/markets/{market_id}/resolve`."
)
_NAME = "Will the city council approve the new tram line?"
_DESCRIPTION = "Resolves YES if the council approves the tram line before 1 July 2026."
_CONFIG = ConfigDict(extra="forbid", regex_engine="python-re", frozen=True)


class MarketCreate(BaseModel):
    model_config = ConfigDict(
        **_CONFIG,
        json_schema_extra={
            "examples": [{"name": _NAME, "description": _DESCRIPTION, "status": "draft"}]
        },
    )

    name: Name
    description: Description = ""
    status: InitialStatus = Field(
        default="draft",
        description="`draft` (visible only to you and moderators) or `active` (open to buyers).",
    )

    def draft(self) -> MarketDraft:
        return MarketDraft(self.name, self.description, MarketStatus(self.status))


class MarketReplace(BaseModel):
    """Every client-owned field: a full replacement."""

    model_config = ConfigDict(
        **_CONFIG,
        json_schema_extra={
            "examples": [{"name": _NAME, "description": _DESCRIPTION, "status": "active"}]
        },
    )

    name: Name
    description: Description
    status: EditableStatus = Field(description=_STATUS_EDIT)

    def draft(self) -> MarketDraft:
        return MarketDraft(self.name, self.description, MarketStatus(self.status))


class MarketPatch(BaseModel):
    """Only the members sent change; `null` is refused (no member here is nullable)."""

    model_config = ConfigDict(
        **_CONFIG,
        json_schema_extra={
            "examples": [{"status": "active"}, {"name": _NAME, "description": _DESCRIPTION}]
        },
    )

    name: Name | MISSING = MISSING
    description: Description | MISSING = MISSING
    status: Annotated[EditableStatus, Field(description=_STATUS_EDIT)] | MISSING = MISSING

    def changes(self) -> MarketChanges:
        return MarketChanges(
            name=None if self.name is MISSING else self.name,
            description=None if self.description is MISSING else self.description,
            status=None if self.status is MISSING else MarketStatus(self.status),
        )


class MarketResolution(BaseModel):
    model_config = ConfigDict(**_CONFIG, json_schema_extra={"examples": [{"outcome": "yes"}]})

    outcome: Literal["yes", "no"] = Field(description="How the question was settled.")

    def resolved_as(self) -> Outcome:
        return Outcome(self.outcome)
