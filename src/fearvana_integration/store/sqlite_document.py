"""The embedded SQLite copy's version of ``integration.customer_document`` (the Postgres function).

Builds the same document — the same keys, the same rows, in the same order — from a fixed number of
statements per section whatever the customer's data size, so both backends give equal contexts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fearvana_integration.domain.life_areas import APP_LIFE_AREAS
from fearvana_integration.store import schema as t

UNDATED_ENTRIES_READ = 100


@dataclass(frozen=True)
class DocumentLimits:
    """What one read covers (the same numbers go to the Postgres function)."""

    now: datetime
    history_start: datetime
    scoring_lookback: timedelta
    max_entries: int
    max_actions: int
    max_challenges: int


def _ts(column: Any) -> Any:
    """An aggregate over a timestamp column, read back as an aware datetime."""
    return sa.type_coerce(column, t.UtcTimestamp)


async def _all(conn: AsyncConnection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in (await conn.execute(query)).mappings()]


async def _one(conn: AsyncConnection, query: sa.Select[Any]) -> dict[str, Any] | None:
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row is not None else None


async def profile_row(
    conn: AsyncConnection, condition: sa.ColumnElement[bool], prefs: sa.Table
) -> dict[str, Any] | None:
    """profiles ⟕ customer_preferences for the one profile matching ``condition``."""
    query = sa.select(
        t.profiles.c.id,
        t.profiles.c.email,
        t.profiles.c.display_name,
        t.profiles.c.avatar_url,
        t.profiles.c.created_at,
        prefs.c.profile_id.is_not(None).label("has_preferences"),
        prefs.c.time_zone,
        prefs.c.email_opt_in,
        prefs.c.email_frequency,
        prefs.c.quiet_hours_start,
        prefs.c.quiet_hours_end,
    ).select_from(t.profiles.outerjoin(prefs, prefs.c.profile_id == t.profiles.c.id))
    return await _one(conn, query.where(condition))


async def activity_document(conn: AsyncConnection, profile: UUID, limits: DocumentLimits) -> dict[str, Any]:
    """``categories``, ``levels``, ``entries`` and ``undated_entries``: three statements."""
    levels = t.life_levels
    newest_entry = sa.select(sa.func.max(t.entries.c.ts)).where(t.entries.c.level_id == levels.c.id).scalar_subquery()
    level_rows = await _all(
        conn,
        sa.select(
            levels.c.id,
            levels.c.category,
            levels.c.goal_jsonb,
            levels.c.updated_at,
            t.streaks.c.current_streak,
            t.streaks.c.longest_streak,
            t.streaks.c.last_activity_date,
            _ts(newest_entry).label("last_entry_at"),
        )
        .select_from(
            levels.outerjoin(
                t.streaks,
                sa.and_(t.streaks.c.profile_id == levels.c.profile_id, t.streaks.c.category == levels.c.category),
            )
        )
        .where(levels.c.profile_id == profile),
    )
    windows = []
    for level in level_rows:
        start = limits.history_start
        if level["last_entry_at"] is not None:
            start = min(start, level["last_entry_at"] - limits.scoring_lookback)
        windows.append(sa.and_(t.entries.c.level_id == level["id"], t.entries.c.ts >= start))
    entries: list[dict[str, Any]] = []
    undated: list[dict[str, Any]] = []
    if windows:
        columns = (levels.c.category, t.entries.c.ts, t.entries.c.created_at, t.entries.c.metric)
        joined = t.entries.join(levels, levels.c.id == t.entries.c.level_id)
        entries = await _all(
            conn,
            sa.select(*columns)
            .select_from(joined)
            .where(sa.or_(*windows))
            .order_by(t.entries.c.ts.desc(), t.entries.c.id)
            .limit(limits.max_entries),
        )
        undated = await _all(
            conn,
            sa.select(*columns)
            .select_from(joined)
            .where(levels.c.profile_id == profile, t.entries.c.ts.is_(None))
            .order_by(t.entries.c.created_at.desc().nulls_last(), t.entries.c.id)
            .limit(UNDATED_ENTRIES_READ),
        )
    # SQLite has no enum: the app's seven areas, then any other value this customer's rows hold.
    categories = list(dict.fromkeys([*APP_LIFE_AREAS, *(str(level["category"]) for level in level_rows)]))
    return {"categories": categories, "levels": level_rows, "entries": entries, "undated_entries": undated}


def _scalar(query: sa.Select[Any], label: str, *, timestamp: bool = False) -> sa.Label[Any]:
    subquery = query.scalar_subquery()
    return (_ts(subquery) if timestamp else subquery).label(label)


async def journey_document(conn: AsyncConnection, profile: UUID, limits: DocumentLimits) -> dict[str, Any]:
    """Everything but the life areas and entries."""
    own_levels = t.life_levels.c.profile_id == profile
    actions = t.coach_actions
    action_time = sa.func.coalesce(actions.c.ts, actions.c.created_at)
    action_join = actions.join(t.life_levels, t.life_levels.c.id == actions.c.level_id)
    completions = t.challenge_completions
    completion_time = sa.func.coalesce(completions.c.completed_at, completions.c.created_at)
    xp, tasks, turns = t.spiral_xp_log, t.daily_tasks, t.akshay_conversations
    commitments, suggestions = t.user_commitments, t.enhanced_coach_suggestions
    journey = t.spiral_journey_states
    open_suggestion = sa.and_(
        suggestions.c.profile_id == profile,
        sa.or_(suggestions.c.dismissed.is_(None), suggestions.c.dismissed == sa.false()),
        sa.or_(suggestions.c.completed.is_(None), suggestions.c.completed == sa.false()),
    )
    since = limits.now - timedelta(days=30)
    count = sa.func.count()
    # Every single value in one statement.
    scalars = await _one(
        conn,
        sa.select(
            _scalar(sa.select(journey.c.current_step).where(journey.c.profile_id == profile), "current_step"),
            _scalar(sa.select(journey.c.step_progress).where(journey.c.profile_id == profile), "step_progress"),
            _scalar(
                sa.select(t.spiral_progress.c.current_level).where(t.spiral_progress.c.profile_id == profile),
                "current_level",
            ),
            _scalar(sa.select(sa.func.coalesce(sa.func.sum(xp.c.xp_amount), 0)).where(xp.c.profile_id == profile),
                    "xp_total"),
            _scalar(sa.select(sa.func.max(xp.c.created_at)).where(xp.c.profile_id == profile), "xp_at", timestamp=True),
            _scalar(sa.select(count).where(xp.c.profile_id == profile), "xp_rows"),
            _scalar(sa.select(count).where(completions.c.profile_id == profile), "challenge_count"),
            _scalar(sa.select(sa.func.max(completion_time)).where(completions.c.profile_id == profile),
                    "challenge_at", timestamp=True),
            _scalar(
                sa.select(count).where(
                    commitments.c.user_id == profile,
                    commitments.c.status == "pending",
                    commitments.c.due_date < limits.now,
                ),
                "overdue_commitments",
            ),
            _scalar(sa.select(count).where(t.user_patterns.c.user_id == profile), "pattern_count"),
            _scalar(sa.select(count).where(t.user_wins.c.user_id == profile), "win_count"),
            _scalar(sa.select(count).select_from(suggestions).where(open_suggestion), "suggestion_count"),
            _scalar(sa.select(sa.func.max(turns.c.created_at)).where(turns.c.user_id == profile), "last_at",
                    timestamp=True),
            _scalar(
                sa.select(sa.func.max(turns.c.created_at)).where(turns.c.user_id == profile, turns.c.role == "user"),
                "last_customer_turn_at",
                timestamp=True,
            ),
            _scalar(sa.select(count).where(turns.c.user_id == profile, turns.c.created_at >= since), "turns_30d"),
            _scalar(
                sa.select(sa.func.count(sa.distinct(sa.func.date(turns.c.created_at)))).where(
                    turns.c.user_id == profile, turns.c.created_at >= since
                ),
                "days_30d",
            ),
            _scalar(
                sa.select(sa.func.max(action_time)).select_from(action_join).where(own_levels, actions.c.completed),
                "completed_action_at",
                timestamp=True,
            ),
            _scalar(
                sa.select(count).select_from(action_join).where(own_levels, actions.c.completed),
                "completed_actions",
            ),
            _scalar(
                sa.select(sa.func.coalesce(tasks.c.updated_at, tasks.c.due_date))
                .where(tasks.c.profile_id == profile, tasks.c.completed)
                .order_by(tasks.c.due_date.desc().nulls_last())
                .limit(1),
                "completed_task_at",
                timestamp=True,
            ),
            _scalar(
                sa.select(tasks.c.id).where(tasks.c.profile_id == profile, tasks.c.completed).limit(1),
                "a_completed_task",
            ),
        ),
    )  # fmt: skip
    assert scalars is not None
    document: dict[str, Any] = {
        "categories": list(APP_LIFE_AREAS),
        "spiral": {
            "current_step": scalars["current_step"],
            "step_progress": scalars["step_progress"],
            "current_level": scalars["current_level"],
            "total_xp": scalars["xp_total"],
        },
        "challenge_count": scalars["challenge_count"],
        "overdue_commitments": scalars["overdue_commitments"],
        "pattern_count": scalars["pattern_count"],
        "win_count": scalars["win_count"],
        "suggestion_count": scalars["suggestion_count"],
        "conversation": {key: scalars[key] for key in ("last_at", "last_customer_turn_at", "turns_30d", "days_30d")},
    }
    document["actions"] = await _all(
        conn,
        sa.select(
            actions.c.id,
            t.life_levels.c.category,
            actions.c.ts,
            actions.c.created_at,
            actions.c.suggestion,
            actions.c.completed,
            actions.c.ai_metadata,
        )
        .select_from(action_join)
        .where(own_levels)
        .order_by(action_time.desc().nulls_last(), actions.c.id)
        .limit(limits.max_actions),
    )
    supplements = t.supplements
    document["supplements"] = await _all(
        conn,
        sa.select(supplements.c.id, supplements.c.name, supplements.c.qty_on_hand, supplements.c.dosage_schema)
        .where(
            supplements.c.profile_id == profile,
            sa.or_(supplements.c.qty_on_hand > 0, supplements.c.qty_on_hand.is_(None)),
        )
        .order_by(supplements.c.name, supplements.c.id),
    )
    document["challenges"] = await _all(
        conn,
        sa.select(
            completions.c.challenge_id,
            t.growth_challenges.c.title,
            completions.c.completed_at,
            completions.c.created_at,
            completions.c.xp_earned,
        )
        .select_from(
            # Only active challenges are readable to customers (the app's policy on the catalogue).
            completions.outerjoin(
                t.growth_challenges,
                sa.and_(
                    t.growth_challenges.c.id == completions.c.challenge_id,
                    t.growth_challenges.c.is_active.is_(True),
                ),
            )
        )
        .where(completions.c.profile_id == profile)
        .order_by(completion_time.desc().nulls_last(), completions.c.id)
        .limit(limits.max_challenges),
    )
    document.update(await _coaching(conn, profile, limits))
    commitment_at = max((c["last_at"] for c in document.pop("_commitment_stats") if c["last_at"]), default=None)
    assessment_at = max((a["assessed_at"] for a in document["assessments"] if a["assessed_at"]), default=None)
    document["activity"] = {
        "completed_action_at": scalars["completed_action_at"],
        "any_completed_action": scalars["completed_actions"] > 0,
        "completed_task_at": scalars["completed_task_at"],
        "any_completed_task": scalars["a_completed_task"] is not None,
        "challenge_at": scalars["challenge_at"],
        "any_challenge": scalars["challenge_count"] > 0,
        "xp_at": scalars["xp_at"],
        "any_xp": scalars["xp_rows"] > 0,
        "commitment_at": commitment_at,
        "any_commitment": bool(document["commitment_counts"]),
        "assessment_at": assessment_at,
        "any_assessment": bool(document["assessments"]),
    }
    return document


async def _coaching(conn: AsyncConnection, profile: UUID, limits: DocumentLimits) -> dict[str, Any]:
    """The coaching records: Sacred Edge, commitments, patterns, wins, assessments, tasks, suggestions."""
    edge = t.user_sacred_edges
    sacred = await _one(
        conn,
        sa.select(
            edge.c.description,
            edge.c.root_fear,
            edge.c.deeper_purpose,
            edge.c.identified_date,
            edge.c.updated_at,
            edge.c.status,
            edge.c.experiments,
        )
        .where(edge.c.user_id == profile)
        .order_by(edge.c.updated_at.desc().nulls_last())
        .limit(1),
    )
    if sacred is not None:
        experiments = sacred.pop("experiments")
        listed = experiments if isinstance(experiments, list) else None
        sacred["experiments_count"] = len(listed) if listed is not None else None
        sacred["latest_experiment"] = listed[-1] if listed else None
    commitments = t.user_commitments
    pending = await _all(
        conn,
        sa.select(
            commitments.c.id,
            commitments.c.description,
            commitments.c.created_at,
            commitments.c.due_date,
            commitments.c.status,
            commitments.c.follow_up_count,
        )
        .where(commitments.c.user_id == profile, commitments.c.status == "pending")
        .order_by(
            commitments.c.due_date.asc().nulls_last(), commitments.c.created_at.desc().nulls_last(), commitments.c.id
        )
        .limit(5),
    )
    commitment_stats = await _all(
        conn,
        sa.select(
            commitments.c.status,
            sa.func.count().label("count"),
            # SQLite's two-argument max() is NULL when either is: compare the two with NULLs filled in.
            _ts(
                sa.func.max(
                    sa.func.max(
                        sa.func.coalesce(commitments.c.created_at, commitments.c.completed_at),
                        sa.func.coalesce(commitments.c.completed_at, commitments.c.created_at),
                    )
                )
            ).label("last_at"),
        )
        .where(commitments.c.user_id == profile)
        .group_by(commitments.c.status),
    )
    patterns = t.user_patterns
    columns = (
        patterns.c.id,
        patterns.c.pattern_type,
        patterns.c.description,
        patterns.c.occurrences,
        patterns.c.first_seen,
        patterns.c.last_seen,
        patterns.c.severity,
    )
    severity_rank = sa.case(
        (patterns.c.severity == "high", 0),
        (patterns.c.severity == "medium", 1),
        (patterns.c.severity == "low", 2),
        else_=3,
    )
    pattern_rows = await _all(
        conn,
        sa.select(*columns)
        .where(patterns.c.user_id == profile, patterns.c.pattern_type != "breakthrough")
        .order_by(
            severity_rank, patterns.c.last_seen.desc().nulls_last(), patterns.c.occurrences.desc().nulls_last(),
            patterns.c.id,
        )
        .limit(3),
    )  # fmt: skip
    pattern_rows += await _all(
        conn,
        sa.select(*columns)
        .where(patterns.c.user_id == profile, patterns.c.pattern_type == "breakthrough")
        .order_by(patterns.c.last_seen.desc().nulls_last(), patterns.c.id)
        .limit(1),
    )
    wins = t.user_wins
    win_rows = await _all(
        conn,
        sa.select(wins.c.id, wins.c.description, wins.c.category, wins.c.impact, wins.c.created_at)
        .where(wins.c.user_id == profile)
        .order_by(wins.c.created_at.desc().nulls_last(), wins.c.id)
        .limit(3),
    )
    return {
        "sacred_edge": sacred,
        "commitments": pending,
        "commitment_counts": [{"status": row["status"], "count": row["count"]} for row in commitment_stats],
        "_commitment_stats": commitment_stats,
        "patterns": pattern_rows,
        "wins": win_rows,
        "assessments": await _assessments(conn, profile),
        "tasks": await _tasks(conn, profile, limits),
        "suggestions": await _suggestions(conn, profile),
    }


async def _assessments(conn: AsyncConnection, profile: UUID) -> list[dict[str, Any]]:
    newest = t.user_spiral_assessments
    legacy = t.spiral_assessments
    rows: list[dict[str, Any]] = []
    user_row = await _one(
        conn,
        sa.select(
            newest.c.spiral_level.label("level"), newest.c.confidence_score.label("confidence"), newest.c.assessed_at
        )
        .where(newest.c.user_id == profile)
        .order_by(newest.c.assessed_at.desc().nulls_last())
        .limit(1),
    )
    if user_row is not None:
        rows.append({"source": "user_spiral_assessments", "secondary_level": None, **user_row})
    legacy_row = await _one(
        conn,
        sa.select(
            legacy.c.primary_level.label("level"), legacy.c.secondary_level, legacy.c.created_at.label("assessed_at")
        )
        .where(legacy.c.profile_id == profile)
        .order_by(legacy.c.created_at.desc().nulls_last())
        .limit(1),
    )
    if legacy_row is not None:
        rows.append({"source": "spiral_assessments", "confidence": None, **legacy_row})
    return rows


async def _tasks(conn: AsyncConnection, profile: UUID, limits: DocumentLimits) -> list[dict[str, Any]]:
    tasks = t.daily_tasks
    today = limits.now.date()
    columns: Sequence[Any] = (
        tasks.c.id,
        tasks.c.title,
        tasks.c.description,
        tasks.c.points,
        tasks.c.completed,
        tasks.c.due_date,
        t.life_levels.c.category,
    )
    joined = tasks.outerjoin(t.life_levels, t.life_levels.c.id == tasks.c.level_id)
    recent = await _all(
        conn,
        sa.select(*columns)
        .select_from(joined)
        .where(
            tasks.c.profile_id == profile,
            tasks.c.due_date.between(today - timedelta(days=8), today + timedelta(days=2)),
        ),
    )
    overdue = await _all(
        conn,
        sa.select(*columns)
        .select_from(joined)
        .where(
            tasks.c.profile_id == profile,
            tasks.c.due_date < today - timedelta(days=8),
            sa.or_(tasks.c.completed.is_(None), tasks.c.completed == sa.false()),
        )
        .order_by(tasks.c.due_date.desc())
        .limit(10),
    )
    return recent + overdue


async def _suggestions(conn: AsyncConnection, profile: UUID) -> list[dict[str, Any]]:
    suggestions = t.enhanced_coach_suggestions
    return await _all(
        conn,
        sa.select(
            suggestions.c.id,
            suggestions.c.title,
            suggestions.c.description,
            suggestions.c.estimated_time,
            suggestions.c.difficulty,
            suggestions.c.impact,
            suggestions.c.suggestion_type,
            t.life_levels.c.category,
            suggestions.c.created_at,
        )
        .select_from(suggestions.outerjoin(t.life_levels, t.life_levels.c.id == suggestions.c.level_id))
        .where(
            suggestions.c.profile_id == profile,
            sa.or_(suggestions.c.dismissed.is_(None), suggestions.c.dismissed == sa.false()),
            sa.or_(suggestions.c.completed.is_(None), suggestions.c.completed == sa.false()),
        )
        .order_by(suggestions.c.created_at.desc().nulls_last(), suggestions.c.id)
        .limit(5),
    )
