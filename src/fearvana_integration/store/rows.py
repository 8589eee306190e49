"""Validated shapes of the rows the store reads, as the Fearvana app's schema allows them.

Nullable columns are optional here: a NULL is "unknown", never a reason to drop a row. A row that
still does not fit (a metric that is not a JSON object, say) is skipped with a warning naming the
table, the row id and what was wrong, and counted, so the context can tell the AI how many rows of
which table it could not read (``data_unreadable``) — never their content.
"""

from __future__ import annotations

import functools
import math
from datetime import date, datetime, time
from typing import Any, TypeVar
from uuid import UUID

import structlog
from pydantic import BaseModel, ConfigDict, JsonValue, TypeAdapter, ValidationError, field_validator

from fearvana_integration.domain.customer import MetricValue

log = structlog.get_logger("fearvana_integration.store")

RowT = TypeVar("RowT", bound="StoreRow")


class StoreRow(BaseModel):
    """Base of row models: tolerant of extra columns, strict about the ones we use."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class ProfileRow(StoreRow):
    """profiles ⟕ customer_preferences (the preference columns are None when nobody stored any)."""

    id: UUID
    email: str
    display_name: str | None = None
    avatar_url: str | None = None
    created_at: datetime | None = None
    has_preferences: bool = False
    time_zone: str | None = None
    email_opt_in: bool | None = None
    email_frequency: str | None = None
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None


class LevelRow(StoreRow):
    """life_levels ⟕ streaks, with the time of the area's newest entry."""

    id: UUID
    category: str
    goal_jsonb: JsonValue = None
    updated_at: datetime | None = None
    current_streak: int | None = None
    longest_streak: int | None = None
    last_activity_date: date | None = None
    last_entry_at: datetime | None = None


class EntryRow(StoreRow):
    """entries with the category of their life level; ``ts`` falls back to ``created_at``."""

    category: str
    ts: datetime | None = None
    created_at: datetime | None = None
    metric: dict[str, MetricValue]

    @field_validator("metric")
    @classmethod
    def _finite(cls, value: dict[str, MetricValue]) -> dict[str, MetricValue]:
        # JSON allows NaN/Infinity in some writers; a model cannot reason about them, so they are dropped.
        return {k: v for k, v in value.items() if not (isinstance(v, float) and not math.isfinite(v))}

    @property
    def moment(self) -> datetime | None:
        """When the entry was made: ``ts``, else ``created_at``, else unknown."""
        return self.ts or self.created_at


class CoachActionRow(StoreRow):
    """coach_actions with the category of their life level (``completed`` NULL: unknown)."""

    id: UUID
    category: str | None = None
    ts: datetime | None = None
    created_at: datetime | None = None
    suggestion: str
    completed: bool | None = None
    ai_metadata: JsonValue = None


class SupplementRow(StoreRow):
    """A supplement with quantity on hand above zero or unknown."""

    id: UUID
    name: str
    qty_on_hand: int | None = None
    dosage_schema: JsonValue = None


class SpiralRow(StoreRow):
    """spiral_journey_states, spiral_progress and the XP total of one profile."""

    current_step: int | None = None
    step_progress: int | None = None
    current_level: str | None = None
    total_xp: int | None = None


class ChallengeRow(StoreRow):
    """One completed challenge, with its title from the shared catalogue (None: no longer readable)."""

    challenge_id: UUID
    title: str | None = None
    completed_at: datetime | None = None
    created_at: datetime | None = None
    xp_earned: int | None = None


class SacredEdgeRow(StoreRow):
    """user_sacred_edges: the customer's Sacred Edge (at most one)."""

    description: str
    root_fear: str | None = None
    deeper_purpose: str | None = None
    identified_date: datetime | None = None
    updated_at: datetime | None = None
    status: str | None = None
    experiments_count: int | None = None
    latest_experiment: JsonValue = None


class CommitmentRow(StoreRow):
    """A pending commitment."""

    id: UUID
    description: str
    created_at: datetime | None = None
    due_date: datetime | None = None
    status: str | None = None
    follow_up_count: int | None = None


class StatusCountRow(StoreRow):
    """How many commitments have one status (None: the status is NULL)."""

    status: str | None = None
    count: int


class PatternRow(StoreRow):
    """A behaviour pattern the coach noticed."""

    id: UUID
    pattern_type: str
    description: str
    occurrences: int | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    severity: str | None = None


class WinRow(StoreRow):
    """A win the customer had."""

    id: UUID
    description: str
    category: str | None = None
    impact: str | None = None
    created_at: datetime | None = None


class AssessmentRow(StoreRow):
    """The newest Spiral assessment of one table (``source`` names it)."""

    source: str
    level: str
    secondary_level: str | None = None
    confidence: int | None = None
    assessed_at: datetime | None = None


class TaskRow(StoreRow):
    """A daily task (today's, recent or overdue)."""

    id: UUID
    title: str
    description: str | None = None
    points: int | None = None
    completed: bool | None = None
    due_date: date | None = None
    category: str | None = None


class SuggestionRow(StoreRow):
    """An open enhanced coach suggestion."""

    id: UUID
    title: str
    description: str
    estimated_time: str | None = None
    difficulty: str | None = None
    impact: str | None = None
    suggestion_type: str | None = None
    category: str | None = None
    created_at: datetime | None = None


class ConversationRow(StoreRow):
    """Recency of coaching conversations (never their content)."""

    last_at: datetime | None = None
    last_customer_turn_at: datetime | None = None
    turns_30d: int = 0
    days_30d: int = 0


class ActivityRow(StoreRow):
    """When the customer last did something, per kind of activity (entries are on the levels)."""

    completed_action_at: datetime | None = None
    completed_task_at: datetime | None = None
    challenge_at: datetime | None = None
    xp_at: datetime | None = None
    commitment_at: datetime | None = None
    assessment_at: datetime | None = None
    any_completed_task: bool = False
    any_xp: bool = False
    any_commitment: bool = False
    any_assessment: bool = False
    any_challenge: bool = False
    any_completed_action: bool = False


@functools.cache
def _list_adapter(model: type[StoreRow]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def parse_rows(model: type[RowT], table: str, rows: list[dict[str, Any]], unreadable: dict[str, int]) -> list[RowT]:
    """Validate each row; skip (log, and count in ``unreadable[table]``) the ones that do not fit."""
    try:  # the usual case, all rows valid: one validation call for the whole list
        return _list_adapter(model).validate_python(rows)
    except ValidationError:
        pass
    parsed: list[RowT] = []
    for row in rows:
        try:
            parsed.append(model.model_validate(row))
        except ValidationError as error:
            # Field names and pydantic's message only: the row's values (customer data) stay out of logs.
            problem = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors())
            log.warning("unreadable row skipped", table=table, row_id=str(row.get("id", "?")), problem=problem)
            unreadable[table] = unreadable.get(table, 0) + 1
    return parsed


def parse_one(model: type[RowT], table: str, row: dict[str, Any] | None, unreadable: dict[str, int]) -> RowT | None:
    """One optional row (None stays None)."""
    if row is None:
        return None
    parsed = parse_rows(model, table, [row], unreadable)
    return parsed[0] if parsed else None
