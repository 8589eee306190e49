"""The customer's own data: profile, life areas, entries, spiral journey, coach actions, supplements.

Life-area keys are the database's enum values (``str``: a database with more values than the app's
seven gets them too); ``domain.life_areas`` has the app's labels and default goals.
"""

from __future__ import annotations

from datetime import time
from typing import Literal
from uuid import UUID

from pydantic import Field, JsonValue

from fearvana_integration.domain.base import DomainModel, UtcDateTime

Trend = Literal["up", "down", "stable"]
EmailFrequency = Literal["daily", "weekly", "biweekly", "monthly", "never"]
PreferenceSource = Literal["stored", "default"]
MetricValue = float | int | bool | str | None


class CustomerRef(DomainModel):
    """What an adapter needs to find a customer in its system: providers match on the email."""

    id: UUID
    email: str
    display_name: str | None = None
    time_zone: str = "UTC"


class QuietHours(DomainModel):
    """Local times between which no automated email is sent."""

    start: time
    end: time


class EmailPreferences(DomainModel):
    """The customer's email choices (project table ``customer_preferences``).

    ``source`` is ``stored`` when someone stored preferences for this customer, ``default`` when
    nobody did (then: opted in, weekly, UTC) — defaults are not the customer's stated choice.
    """

    opt_in: bool = True
    frequency: EmailFrequency = "weekly"
    quiet_hours: QuietHours | None = None
    source: PreferenceSource = "default"


class Profile(DomainModel):
    """Who the customer is."""

    email: str
    display_name: str | None
    avatar_url: str | None = None
    created_at: UtcDateTime | None = Field(description="When the profile was created (null: unknown)")
    account_age: int | None = Field(description="Whole days since the account was created (null: unknown)")
    time_zone: str = "UTC"
    email_preferences: EmailPreferences = EmailPreferences()


class LifeArea(DomainModel):
    """One life area with its score (0-100 against the goals) and trend."""

    category: str = Field(description="The database's key (life_level_category), e.g. fun_joy")
    label: str = Field(description="The name the customer sees, e.g. Peace")
    current_score: int | None = Field(description="0-100; null while the area has no data")
    trend: Trend | None
    goal: dict[str, float] = Field(description="Numeric targets per metric")
    goal_description: str | None = Field(default=None, description="The goal in the customer's words, if any")
    current_streak: int | None = None
    longest_streak: int | None = None
    last_updated: UtcDateTime | None = None
    entries_last_90_days: int = 0


class Entry(DomainModel):
    """One tracking entry: metric → value at a time."""

    category: str
    timestamp: UtcDateTime
    metrics: dict[str, MetricValue]


class MetricSummary(DomainModel):
    """Statistics of one numeric metric over summarised entries."""

    mean: float
    min: float
    max: float
    trend: Trend


class EntrySummary(DomainModel):
    """Entries of one category condensed into statistics instead of being listed one by one."""

    category: str
    count: int
    from_: UtcDateTime = Field(alias="from")
    to: UtcDateTime
    metrics: dict[str, MetricSummary]


class SpiralAssessment(DomainModel):
    """The newest assessment of the customer's Spiral Dynamics level."""

    level: str
    confidence: int | None = Field(default=None, description="0-100 (null: the assessment gives none)")
    assessed_at: UtcDateTime | None = None
    secondary_level: str | None = None
    source: Literal["user_spiral_assessments", "spiral_assessments"]


class SpiralState(DomainModel):
    """Where the customer stands in the Spiral Dynamics journey.

    ``current_level`` is the app's progress level, which sign-up sets to ``orange``; whether that level
    was ever assessed is ``assessment`` (null: never).
    """

    current_level: str | None = None
    current_step: int | None = None
    step_progress: int | None = None
    completed_challenges: list[str] = Field(
        default=[], description="Titles of the newest completed challenges (each once, newest first)"
    )
    completed_challenge_count: int = 0
    total_xp: int = 0
    assessment: SpiralAssessment | None = None


class CoachAction(DomainModel):
    """Something the coach suggested, and whether the customer did it (null: unknown)."""

    id: str
    suggestion: str
    completed: bool | None
    category: str | None
    created_at: UtcDateTime | None
    ai_metadata: dict[str, JsonValue] = {}


class Supplement(DomainModel):
    """A supplement the customer has on hand (quantity null: unknown)."""

    name: str
    dosage: str | None = None
    quantity_on_hand: int | None
