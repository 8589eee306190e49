"""The customer's coaching records in the Fearvana app: Sacred Edge, commitments, patterns, wins, daily
tasks, the coach's open suggestions and how recently they talked with the coach.

Free text in these (descriptions, titles, experiments) comes from the customer or the coach: the
prompt fences it as quoted data. Conversation content is never read, only its recency.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from fearvana_integration.domain.base import DomainModel, UtcDateTime


class SacredEdge(DomainModel):
    """The fear the customer is learning to move toward, and why: the heart of Fearvana's coaching."""

    description: str
    root_fear: str | None = None
    deeper_purpose: str | None = None
    status: str | None = Field(default=None, description="identified | exploring | engaging | integrated")
    identified_date: UtcDateTime | None = None
    updated_at: UtcDateTime | None = None
    experiments_count: int | None = Field(default=None, description="Experiments tried (null: unknown)")
    latest_experiment: str | None = None


class Commitment(DomainModel):
    """A commitment the customer made and has not yet kept or broken."""

    id: str
    description: str
    created_at: UtcDateTime | None = None
    due_date: UtcDateTime | None = None
    overdue: bool = False
    follow_up_count: int | None = None


class Commitments(DomainModel):
    """Pending commitments (the nearest five, overdue first) and the customer's follow-through.

    ``follow_through_rate`` is completed ÷ (completed + broken), as the app defines it; null while no
    commitment was kept or broken yet (the app shows 0 then, which would read as "never follows through").
    """

    pending: list[Commitment] = []
    pending_count: int = 0
    overdue_count: int = 0
    completed_count: int = 0
    broken_count: int = 0
    follow_through_rate: float | None = None


class Pattern(DomainModel):
    """A behaviour pattern the coach noticed (avoidance, resistance, recurring challenge, breakthrough)."""

    type: str
    description: str
    occurrences: int | None = None
    severity: str | None = None
    first_seen: UtcDateTime | None = None
    last_seen: UtcDateTime | None = None


class Win(DomainModel):
    """Something the customer achieved."""

    description: str
    category: str | None = Field(default=None, description="sacred_edge | commitment | breakthrough | small_win")
    impact: str | None = Field(default=None, description="small | medium | large")
    created_at: UtcDateTime | None = None


class DailyTask(DomainModel):
    """One daily task."""

    title: str
    description: str | None = None
    due_date: date | None = None
    completed: bool | None = None
    points: int | None = None
    category: str | None = None


class DailyTasks(DomainModel):
    """Today's tasks (in the customer's time zone) and older ones still open."""

    today: date
    due_today: list[DailyTask] = []
    overdue: list[DailyTask] = Field(default=[], description="The newest open tasks of earlier days")
    overdue_count: int = 0
    completion_rate_7_days: float | None = Field(
        default=None, description="Completed ÷ due over the last 7 days incl. today (null: none due)"
    )


class EnhancedSuggestion(DomainModel):
    """An open (not dismissed, not completed) suggestion of the app's coach."""

    id: str
    title: str
    description: str
    estimated_time: str | None = None
    difficulty: str | None = None
    impact: str | None = None
    type: str | None = None
    category: str | None = None
    created_at: UtcDateTime | None = None


class ConversationRecency(DomainModel):
    """How recently and how often the customer talked with the coach (never what was said)."""

    last_conversation_at: UtcDateTime | None = None
    last_customer_message_at: UtcDateTime | None = None
    messages_last_30_days: int = 0
    days_with_conversation_last_30_days: int = 0
