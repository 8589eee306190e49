"""The assembled :class:`CustomerContext` (SPEC §2) and its bookkeeping parts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, Self, TypeVar
from uuid import UUID

from pydantic import Field, PrivateAttr

from fearvana_integration.domain.base import DomainModel, UtcDateTime
from fearvana_integration.domain.coaching import (
    Commitments,
    ConversationRecency,
    DailyTasks,
    EnhancedSuggestion,
    Pattern,
    SacredEdge,
    Win,
)
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

_T = TypeVar("_T")

NoteCode = Literal[
    "source_unavailable",
    "source_disabled",
    "stale_data",
    "new_customer",
    "inconsistency",
    "preparation_due",
    "not_in_crm",
    "capability_missing",
    "data_unreadable",
]
SourceStatus = Literal["fresh", "stale", "unavailable", "disabled"]


class SourceFreshness(DomainModel):
    """Where one part of the context came from and how old it is."""

    source: str
    backend: str | None = None
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
    omission: str | None = Field(
        default=None, description="The prompt's line naming what was left out or summarised for length"
    )


class CustomerContext(DomainModel):
    """Everything the AI coach should know about one customer, fitted to ``max_tokens``."""

    customer_id: UUID
    retrieved_at: UtcDateTime
    token_count: int
    max_tokens: int
    profile: Profile
    sacred_edge: SacredEdge | None = None
    commitments: Commitments | None = None
    life_areas: list[LifeArea]
    recent_entries: list[Entry]
    entry_summaries: list[EntrySummary] = []
    spiral_state: SpiralState | None
    coach_actions: list[CoachAction]
    enhanced_suggestions: list[EnhancedSuggestion] = []
    patterns: list[Pattern] = []
    wins: list[Win] = []
    daily_tasks: DailyTasks | None = None
    supplements: list[Supplement] = []
    conversation: ConversationRecency | None = None
    crm_context: CRMContext | None = None
    scheduling_context: SchedulingContext | None = None
    freshness: dict[str, SourceFreshness] = {}
    notes_for_ai: list[NoteForAi] = []
    optimization: Optimization | None = None

    # Derived forms (API JSON, prompt text) computed once per instance: the model is frozen, and a
    # fitted context is served from the cache many times. Copies start without them.
    _memo: dict[str, Any] | None = PrivateAttr(default=None)

    def memoised(self, key: str, compute: Callable[[CustomerContext], _T]) -> _T:
        """``compute(self)``, remembered on this instance under ``key``."""
        if self._memo is None:
            self._memo = {}
        if key not in self._memo:
            self._memo[key] = compute(self)
        value: _T = self._memo[key]
        return value

    def json_bytes(self) -> bytes:
        """The JSON the API serves (camelCase, SPEC §2), serialised once per instance."""
        return self.memoised("json", lambda ctx: ctx.model_dump_json(by_alias=True).encode())

    def remember_json(self, body: bytes) -> None:
        """Adopt ``body`` as this instance's JSON (it was parsed from exactly these bytes)."""
        self.memoised("json", lambda _ctx: body)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy (fields updated from ``update``) without the derived forms of the original."""
        copied = super().model_copy(update=update, deep=deep)
        copied._memo = None
        return copied
