"""Life-area score and trend on hand-worked examples (formulas in context/scoring.py and the README)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fearvana_integration.context.scoring import Observation, metric_score, score_and_trend
from fearvana_integration.context.summaries import SummaryIndex, summarise_entries
from fearvana_integration.domain.customer import Entry

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)


def obs(days_ago: float, **metrics: float) -> Observation:
    return Observation(T0 - timedelta(days=days_ago), metrics)


@pytest.mark.parametrize(
    ("value", "target", "direction", "expected"),
    [
        (10, 20, "up", 50.0),  # meditation 10 of 20 minutes
        (30, 20, "up", 100.0),  # capped at 100
        (-5, 20, "up", 0.0),  # never negative
        (3, 3, "down", 100.0),  # stress at target
        (6, 3, "down", 50.0),  # stress twice the target
        (12, 15, "down", 100.0),  # body fat under target
        (180, 180, "target", 100.0),  # weight on target
        (198, 180, "target", 90.0),  # 18 over 180 → 1 - 0.1
        (162, 180, "target", 90.0),  # 18 under: same distance, same score
        (400, 180, "target", 0.0),  # far off: floor at 0
    ],
)
def test_metric_score(value: float, target: float, direction: str, expected: float) -> None:
    assert metric_score(value, target, direction) == pytest.approx(expected)  # type: ignore[arg-type]


def test_area_score_is_mean_of_goal_metrics_over_the_last_seven_days() -> None:
    goal = {"sleep_hours": 8, "sleep_quality": 8, "stress_level": 3}
    observations = [
        obs(0, sleep_hours=8, stress_level=6),  # sleep 100, stress 50
        obs(2, sleep_hours=6, sleep_quality=4),  # sleep mean (8+6)/2=7 → 87.5; quality 4/8 → 50
    ]
    # (87.5 + 50 + 50) / 3 = 62.5 → rounds half up to 63
    score, trend = score_and_trend(observations, goal)
    assert score == 63
    assert trend == "stable"  # no earlier week to compare with


def test_trend_compares_with_the_week_before() -> None:
    goal = {"workout_duration": 60}
    improving = [obs(1, workout_duration=60), obs(9, workout_duration=30)]  # 100 vs 50
    declining = [obs(1, workout_duration=30), obs(9, workout_duration=60)]
    steady = [obs(1, workout_duration=42), obs(9, workout_duration=40)]  # 70 vs 66.7: < 5 points
    assert score_and_trend(improving, goal) == (100, "up")
    assert score_and_trend(declining, goal) == (50, "down")
    assert score_and_trend(steady, goal) == (70, "stable")


def test_window_ends_at_the_newest_entry_so_inactive_customers_keep_a_score() -> None:
    goal = {"calm_score": 8}
    old = [obs(45, calm_score=4), obs(47, calm_score=8)]
    assert score_and_trend(old, goal) == (75, "stable")


def test_no_scorable_data_gives_no_score() -> None:
    assert score_and_trend([], {"a": 1}) == (None, None)
    assert score_and_trend([obs(0, other=5)], {"a": 1}) == (None, None)  # metric not in the goal
    assert score_and_trend([obs(0, journal="text")], {"journal": 1}) == (None, None)  # text is not a number


def test_unknown_metrics_count_as_more_is_better() -> None:
    assert score_and_trend([obs(0, pages_read=5)], {"pages_read": 10}) == (50, "stable")


def entry(days_ago: float, **metrics: float) -> Entry:
    return Entry(category="health", timestamp=T0 - timedelta(days=days_ago), metrics=metrics)


def test_summary_statistics_and_trend() -> None:
    entries = [entry(4, sleep_hours=6), entry(3, sleep_hours=6.5), entry(2, sleep_hours=7.5), entry(1, sleep_hours=8)]
    (summary,) = summarise_entries(entries)
    stats = summary.metrics["sleep_hours"]
    assert (summary.count, summary.from_, summary.to) == (4, T0 - timedelta(days=4), T0 - timedelta(days=1))
    assert (stats.mean, stats.min, stats.max, stats.trend) == (7.0, 6.0, 8.0, "up")  # 7.75 vs 6.25
    flat = summarise_entries([entry(2, x=10), entry(1, x=10.2)])[0].metrics["x"]
    assert flat.trend == "stable"  # +2 % is within ±5 %


def test_summaries_of_any_oldest_prefix_match_summarising_that_prefix() -> None:
    entries = [entry(10 - i * 0.5, sleep_hours=5 + (i % 4), stress_level=i % 7) for i in range(20)]
    index = SummaryIndex(entries)
    for count in range(1, 21):
        assert index.oldest(count) == summarise_entries(entries[:count])
