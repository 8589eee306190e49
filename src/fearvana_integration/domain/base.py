"""Shared model configuration: snake_case in Python, camelCase in JSON, UTC datetimes with ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def _require_aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError("datetime must be timezone-aware (e.g. 2026-11-25T10:30:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC form; a validation error, not a crash
        raise ValueError("datetime is out of range once converted to UTC") from None


def iso_z(value: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix (microseconds only when present)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcDateTime = Annotated[
    datetime,
    AfterValidator(_require_aware_utc),
    PlainSerializer(iso_z, return_type=str, when_used="json"),
]
"""A timezone-aware datetime, normalised to UTC, serialised as ``2026-11-25T10:30:00Z``."""


class DomainModel(BaseModel):
    """Base of every boundary model: camelCase JSON aliases, immutable, strict about unknown input."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
    )

    def to_json_dict(self) -> dict[str, object]:
        """The JSON form (camelCase keys, ISO dates) as plain Python data."""
        return self.model_dump(mode="json", by_alias=True)
