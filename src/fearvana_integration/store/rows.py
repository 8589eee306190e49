"""Validated shapes of the rows the store reads.

A database row that does not have the documented shape is skipped with a warning naming the table,
the row id and what was wrong — one bad row never breaks a customer's whole context.
"""

from __future__ import annotations

import functools
import math
from datetime import date, datetime, time
from typing import Any, TypeVar
from uuid import UUID

import structlog
from pydantic import BaseModel, ConfigDict, JsonValue, TypeAdapter, ValidationError, field_validator

from fearvana_integration.domain.customer import LIFE_AREA_ORDER, MetricValue

log = structlog.get_logger("fearvana_integration.store")

RowT = TypeVar("RowT", bound="StoreRow")


class StoreRow(BaseModel):
    """Base of row models: tolerant of extra columns, strict about the ones we use."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class ProfileRow(StoreRow):
    """profiles ⟕ customer_preferences."""

    id: UUID
    email: str
    display_name: str | None
    avatar_url: str | None
    created_at: datetime
    time_zone: str | None = None
    email_opt_in: bool | None = None
    email_frequency: str | None = None
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None


class LevelRow(StoreRow):
    """life_levels ⟕ streaks ⟕ entry aggregates."""

    id: UUID
    category: str
    goal_jsonb: dict[str, float] | None = None
    updated_at: datetime | None = None
    current_streak: int | None = None
    longest_streak: int | None = None
    last_activity_date: date | None = None
    entry_count: int = 0
    last_entry_at: datetime | None = None

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in LIFE_AREA_ORDER:
            raise ValueError(f"unknown life_level_category {value!r}")
        return value


class EntryRow(StoreRow):
    """entries with the category of their life level (ids only where the query returns them)."""

    id: UUID | None = None
    level_id: UUID | None = None
    category: str
    ts: datetime
    metric: dict[str, MetricValue]

    @field_validator("metric")
    @classmethod
    def _finite(cls, value: dict[str, MetricValue]) -> dict[str, MetricValue]:
        # JSON allows NaN/Infinity in some writers; a model cannot reason about them, so they are dropped.
        return {k: v for k, v in value.items() if not (isinstance(v, float) and not math.isfinite(v))}


class CoachActionRow(StoreRow):
    """coach_actions with the category of their life level."""

    id: UUID
    category: str | None
    ts: datetime | None
    created_at: datetime | None
    suggestion: str
    completed: bool
    ai_metadata: dict[str, JsonValue] | None = None


class SupplementRow(StoreRow):
    """supplements with quantity on hand."""

    id: UUID
    name: str
    qty_on_hand: int
    dosage_schema: JsonValue = None


class SpiralRow(StoreRow):
    """spiral_journey_states ⟗ spiral_progress ⟗ sum(spiral_xp_log) for one profile."""

    current_step: int | None = None
    step_progress: int | None = None
    current_level: str | None = None
    total_xp: int | None = None


class ChallengeRow(StoreRow):
    """One completed challenge."""

    challenge_id: str
    completed_at: datetime


@functools.cache
def _list_adapter(model: type[StoreRow]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def parse_rows(model: type[RowT], table: str, rows: list[dict[str, Any]]) -> list[RowT]:
    """Validate each row; skip (and log) the ones that do not fit."""
    try:  # the usual case, all rows valid: one validation call for the whole list
        return _list_adapter(model).validate_python(rows)
    except ValidationError:
        pass
    parsed: list[RowT] = []
    for row in rows:
        try:
            parsed.append(model.model_validate(row))
        except ValidationError as error:
            problem = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors())
            log.warning("skipping invalid row", table=table, row_id=str(row.get("id", "?")), problem=problem)
    return parsed
