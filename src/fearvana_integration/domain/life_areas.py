"""The life areas as the Fearvana app defines them: keys, labels, default goals, metric directions.

The database's enum ``life_level_category`` has 7 values; the app shows ``fun_joy`` as "Peace". A
database with more values gets them too (:func:`label_for` makes a label from an unknown key).

Score directions: ``up`` — more is better (score = value / target); ``down`` — less is better
(score = target / value); ``target`` — closeness either way (score = 1 - |value - target| / target).
Unknown metrics count as ``up``. The direction table is configuration the score formula reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, TypeVar

Direction = Literal["up", "down", "target"]
T = TypeVar("T")

LIFE_AREA_LABELS: Mapping[str, str] = {
    "mindset_maturity": "Mindset",
    "family_relationships": "Relationships",
    "money": "Wealth",
    "fitness": "Fitness",
    "health": "Health",
    "skill_building": "Career",
    "fun_joy": "Peace",
}
"""The 7 values of the app's enum, in the enum's order, with the names the app shows customers."""

APP_LIFE_AREAS: tuple[str, ...] = tuple(LIFE_AREA_LABELS)

DEFAULT_GOALS: Mapping[str, Mapping[str, float]] = {
    "mindset_maturity": {"meditation_minutes": 20, "gratitude_entries": 3, "goal_progress": 80},
    "family_relationships": {"quality_time_hours": 2, "communication_score": 8},
    "money": {"net_worth": 100000, "savings_rate": 20},
    "fitness": {"weight": 180, "body_fat_percentage": 15, "workout_duration": 60},
    "health": {"sleep_hours": 8, "sleep_quality": 8, "stress_level": 3},
    "skill_building": {"study_hours": 1, "courses_completed": 1},
    "fun_joy": {"leisure_hours": 2, "social_activities": 3},
}
"""The goals the app's sign-up trigger writes for every new customer."""

METRIC_DIRECTIONS: Mapping[str, Direction] = {
    "weight": "target",
    "body_fat_percentage": "down",
    "stress_level": "down",
}
"""Metrics whose direction is not the default ``up``."""


def label_for(category: str) -> str:
    """The name customers see for ``category`` (``fun_joy`` → "Peace"; unknown keys title-cased)."""
    known = LIFE_AREA_LABELS.get(category)
    if known is not None:
        return known
    return " ".join(word.capitalize() for word in category.replace("-", "_").split("_") if word) or category


def ordered_categories(database_values: Iterable[str]) -> tuple[str, ...]:
    """The database's enum values, duplicates removed, in the order given."""
    return tuple(dict.fromkeys(database_values))


def direction_of(metric: str, directions: Mapping[str, Direction] = METRIC_DIRECTIONS) -> Direction:
    """The direction of ``metric`` in ``directions`` (default ``up``)."""
    return directions.get(metric, "up")


def canonical_order(category: str, values: Mapping[str, T]) -> dict[str, T]:
    """``values`` keyed in a stable order: the category's default goal metrics first, then the rest
    alphabetically. JSON columns do not keep key order alike on every database (Postgres' jsonb sorts
    them), and the prompt must read the same on SQLite and Postgres."""
    known = list(DEFAULT_GOALS.get(category, {}))
    ordered = {key: values[key] for key in known if key in values}
    ordered.update({key: values[key] for key in sorted(values) if key not in ordered})
    return ordered
