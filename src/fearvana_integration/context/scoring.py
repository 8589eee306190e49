"""Life-area score and trend, and per-metric summaries.

Score of one metric against its goal (0-100, capped): ``up`` → 100·value/target; ``down`` → 100 when
value ≤ target, else 100·target/value; ``target`` → 100·(1 − |value − target| / |target|).
The value of a metric is the mean of its numeric values in the *scoring window*: the 7 days ending at
the area's newest entry (so an inactive customer keeps the score of their last activity, and
``lastUpdated`` tells how old it is). The area score is the rounded mean over the goal metrics that
have values. Trend compares that score with the one of the 7 days before: a difference of at least
5 points is ``up`` or ``down``, otherwise (or without earlier data) ``stable``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import fmean

from fearvana_integration.domain.customer import MetricValue, Trend
from fearvana_integration.domain.life_areas import METRIC_DIRECTIONS, Direction, direction_of

SCORING_WINDOW = timedelta(days=7)
TREND_THRESHOLD_POINTS = 5.0
SUMMARY_TREND_THRESHOLD = 0.05


@dataclass(frozen=True)
class Observation:
    """One entry's metric values at a time."""

    timestamp: datetime
    metrics: Mapping[str, MetricValue]


def numeric(value: MetricValue) -> float | None:
    """The value as a finite float, or None for booleans, text, nulls, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def metric_score(value: float, target: float, direction: Direction) -> float:
    """0-100 closeness of ``value`` to ``target`` in ``direction``."""
    if direction == "up":
        if target <= 0:
            return 100.0 if value >= target else 0.0
        raw = 100.0 * value / target
    elif direction == "down":
        if value <= target:
            return 100.0
        raw = 0.0 if value <= 0 else 100.0 * target / value
    else:
        if target == 0:
            return 100.0 if value == 0 else 0.0
        raw = 100.0 * (1.0 - abs(value - target) / abs(target))
    return max(0.0, min(100.0, raw))


def _window_means(observations: Iterable[Observation], start: datetime, end: datetime) -> dict[str, float]:
    values: dict[str, list[float]] = {}
    for obs in observations:
        if start < obs.timestamp <= end:
            for name, raw in obs.metrics.items():
                number = numeric(raw)
                if number is not None:
                    values.setdefault(name, []).append(number)
    return {name: fmean(vals) for name, vals in values.items()}


def area_score(
    means: Mapping[str, float], goal: Mapping[str, float], directions: Mapping[str, Direction] = METRIC_DIRECTIONS
) -> float | None:
    """Mean metric score over the goal metrics present in ``means``; None when none is."""
    scores = [
        metric_score(means[name], float(target), direction_of(name, directions))
        for name, target in goal.items()
        if name in means
    ]
    return fmean(scores) if scores else None


def score_between(
    observations: Iterable[Observation],
    goal: Mapping[str, float],
    start: datetime,
    end: datetime,
    directions: Mapping[str, Direction] = METRIC_DIRECTIONS,
) -> float | None:
    """The area's (unrounded) score over the observations in ``(start, end]``; None without data."""
    return area_score(_window_means(observations, start, end), goal, directions)


def score_and_trend(
    observations: Sequence[Observation],
    goal: Mapping[str, float],
    directions: Mapping[str, Direction] = METRIC_DIRECTIONS,
) -> tuple[int | None, Trend | None]:
    """(score, trend) of one life area from its observations; (None, None) without scorable data."""
    if not observations:
        return None, None
    newest = max(obs.timestamp for obs in observations)
    current = area_score(_window_means(observations, newest - SCORING_WINDOW, newest), goal, directions)
    if current is None:
        return None, None
    previous = area_score(
        _window_means(observations, newest - 2 * SCORING_WINDOW, newest - SCORING_WINDOW), goal, directions
    )
    trend: Trend = "stable"
    if previous is not None:
        if current - previous >= TREND_THRESHOLD_POINTS:
            trend = "up"
        elif previous - current >= TREND_THRESHOLD_POINTS:
            trend = "down"
    return math.floor(current + 0.5), trend  # half up: 62.5 → 63, as people round
