"""Building contexts directly (no database) for render and budget tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from fearvana_integration.context.budget import FullContext
from fearvana_integration.context.summaries import summarise_entries
from fearvana_integration.domain.coaching import (
    Commitments,
    ConversationRecency,
    DailyTasks,
    EnhancedSuggestion,
    Pattern,
    SacredEdge,
    Win,
)
from fearvana_integration.domain.context import CustomerContext, NoteForAi, SourceFreshness
from fearvana_integration.domain.crm import CRMContext, Ticket
from fearvana_integration.domain.customer import (
    CoachAction,
    Entry,
    LifeArea,
    Profile,
    SpiralState,
    Supplement,
)
from fearvana_integration.domain.life_areas import DEFAULT_GOALS, LIFE_AREA_LABELS
from fearvana_integration.domain.scheduling import Appointment, build_scheduling_context

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
CUSTOMER = UUID("0f8e0000-0000-4000-8000-000000000001")


def appointment(hours_from_now: float, status: str = "scheduled", notes: str | None = None) -> Appointment:
    start = NOW + timedelta(hours=hours_from_now)
    return Appointment.model_validate(
        {
            "id": f"a{hours_from_now}",
            "customer_id": CUSTOMER,
            "type": "coaching-session",
            "start_time": start,
            "end_time": start + timedelta(hours=1),
            "duration": 60,
            "status": status,
            "notes": notes,
            "outcome": "Goal adjusted" if status == "completed" else None,
            "provider_ref": "test",
        }
    )


def make_context(
    *,
    name: str | None = "Dana Demo",
    entries: list[Entry] | None = None,
    older: list[Entry] | None = None,
    actions: list[CoachAction] | None = None,
    tickets: list[Ticket] | None = None,
    notes: list[NoteForAi] | None = None,
    supplements: list[Supplement] | None = None,
    sessions: bool = True,
    session_notes: str | None = "Worked on the morning routine.",
    crm: bool = True,
    sacred_edge: SacredEdge | None = None,
    commitments: Commitments | None = None,
    patterns: list[Pattern] | None = None,
    wins: list[Win] | None = None,
    suggestions: list[EnhancedSuggestion] | None = None,
    daily_tasks: DailyTasks | None = None,
    conversation: ConversationRecency | None = None,
) -> FullContext:
    """A full (unfitted) context with the given pieces."""
    older = older or []
    areas = [
        LifeArea.model_validate(
            {
                "category": category,
                "label": label,
                "current_score": 40 + 7 * index,
                "trend": ("up", "down", "stable")[index % 3],
                "goal": dict(DEFAULT_GOALS[category]),
                "current_streak": index,
                "longest_streak": 2 * index,
                "last_updated": NOW - timedelta(days=index),
                "entries_last_90_days": 10 * index,
            }
        )
        for index, (category, label) in enumerate(LIFE_AREA_LABELS.items())
    ]
    scheduling = None
    if sessions:
        scheduling = build_scheduling_context(
            [appointment(20), appointment(24 * 8)],
            [appointment(-24 * 7 * i, "completed", session_notes) for i in range(1, 7)],
            6,
            NOW,
        )
    context = CustomerContext(
        customer_id=CUSTOMER,
        retrieved_at=NOW,
        token_count=0,
        max_tokens=8000,
        profile=Profile(
            email="dana@example.com",
            display_name=name,
            created_at=NOW - timedelta(days=268),
            account_age=268,
            time_zone="Europe/Berlin",
        ),
        life_areas=areas,
        recent_entries=entries or [],
        entry_summaries=summarise_entries(older),
        spiral_state=SpiralState(
            current_level="orange", current_step=3, step_progress=40, completed_challenges=["c1", "c2"], total_xp=1240
        ),
        coach_actions=actions or [],
        supplements=supplements or [],
        sacred_edge=sacred_edge,
        commitments=commitments,
        patterns=patterns or [],
        wins=wins or [],
        enhanced_suggestions=suggestions or [],
        daily_tasks=daily_tasks,
        conversation=conversation,
        crm_context=CRMContext(
            lifecycle_stage="active",
            tags=["newsletter"],
            sentiment="positive",
            last_interaction=NOW - timedelta(days=2),
            open_tickets=len(tickets or []),
            tickets=tickets or [],
        )
        if crm
        else None,
        scheduling_context=scheduling,
        freshness={"profile": SourceFreshness(source="supabase", fetched_at=NOW)},
        notes_for_ai=notes or [],
    )
    return FullContext(context=context, older_entries=older)


def entry(hours_ago: float, category: str = "fitness", **metrics: float | str) -> Entry:
    return Entry.model_validate(
        {"category": category, "timestamp": NOW - timedelta(hours=hours_ago), "metrics": metrics or {"x": 1}}
    )


def action(hours_ago: float, text: str, completed: bool = False) -> CoachAction:
    return CoachAction(
        id=f"act-{hours_ago}",
        suggestion=text,
        completed=completed,
        category="health",
        created_at=NOW - timedelta(hours=hours_ago),
    )
