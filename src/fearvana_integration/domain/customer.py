"""The customer's own data: profile, life areas, entries, spiral journey, coach actions, supplements."""

from __future__ import annotations

from datetime import time
from typing import Literal
from uuid import UUID

from pydantic import Field, JsonValue

from fearvana_integration.domain.base import DomainModel, UtcDateTime

LifeAreaCategory = Literal[
    "mindset_maturity",
    "family_relationships",
    "money",
    "fitness",
    "health",
    "skill_building",
    "peace",
    "fun_joy",
]

LIFE_AREA_LABELS: dict[str, str] = {
    "mindset_maturity": "Mindset",
    "family_relationships": "Relationships",
    "money": "Wealth",
    "fitness": "Fitness",
    "health": "Health",
    "skill_building": "Career",
    "peace": "Peace",
    "fun_joy": "Fun & Joy",
}
"""All 8 life areas in their canonical order, enum key → display name."""

LIFE_AREA_ORDER: tuple[str, ...] = tuple(LIFE_AREA_LABELS)

Trend = Literal["up", "down", "stable"]
EmailFrequency = Literal["daily", "weekly", "monthly", "never"]
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
    """The customer's email choices (project table ``customer_preferences``; missing → opted in, weekly)."""

    opt_in: bool = True
    frequency: EmailFrequency = "weekly"
    quiet_hours: QuietHours | None = None


class Profile(DomainModel):
    """Who the customer is."""

    email: str
    display_name: str | None
    avatar_url: str | None = None
    created_at: UtcDateTime
    account_age: int = Field(description="Whole days since the account was created")
    time_zone: str = "UTC"
    email_preferences: EmailPreferences = EmailPreferences()


class LifeArea(DomainModel):
    """One of the 8 life areas with its score (0-100 against the goals) and trend."""

    category: LifeAreaCategory
    label: str
    current_score: int | None = Field(description="0-100; null while the area has no data")
    trend: Trend | None
    goal: dict[str, float]
    current_streak: int = 0
    longest_streak: int = 0
    last_updated: UtcDateTime | None = None
    total_entries: int = 0


class Entry(DomainModel):
    """One tracking entry: metric → value at a time."""

    category: LifeAreaCategory
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

    category: LifeAreaCategory
    count: int
    from_: UtcDateTime = Field(alias="from")
    to: UtcDateTime
    metrics: dict[str, MetricSummary]


class SpiralState(DomainModel):
    """Where the customer stands in the Spiral Dynamics journey."""

    current_level: str | None = None
    current_step: int | None = None
    step_progress: int | None = None
    completed_challenges: list[str] = []
    total_xp: int = 0


class CoachAction(DomainModel):
    """Something the coach suggested, and whether the customer did it."""

    id: str
    suggestion: str
    completed: bool
    category: LifeAreaCategory | None
    created_at: UtcDateTime
    ai_metadata: dict[str, JsonValue] = {}


class Supplement(DomainModel):
    """A supplement the customer has on hand."""

    name: str
    dosage: str | None = None
    quantity_on_hand: int
