"""Default goals and each metric's direction (SUPABASE.md) — configuration the score formula reads.

``up``: more is better (score = value / target); ``down``: less is better (score = target / value);
``target``: closeness either way (score = 1 - |value - target| / target). Unknown metrics count as ``up``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypeVar

Direction = Literal["up", "down", "target"]
T = TypeVar("T")

DEFAULT_GOALS: Mapping[str, Mapping[str, float]] = {
    "mindset_maturity": {"meditation_minutes": 20, "gratitude_entries": 3, "goal_progress": 80},
    "family_relationships": {"quality_time_hours": 2, "communication_score": 8},
    "money": {"net_worth": 100000, "savings_rate": 20},
    "fitness": {"weight": 180, "body_fat_percentage": 15, "workout_duration": 60},
    "health": {"sleep_hours": 8, "sleep_quality": 8, "stress_level": 3},
    "skill_building": {"study_hours": 1, "courses_completed": 1},
    "fun_joy": {"leisure_hours": 2, "social_activities": 3},
    "peace": {"calm_score": 8, "mindful_minutes": 15},
}

METRIC_DIRECTIONS: Mapping[str, Direction] = {
    "weight": "target",
    "body_fat_percentage": "down",
    "stress_level": "down",
}
"""Metrics whose direction is not the default ``up``."""


def direction_of(metric: str, directions: Mapping[str, Direction] = METRIC_DIRECTIONS) -> Direction:
    """The direction of ``metric`` in ``directions`` (default ``up``)."""
    return directions.get(metric, "up")


def canonical_order(category: str, values: Mapping[str, T]) -> dict[str, T]:
    """``values`` keyed in a stable order: the category's goal metrics as listed above, then the rest
    alphabetically. JSON columns do not keep key order alike on every database (Postgres' jsonb sorts
    them), and the prompt must read the same on SQLite and Postgres."""
    known = list(DEFAULT_GOALS.get(category, {}))
    ordered = {key: values[key] for key in known if key in values}
    ordered.update({key: values[key] for key in sorted(values) if key not in ordered})
    return ordered
