"""The assembled :class:`CustomerContext` (SPEC §2) and its bookkeeping parts."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fearvana_integration.domain.base import DomainModel, UtcDateTime
from fearvana_integration.domain.crm import CRMContext
from fearvana_integration.domain.customer import (
    CoachAction,
    Entry,
    EntrySummary,
    LifeArea,
    Profile,
    SpiralState,
    Supplement,
)
from fearvana_integration.domain.scheduling import SchedulingContext

NoteCode = Literal[
    "source_unavailable",
    "source_disabled",
    "stale_data",
    "new_customer",
    "inconsistency",
    "preparation_due",
    "not_in_crm",
    "capability_missing",
]
SourceStatus = Literal["fresh", "stale", "unavailable", "disabled"]


class SourceFreshness(DomainModel):
    """Where one part of the context came from and how old it is."""

    source: str
    fetched_at: UtcDateTime | None
    from_cache: bool = False
    stale: bool = False
    status: SourceStatus = "fresh"
    reason: str | None = None
    age_seconds: float | None = None


class NoteForAi(DomainModel):
    """Something the AI must know to read the context right (missing data, inconsistencies, …)."""

    code: NoteCode
    source: str | None = None
    message: str


class CutLine(DomainModel):
    """The last line of ``section`` was cut after ``chars`` characters to fill the budget exactly."""

    section: str
    chars: int


class SectionOptimization(DomainModel):
    """What fitting to the budget did to one section."""

    name: str
    kept: int
    summarised: int = 0
    dropped: int = 0
    shortened: int = 0


class Optimization(DomainModel):
    """Token accounting of the fit: the full rendering versus the kept one."""

    tokens_before: int
    tokens_after: int
    sections: list[SectionOptimization] = []
    cut: CutLine | None = None


class CustomerContext(DomainModel):
    """Everything the AI coach should know about one customer, fitted to ``max_tokens``."""

    customer_id: UUID
    retrieved_at: UtcDateTime
    token_count: int
    max_tokens: int
    profile: Profile
    life_areas: list[LifeArea]
    recent_entries: list[Entry]
    entry_summaries: list[EntrySummary] = []
    spiral_state: SpiralState | None
    coach_actions: list[CoachAction]
    supplements: list[Supplement] = []
    crm_context: CRMContext | None = None
    scheduling_context: SchedulingContext | None = None
    freshness: dict[str, SourceFreshness] = {}
    notes_for_ai: list[NoteForAi] = []
    optimization: Optimization | None = None
