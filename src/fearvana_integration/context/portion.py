"""Everything of a context that comes from the customer store alone, built while CRM and scheduling
are still answering: profile, life areas, entries, spiral state, coach actions, supplements, coaching
records, activity, and which rows could not be read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from pydantic import JsonValue

from fearvana_integration.context.budget import prime_entry_lines
from fearvana_integration.context.coaching import (
    build_assessment,
    build_commitments,
    build_conversation,
    build_daily_tasks,
    build_patterns,
    build_sacred_edge,
    build_suggestions,
    build_wins,
    ever_active,
    last_activity,
)
from fearvana_integration.context.scoring import Observation, score_and_trend
from fearvana_integration.context.summaries import SummaryIndex
from fearvana_integration.context.tokens import Tokenizer
from fearvana_integration.domain.coaching import (
    Commitments,
    ConversationRecency,
    DailyTasks,
    EnhancedSuggestion,
    Pattern,
    SacredEdge,
    Win,
)
from fearvana_integration.domain.customer import (
    CoachAction,
    EmailPreferences,
    Entry,
    EntrySummary,
    LifeArea,
    Profile,
    QuietHours,
    SpiralState,
    Supplement,
)
from fearvana_integration.domain.life_areas import canonical_order, label_for
from fearvana_integration.store.repository import StoreSections
from fearvana_integration.store.rows import LevelRow, ProfileRow, SupplementRow

RECENT_WINDOW = timedelta(days=30)
EMAIL_FREQUENCIES = ("daily", "weekly", "biweekly", "monthly", "never")
log = structlog.get_logger("fearvana_integration.assembler")


def _time_zone(row: ProfileRow) -> str:
    name = row.time_zone or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("invalid time zone in customer_preferences; using UTC", profile_id=str(row.id))
        return "UTC"
    return name


def build_profile(row: ProfileRow, now: datetime) -> Profile:
    """The profile with its preferences (none stored → UTC, opted in, weekly, marked as defaults)."""
    frequency = row.email_frequency or "weekly"
    if frequency not in EMAIL_FREQUENCIES:
        log.warning("invalid email_frequency in customer_preferences; using weekly", profile_id=str(row.id))
        frequency = "weekly"
    quiet = None
    if row.quiet_hours_start is not None and row.quiet_hours_end is not None:
        quiet = QuietHours(start=row.quiet_hours_start, end=row.quiet_hours_end)
    return Profile.model_validate(
        {
            "email": row.email,
            "display_name": row.display_name,
            "avatar_url": row.avatar_url,
            "created_at": row.created_at,
            "account_age": max((now - row.created_at).days, 0) if row.created_at is not None else None,
            "time_zone": _time_zone(row),
            "email_preferences": EmailPreferences.model_validate(
                {
                    "opt_in": True if row.email_opt_in is None else row.email_opt_in,
                    "frequency": frequency,
                    "quiet_hours": quiet,
                    "source": "stored" if row.has_preferences else "default",
                }
            ),
        }
    )


def describe_dosage(schema: JsonValue) -> str | None:
    """A dosage schema (free JSON in the app) as short text.

    The app reads the key ``dosage`` ("5000 IU") as the dosage; a timing or frequency beside it is
    appended ("5000 IU, morning"). Without ``dosage``, amount/unit/timing words are joined ("200 mg
    nightly"); anything else is shown as compact JSON rather than lost.
    """
    if schema is None or schema == {}:
        return None
    if isinstance(schema, str):
        return schema or None
    if isinstance(schema, dict):
        dosage = schema.get("dosage")
        timing = [schema.get(key) for key in ("timing", "frequency", "schedule")]
        extra = [str(value) for value in timing if isinstance(value, str | int | float) and value != ""]
        if isinstance(dosage, str | int | float) and dosage != "":
            return ", ".join([str(dosage), *extra])
        ordered = [schema.get(key) for key in ("amount", "dose", "unit")]
        words = [str(value) for value in ordered if isinstance(value, str | int | float) and value != ""]
        if words:
            return " ".join(words + extra)
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _supplement(row: SupplementRow) -> Supplement:
    return Supplement(name=row.name, dosage=describe_dosage(row.dosage_schema), quantity_on_hand=row.qty_on_hand)


def split_goal(category: str, goal: JsonValue) -> tuple[dict[str, float], str | None]:
    """Numeric targets and the goal's own text (``description``) from ``goal_jsonb``.

    Numbers are targets; a ``description`` string is the goal in words; any other value is legal JSON
    the score cannot use, and is left out of the targets without losing the area.
    """
    if not isinstance(goal, Mapping):
        return {}, None
    targets = {
        key: float(value)
        for key, value in goal.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    description = goal.get("description")
    text = description.strip() if isinstance(description, str) and description.strip() else None
    return canonical_order(category, targets), text


def build_life_areas(categories: list[str], levels: list[LevelRow], entries: list[Entry]) -> list[LifeArea]:
    """One area per value of the database's enum, in the enum's order; an area without a life_levels
    row or without entries is "no data yet"."""
    by_category = {level.category: level for level in levels}
    observations: dict[str, list[Observation]] = {}
    for entry in entries:
        observations.setdefault(entry.category, []).append(Observation(entry.timestamp, entry.metrics))
    order = list(dict.fromkeys([*categories, *by_category]))
    areas = []
    for category in order:
        level = by_category.get(category)
        goal, description = split_goal(category, level.goal_jsonb) if level else ({}, None)
        score, trend = score_and_trend(observations.get(category, []), goal)
        areas.append(
            LifeArea(
                category=category,
                label=label_for(category),
                current_score=score,
                trend=trend,
                goal=goal,
                goal_description=description,
                current_streak=level.current_streak if level else None,
                longest_streak=level.longest_streak if level else None,
                last_updated=level.last_entry_at if level else None,
                entries_last_90_days=len(observations.get(category, [])),
            )
        )
    return areas


@dataclass(frozen=True)
class StorePortion:
    """Everything derived from the store alone, built while the optional sources are still answering."""

    recent: list[Entry]
    older: list[Entry]
    life_areas: list[LifeArea]
    actions: list[CoachAction]
    spiral_state: SpiralState
    supplements: list[Supplement]
    summaries: list[EntrySummary]
    index: SummaryIndex
    sacred_edge: SacredEdge | None
    commitments: Commitments | None
    patterns: list[Pattern]
    wins: list[Win]
    daily_tasks: DailyTasks | None
    suggestions: list[EnhancedSuggestion]
    conversation: ConversationRecency | None
    last_activity_at: datetime | None
    ever_active: bool
    unreadable: dict[str, int]


def build_store_portion(
    profile: Profile, sections: StoreSections, now: datetime, tokenizer: Tokenizer | None = None
) -> StorePortion:
    """Entries split at 30 days, life-area scores, coach actions, spiral state, supplements, summaries,
    the coaching sections and the customer's activity.

    With a tokenizer, the entries' prompt lines are also priced now (memoised), so fitting later is
    cheap: this runs while CRM and scheduling are still on the wire.
    """
    activity, journey = sections.activity, sections.journey
    entries = [
        Entry(category=row.category, timestamp=moment, metrics=canonical_order(row.category, row.metric))
        for row in activity.entries
        if (moment := row.moment) is not None
    ]
    recent = [entry for entry in entries if entry.timestamp >= now - RECENT_WINDOW]
    older = [entry for entry in entries if entry.timestamp < now - RECENT_WINDOW]
    actions = [
        CoachAction(
            id=str(row.id),
            suggestion=row.suggestion,
            completed=row.completed,
            category=row.category,
            created_at=row.ts or row.created_at,
            ai_metadata=row.ai_metadata if isinstance(row.ai_metadata, dict) else {},
        )
        for row in journey.coach_actions
    ]
    spiral = journey.spiral
    index = SummaryIndex([*reversed(older), *reversed(recent)])  # both lists are newest first
    if tokenizer is not None:
        prime_entry_lines(recent, now, tokenizer)
    coaching = journey.coaching
    last_entry_at = max((level.last_entry_at for level in activity.levels if level.last_entry_at), default=None)
    has_entries = last_entry_at is not None or bool(activity.entries)
    turns = coaching.conversation
    return StorePortion(
        recent=recent,
        older=older,
        life_areas=build_life_areas(activity.categories, activity.levels, entries),
        actions=actions,
        spiral_state=SpiralState(
            current_level=spiral.current_level,
            current_step=spiral.current_step,
            step_progress=spiral.step_progress,
            completed_challenges=list(dict.fromkeys(c.title for c in journey.challenges if c.title)),
            completed_challenge_count=journey.challenge_count,
            total_xp=spiral.total_xp or 0,
            assessment=build_assessment(coaching.assessments),
        ),
        supplements=[_supplement(row) for row in journey.supplements],
        summaries=index.oldest(len(older)),
        index=index,
        sacred_edge=build_sacred_edge(coaching),
        commitments=build_commitments(coaching, now),
        patterns=build_patterns(coaching),
        wins=build_wins(coaching),
        daily_tasks=build_daily_tasks(coaching, now, profile.time_zone),
        suggestions=build_suggestions(coaching),
        conversation=build_conversation(coaching),
        last_activity_at=last_activity(journey.activity, last_entry_at, turns.last_customer_turn_at),
        ever_active=ever_active(journey.activity, has_entries, turns.last_customer_turn_at is not None),
        unreadable=_merge(activity.unreadable, journey.unreadable),
    )


def _merge(first: dict[str, int], second: dict[str, int]) -> dict[str, int]:
    merged = dict(first)
    for table, count in second.items():
        merged[table] = merged.get(table, 0) + count
    return merged
