"""The coaching sections of a context, built from the store's coaching records.

Each builder returns ``None`` / ``[]`` when the customer has no such record: nothing is invented.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import JsonValue

from fearvana_integration.domain.coaching import (
    Commitment,
    Commitments,
    ConversationRecency,
    DailyTask,
    DailyTasks,
    EnhancedSuggestion,
    Pattern,
    SacredEdge,
    Win,
)
from fearvana_integration.domain.customer import SpiralAssessment
from fearvana_integration.store.repository import CoachingSections
from fearvana_integration.store.rows import ActivityRow, AssessmentRow, TaskRow

PATTERNS_SHOWN = 3
TASK_RATE_DAYS = 7
OVERDUE_TASKS_SHOWN = 5
_EXPERIMENT_TEXT_KEYS = ("description", "title", "name", "experiment", "text", "summary")


def describe_experiment(value: JsonValue) -> str | None:
    """An experiment (free JSON in the app) as one text: its description or title, else compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        for key in _EXPERIMENT_TEXT_KEYS:
            text = value.get(key)
            if isinstance(text, str) and text.strip():
                return text
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def build_sacred_edge(coaching: CoachingSections) -> SacredEdge | None:
    """The customer's Sacred Edge, or None when none was identified."""
    row = coaching.sacred_edge
    if row is None:
        return None
    return SacredEdge(
        description=row.description,
        root_fear=row.root_fear or None,
        deeper_purpose=row.deeper_purpose or None,
        status=row.status,
        identified_date=row.identified_date,
        updated_at=row.updated_at,
        experiments_count=row.experiments_count,
        latest_experiment=describe_experiment(row.latest_experiment),
    )


def build_commitments(coaching: CoachingSections, now: datetime) -> Commitments | None:
    """Pending commitments (nearest first, overdue flagged), counts and follow-through; None when the
    customer never made one."""
    counts = {row.status: row.count for row in coaching.commitment_counts}
    if not counts:
        return None
    completed, broken = counts.get("completed", 0), counts.get("broken", 0)
    pending = [
        Commitment(
            id=str(row.id),
            description=row.description,
            created_at=row.created_at,
            due_date=row.due_date,
            overdue=row.due_date is not None and row.due_date < now,
            follow_up_count=row.follow_up_count,
        )
        for row in coaching.commitments
    ]
    return Commitments(
        pending=pending,
        pending_count=counts.get("pending", 0),
        overdue_count=coaching.overdue_commitments,
        completed_count=completed,
        broken_count=broken,
        follow_through_rate=round(completed / (completed + broken), 3) if completed + broken else None,
    )


def build_patterns(coaching: CoachingSections) -> list[Pattern]:
    """The three patterns that matter most: the most severe (newest first among equals), and the newest
    breakthrough when there is one."""
    challenges = [row for row in coaching.patterns if row.pattern_type != "breakthrough"]
    breakthroughs = [row for row in coaching.patterns if row.pattern_type == "breakthrough"]
    chosen = challenges[: PATTERNS_SHOWN - 1] + breakthroughs[:1] if breakthroughs else challenges[:PATTERNS_SHOWN]
    return [
        Pattern(
            type=row.pattern_type,
            description=row.description,
            occurrences=row.occurrences,
            severity=row.severity,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
        )
        for row in chosen
    ]


def build_wins(coaching: CoachingSections) -> list[Win]:
    """The newest wins (three at most)."""
    return [
        Win(description=row.description, category=row.category, impact=row.impact, created_at=row.created_at)
        for row in coaching.wins
    ]


def _task(row: TaskRow) -> DailyTask:
    return DailyTask(
        title=row.title,
        description=row.description or None,
        due_date=row.due_date,
        completed=row.completed,
        points=row.points,
        category=row.category,
    )


def local_today(now: datetime, time_zone: str) -> date:
    """The customer's calendar day at ``now``."""
    return now.astimezone(ZoneInfo(time_zone)).date()


def build_daily_tasks(coaching: CoachingSections, now: datetime, time_zone: str) -> DailyTasks | None:
    """Today's tasks (the customer's today), overdue open ones, and the 7-day completion rate; None when
    the customer has no task in that time."""
    today = local_today(now, time_zone)
    rows = sorted(coaching.tasks, key=lambda r: (r.due_date or date.min, r.title, str(r.id)))
    due_today = [_task(r) for r in rows if r.due_date == today]
    overdue = [_task(r) for r in reversed(rows) if r.due_date is not None and r.due_date < today and not r.completed]
    window = [
        r for r in rows if r.due_date is not None and today - timedelta(days=TASK_RATE_DAYS - 1) <= r.due_date <= today
    ]
    if not due_today and not overdue and not window:
        return None
    rate = round(sum(1 for r in window if r.completed) / len(window), 3) if window else None
    return DailyTasks(
        today=today,
        due_today=due_today,
        overdue=overdue[:OVERDUE_TASKS_SHOWN],
        overdue_count=len(overdue),
        completion_rate_7_days=rate,
    )


def build_suggestions(coaching: CoachingSections) -> list[EnhancedSuggestion]:
    """The newest open suggestions of the app's coach."""
    return [
        EnhancedSuggestion(
            id=str(row.id),
            title=row.title,
            description=row.description,
            estimated_time=row.estimated_time,
            difficulty=row.difficulty,
            impact=row.impact,
            type=row.suggestion_type,
            category=row.category,
            created_at=row.created_at,
        )
        for row in coaching.suggestions
    ]


def build_conversation(coaching: CoachingSections) -> ConversationRecency | None:
    """Conversation recency; None when the customer never talked with the coach."""
    row = coaching.conversation
    if row.last_at is None and row.turns_30d == 0:
        return None
    return ConversationRecency(
        last_conversation_at=row.last_at,
        last_customer_message_at=row.last_customer_turn_at,
        messages_last_30_days=row.turns_30d,
        days_with_conversation_last_30_days=row.days_30d,
    )


def build_assessment(rows: list[AssessmentRow]) -> SpiralAssessment | None:
    """The newest assessment: the coaching table's when there is one, else the older assessment table's."""
    for source in ("user_spiral_assessments", "spiral_assessments"):
        for row in rows:
            if row.source == source:
                return SpiralAssessment(
                    level=row.level,
                    confidence=row.confidence,
                    assessed_at=row.assessed_at,
                    secondary_level=row.secondary_level,
                    source=source,
                )
    return None


def last_activity(
    activity: ActivityRow, last_entry_at: datetime | None, last_turn_at: datetime | None
) -> datetime | None:
    """When the customer last did anything: entries, completed coach actions or tasks, challenges, XP,
    commitments, assessments, their own conversation turns."""
    moments = [
        last_entry_at,
        activity.completed_action_at,
        activity.completed_task_at,
        activity.challenge_at,
        activity.xp_at,
        activity.commitment_at,
        activity.assessment_at,
        last_turn_at,
    ]
    return max((m for m in moments if m is not None), default=None)


def ever_active(activity: ActivityRow, has_entries: bool, has_turns: bool) -> bool:
    """Whether the customer ever did anything at all (rows the sign-up trigger creates do not count)."""
    return (
        has_entries
        or has_turns
        or activity.any_completed_action
        or activity.any_completed_task
        or activity.any_challenge
        or activity.any_xp
        or activity.any_commitment
        or activity.any_assessment
    )
