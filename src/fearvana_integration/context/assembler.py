"""Assembling one customer's context: the profile first, then everything else concurrently.

The store is required: a timeout or failure there is :class:`StoreUnavailable`, an unknown customer
:class:`CustomerNotFound`. CRM and scheduling are optional: whatever happens to them, the context
comes back, with ``null`` for their part and a note saying why.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

from fearvana_integration.adapters.base import CRMAdapter, SchedulingAdapter
from fearvana_integration.clock import Clock
from fearvana_integration.config import Settings
from fearvana_integration.context.budget import FullContext, effective_budget, fit_context
from fearvana_integration.context.notes import customer_notes, source_notes
from fearvana_integration.context.scoring import Observation, score_and_trend
from fearvana_integration.context.summaries import summarise_entries
from fearvana_integration.context.tokens import Tokenizer
from fearvana_integration.domain.context import CustomerContext
from fearvana_integration.domain.crm import CRMContext
from fearvana_integration.domain.customer import (
    LIFE_AREA_LABELS,
    LIFE_AREA_ORDER,
    CoachAction,
    CustomerRef,
    EmailPreferences,
    Entry,
    LifeArea,
    Profile,
    QuietHours,
    SpiralState,
    Supplement,
)
from fearvana_integration.domain.scheduling import SchedulingContext
from fearvana_integration.domain.sourced import Sourced
from fearvana_integration.errors import StoreUnavailable
from fearvana_integration.resilience.guard import Deadline, SourceGuard
from fearvana_integration.store.repository import CustomerStore, StoreSections
from fearvana_integration.store.rows import ProfileRow, SupplementRow

RECENT_WINDOW = timedelta(days=30)
EMAIL_FREQUENCIES = ("daily", "weekly", "monthly", "never")
T = TypeVar("T")
log = structlog.get_logger("fearvana_integration.assembler")


class ContextAssembler:
    """Builds :class:`CustomerContext` objects from the store and the optional sources."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: CustomerStore,
        crm: CRMAdapter | None,
        scheduling: SchedulingAdapter | None,
        guard: SourceGuard,
        tokenizer: Tokenizer,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.crm = crm
        self.scheduling = scheduling
        self.guard = guard
        self.tokenizer = tokenizer
        self.clock = clock

    async def _store(self, operation: Callable[[], Awaitable[T]], deadline: Deadline) -> T:
        limit = deadline.bound(self.settings.timeout_seconds("supabase"))
        try:
            async with asyncio.timeout(limit):
                return await operation()
        except TimeoutError:
            raise StoreUnavailable(f"Customer store did not answer within {limit:.3g} s") from None

    async def resolve(self, reference: UUID | str, deadline: Deadline | None = None) -> ProfileRow:
        """The customer's profile row by UUID or email (CustomerNotFound / StoreUnavailable)."""
        deadline = deadline or Deadline(self.clock, self.settings.context_deadline_ms / 1000)
        return await self._store(lambda: self.store.find_profile(reference), deadline)

    async def assemble(self, reference: UUID | str, max_tokens: int | None = None) -> CustomerContext:
        """The fitted context of one customer (by UUID, or by email for the CLI)."""
        requested = max_tokens if max_tokens is not None else self.settings.context_default_max_tokens
        budget = effective_budget(
            requested, self.settings.context_reserved_tokens, self.settings.context_token_margin_percent
        )
        full = await self.assemble_full(reference, requested)
        return fit_context(full, max_tokens=requested, budget=budget, tokenizer=self.tokenizer)

    async def assemble_full(self, reference: UUID | str, max_tokens: int | None = None) -> FullContext:
        """Everything known about the customer, before fitting to a budget."""
        requested = max_tokens if max_tokens is not None else self.settings.context_default_max_tokens
        deadline = Deadline(self.clock, self.settings.context_deadline_ms / 1000)
        row = await self.resolve(reference, deadline)
        now = self.clock.now()
        profile = build_profile(row, now)
        customer = CustomerRef(id=row.id, email=row.email, display_name=row.display_name, time_zone=profile.time_zone)
        sections, crm, scheduling = await asyncio.gather(
            self._store(lambda: self.store.load_sections(row.id, now), deadline),
            self._crm(customer, deadline),
            self._scheduling(customer, deadline),
        )
        return build_full_context(
            customer_id=row.id,
            now=now,
            profile=profile,
            sections=sections,
            crm=crm,
            scheduling=scheduling,
            max_tokens=requested,
        )

    async def _crm(self, customer: CustomerRef, deadline: Deadline) -> Sourced[CRMContext | None]:
        adapter = self.crm
        if adapter is None:
            return SourceGuard.disabled("crm", self.settings.crm_provider)
        return await self.guard.call(
            "crm",
            adapter.name,
            "get_crm_context",
            lambda: adapter.get_crm_context(customer),
            timeout=self.settings.timeout_seconds("crm"),
            deadline=deadline,
        )

    async def _scheduling(self, customer: CustomerRef, deadline: Deadline) -> Sourced[SchedulingContext]:
        adapter = self.scheduling
        if adapter is None:
            return SourceGuard.disabled("scheduling", self.settings.scheduling_provider)
        return await self.guard.call(
            "scheduling",
            adapter.name,
            "get_scheduling_context",
            lambda: adapter.get_scheduling_context(customer),
            timeout=self.settings.timeout_seconds("scheduling"),
            deadline=deadline,
        )


def _time_zone(row: ProfileRow) -> str:
    name = row.time_zone or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("invalid time zone in customer_preferences; using UTC", profile_id=str(row.id))
        return "UTC"
    return name


def build_profile(row: ProfileRow, now: datetime) -> Profile:
    """The profile with its preferences (missing → UTC, opted in, weekly)."""
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
            "account_age": max((now - row.created_at).days, 0),
            "time_zone": _time_zone(row),
            "email_preferences": EmailPreferences.model_validate(
                {
                    "opt_in": True if row.email_opt_in is None else row.email_opt_in,
                    "frequency": frequency,
                    "quiet_hours": quiet,
                }
            ),
        }
    )


def describe_dosage(schema: object) -> str | None:
    """A dosage schema (free JSON in the product) as short text: ``200 mg nightly``."""
    if schema is None:
        return None
    if isinstance(schema, str):
        return schema
    if isinstance(schema, dict):
        ordered = [schema.get(key) for key in ("amount", "dose", "unit", "frequency", "timing", "schedule")]
        words = [str(value) for value in ordered if isinstance(value, str | int | float) and value != ""]
        if words:
            return " ".join(words)
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


def _supplement(row: SupplementRow) -> Supplement:
    return Supplement(name=row.name, dosage=describe_dosage(row.dosage_schema), quantity_on_hand=row.qty_on_hand)


def build_life_areas(sections: StoreSections, entries: list[Entry]) -> list[LifeArea]:
    """All 8 areas in canonical order; an area without a life_levels row is "no data yet"."""
    levels = {level.category: level for level in sections.levels}
    observations: dict[str, list[Observation]] = {}
    for entry in entries:
        observations.setdefault(entry.category, []).append(Observation(entry.timestamp, entry.metrics))
    areas = []
    for category in LIFE_AREA_ORDER:
        level = levels.get(category)
        goal = dict(level.goal_jsonb or {}) if level else {}
        score, trend = score_and_trend(observations.get(category, []), goal)
        areas.append(
            LifeArea.model_validate(
                {
                    "category": category,
                    "label": LIFE_AREA_LABELS[category],
                    "current_score": score,
                    "trend": trend,
                    "goal": goal,
                    "current_streak": (level.current_streak or 0) if level else 0,
                    "longest_streak": (level.longest_streak or 0) if level else 0,
                    "last_updated": level.last_entry_at if level else None,
                    "total_entries": level.entry_count if level else 0,
                }
            )
        )
    return areas


def build_full_context(
    *,
    customer_id: UUID,
    now: datetime,
    profile: Profile,
    sections: StoreSections,
    crm: Sourced[CRMContext | None],
    scheduling: Sourced[SchedulingContext],
    max_tokens: int,
) -> FullContext:
    """The unfitted context and the older entries its summaries come from."""
    entries = [
        Entry.model_validate({"category": e.category, "timestamp": e.ts, "metrics": e.metric})
        for e in sections.entries
        if e.category in LIFE_AREA_LABELS
    ]
    recent = [entry for entry in entries if entry.timestamp >= now - RECENT_WINDOW]
    older = [entry for entry in entries if entry.timestamp < now - RECENT_WINDOW]
    life_areas = build_life_areas(sections, entries)
    actions = [
        CoachAction.model_validate(
            {
                "id": str(row.id),
                "suggestion": row.suggestion,
                "completed": row.completed,
                "category": row.category if row.category in LIFE_AREA_LABELS else None,
                "created_at": row.ts or row.created_at or profile.created_at,
                "ai_metadata": row.ai_metadata or {},
            }
        )
        for row in sections.coach_actions
    ]
    spiral = sections.spiral
    spiral_state = SpiralState(
        current_level=spiral.current_level,
        current_step=spiral.current_step,
        step_progress=spiral.step_progress,
        completed_challenges=[c.challenge_id for c in sections.challenges],
        total_xp=spiral.total_xp or 0,
    )
    notes = [
        *source_notes("crm", crm),
        *source_notes("scheduling", scheduling),
        *customer_notes(
            now=now,
            profile_email=profile.email,
            life_areas=life_areas,
            coach_action_count=len(actions),
            journey_started=spiral.current_level is not None or spiral.current_step is not None,
            crm=crm,
            scheduling=scheduling,
        ),
    ]
    store_freshness = Sourced(value=None, status="fresh", source="supabase", fetched_at=now).freshness()
    context = CustomerContext(
        customer_id=customer_id,
        retrieved_at=now,
        token_count=0,
        max_tokens=max_tokens,
        profile=profile,
        life_areas=life_areas,
        recent_entries=recent,
        entry_summaries=summarise_entries(older),
        spiral_state=spiral_state,
        coach_actions=actions,
        supplements=[_supplement(row) for row in sections.supplements],
        crm_context=crm.value if crm.ok else None,
        scheduling_context=scheduling.value if scheduling.ok else None,
        freshness={
            "profile": store_freshness,
            "store": store_freshness,
            "crm": crm.freshness(),
            "scheduling": scheduling.freshness(),
        },
        notes_for_ai=notes,
    )
    return FullContext(context=context, older_entries=older)
