"""Assembling one customer's context: the profile first, then everything else concurrently.

The store is required: a timeout or failure there is :class:`StoreUnavailable`, an unknown customer
:class:`CustomerNotFound`. CRM and scheduling are optional: whatever happens to them, the context
comes back, with ``null`` for their part and a note saying why.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, TypeVar
from uuid import UUID

import structlog

from fearvana_integration.adapters.base import CRMAdapter, SchedulingAdapter
from fearvana_integration.cache import Cached, Codec, SourceCache
from fearvana_integration.clock import Clock
from fearvana_integration.config import Settings
from fearvana_integration.context.budget import FullContext, effective_budget, fit_context
from fearvana_integration.context.notes import customer_notes, source_notes, unreadable_notes
from fearvana_integration.context.portion import StorePortion, build_profile, build_store_portion
from fearvana_integration.context.preparation import preparation_brief
from fearvana_integration.context.tokens import Tokenizer
from fearvana_integration.domain.context import CustomerContext
from fearvana_integration.domain.crm import CRMContext
from fearvana_integration.domain.customer import CustomerRef, Profile
from fearvana_integration.domain.scheduling import SchedulingContext
from fearvana_integration.domain.sourced import Sourced
from fearvana_integration.errors import StoreCircuitOpen, StoreUnavailable
from fearvana_integration.observability import tracing
from fearvana_integration.resilience.guard import REFRESH_AHEAD_FRACTION, Deadline, Part, SourceGuard
from fearvana_integration.store.repository import ActivitySections, CustomerStore, JourneySections, StoreSections
from fearvana_integration.store.rows import ProfileRow

T = TypeVar("T")
log = structlog.get_logger("fearvana_integration.assembler")


@dataclass(frozen=True)
class Parts:
    """How each cacheable part of a customer is fetched: source, TTL, codec, timeout."""

    profile: Part[ProfileRow]
    activity: Part[ActivitySections]
    journey: Part[JourneySections]
    crm: Part[CRMContext | None]
    scheduling: Part[SchedulingContext]

    @classmethod
    def from_settings(cls, settings: Settings) -> Parts:
        """TTLs per data type (SPEC §4): profile 5 min, life areas and entries 2 min, other store data
        ``CACHE_DEFAULT_TTL``, CRM 10 min, scheduling 1 min."""
        store_timeout = settings.timeout_seconds("supabase")
        return cls(
            profile=Part("supabase", "profile", settings.cache_ttl_profile_seconds, Codec(ProfileRow), store_timeout),
            activity=Part(
                "supabase", "activity", settings.cache_ttl_life_areas_seconds, Codec(ActivitySections), store_timeout
            ),
            journey=Part("supabase", "journey", settings.cache_default_ttl, Codec(JourneySections), store_timeout),
            crm=Part(
                "crm", "crm", settings.cache_ttl_crm_seconds, Codec(CRMContext | None), settings.timeout_seconds("crm")
            ),
            scheduling=Part(
                "scheduling",
                "scheduling",
                settings.cache_ttl_scheduling_seconds,
                Codec(SchedulingContext),
                settings.timeout_seconds("scheduling"),
            ),
        )

    def all(self) -> tuple[Part[Any], ...]:
        """Every part, in a fixed order."""
        return (self.profile, self.activity, self.journey, self.crm, self.scheduling)


FITTED_TTL_SECONDS = 60.0
View = Literal["full", "customer"]


class FittedContextCodec(Codec[CustomerContext]):
    """Fitted contexts are stored as the API's JSON, so a context read from Redis is served as the
    very bytes it was parsed from (validated, never re-serialised)."""

    def __init__(self) -> None:
        super().__init__(CustomerContext)

    def encode(self, cached: Cached[CustomerContext]) -> str:
        """``<fetched_at>\\n<the API JSON>``."""
        return f"{cached.fetched_at!r}\n" + cached.value.json_bytes().decode()

    def parse(self, body: str) -> CustomerContext:
        """The context, remembering ``body`` as its JSON."""
        context = CustomerContext.model_validate_json(body)
        context.remember_json(body.encode())
        return context


FITTED_CODEC: Codec[CustomerContext] = FittedContextCodec()


class ContextAssembler:
    """Builds :class:`CustomerContext` objects from the store and the optional sources, through the guard."""

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
        self.parts = Parts.from_settings(settings)
        self._assembling: dict[tuple[UUID, int, str], asyncio.Future[CustomerContext]] = {}

    def deadline(self) -> Deadline:
        """A fresh request deadline (``CONTEXT_DEADLINE_MS``)."""
        return Deadline(self.clock, self.settings.context_deadline_ms / 1000)

    @property
    def _cache(self) -> SourceCache | None:
        return self.guard.cache if self.settings.cache_enabled else None

    async def resolve(self, reference: UUID | str, deadline: Deadline | None = None) -> ProfileRow:
        """The customer's profile row by UUID (cached) or email; CustomerNotFound / StoreUnavailable."""
        deadline = deadline or self.deadline()
        use_cache = isinstance(reference, UUID) and self._cache is not None
        customer_id = str(reference) if isinstance(reference, UUID) else ""
        sourced = await self.guard.fetch(
            self.parts.profile,
            customer_id,
            "supabase",
            lambda: self.store.find_profile(reference),
            deadline,
            use_cache=use_cache,
        )
        return _required(sourced, "profile")

    async def assemble(
        self, reference: UUID | str, max_tokens: int | None = None, *, view: View = "full"
    ) -> CustomerContext:
        """The fitted context of one customer (by UUID, or by email for the CLI).

        ``view="customer"`` is what the customer may see of themselves: no CRM-internal labels.
        """
        requested = max_tokens if max_tokens is not None else self.settings.context_default_max_tokens
        # A span while tracing is on (view and budget only: never the customer), else a shared no-op.
        with tracing.span("assemble", {"fearvana.view": view, "fearvana.max_tokens": requested}):
            budget = effective_budget(
                requested, self.settings.context_reserved_tokens, self.settings.context_token_margin_percent
            )
            deadline = self.deadline()
            if not isinstance(reference, UUID):
                reference = (await self.resolve(reference, deadline)).id
            cache = self._cache
            cached: dict[str, Cached[Any]] = {}
            if cache is not None:
                # Whether a fitted context can be reused depends on the parts' fetch times only; in Redis
                # those are read on their own (small), and the parts themselves only when assembling.
                if cache.shared:
                    stamps = await self._cached_stamps(reference)
                else:
                    cached = await self._cached_parts(reference)
                    stamps = {name: entry.fetched_at for name, entry in cached.items()}
                versions = {
                    part.name: await self._cached_version(part, stamps.get(part.name)) for part in self.parts.all()
                }
                key = self._fitted_key(reference, requested, versions, view)
                if key is not None:
                    hit = await cache.read_immutable(key, FITTED_CODEC)
                    if hit is not None and cache.is_fresh(hit, FITTED_TTL_SECONDS) and hit.readable():
                        cache.hits += 1
                        return hit.value
                if cache.shared:
                    cached = await self._cached_parts(reference)
            if cache is None:
                full, _ = await self._assemble(reference, requested, deadline, cached, view)
                return fit_context(full, max_tokens=requested, budget=budget, tokenizer=self.tokenizer)
            # Concurrent requests for the same customer and budget share one assembly and one fit.
            flight_key = (reference, requested, view)
            running = self._assembling.get(flight_key)
            if running is not None:
                cache.hits += 1
                return await asyncio.shield(running)
            future: asyncio.Future[CustomerContext] = asyncio.get_running_loop().create_future()
            self._assembling[flight_key] = future
            try:
                fitted = await self._assemble_and_fit(reference, requested, budget, deadline, cached, view)
            except BaseException as error:
                future.set_exception(error)
                future.exception()  # retrieved: no warning when nobody else was waiting
                raise
            else:
                future.set_result(fitted)
                return fitted
            finally:
                self._assembling.pop(flight_key, None)

    async def _assemble_and_fit(
        self,
        customer_id: UUID,
        max_tokens: int,
        budget: int,
        deadline: Deadline,
        cached: dict[str, Cached[Any]],
        view: View,
    ) -> CustomerContext:
        cache = self._cache
        assert cache is not None
        full, sourced = await self._assemble(customer_id, max_tokens, deadline, cached, view)
        fitted = fit_context(full, max_tokens=max_tokens, budget=budget, tokenizer=self.tokenizer)
        versions = {name: await self._sourced_version(name, value) for name, value in sourced.items()}
        key = self._fitted_key(customer_id, max_tokens, versions, view)
        if key is not None:
            stamp = Cached(fitted, self.clock.now().timestamp())
            await cache.write_immutable(key, FITTED_CODEC, stamp, FITTED_TTL_SECONDS, str(customer_id))
        return fitted

    async def assemble_full(self, reference: UUID | str, max_tokens: int | None = None) -> FullContext:
        """Everything known about the customer, before fitting to a budget."""
        requested = max_tokens if max_tokens is not None else self.settings.context_default_max_tokens
        deadline = self.deadline()
        if not isinstance(reference, UUID):
            reference = (await self.resolve(reference, deadline)).id
        cached = await self._cached_parts(reference) if self._cache is not None else {}
        full, _ = await self._assemble(reference, requested, deadline, cached)
        return full

    async def _cached_parts(self, customer_id: UUID) -> dict[str, Cached[Any]]:
        """Every part's cache entry in one round trip (present ones only)."""
        cache = self._cache
        if cache is None:
            return {}
        parts = self.parts.all()
        keys = [cache.key(str(customer_id), part.name) for part in parts]
        entries = await cache.read_many(keys, [part.codec for part in parts])
        return {part.name: entry for part, entry in zip(parts, entries, strict=True) if entry is not None}

    async def _cached_stamps(self, customer_id: UUID) -> dict[str, float]:
        """Every cached part's fetch time in one round trip (present ones only)."""
        cache = self._cache
        if cache is None:
            return {}
        parts = self.parts.all()
        stamps = await cache.read_stamps([cache.key(str(customer_id), part.name) for part in parts])
        return {part.name: stamp for part, stamp in zip(parts, stamps, strict=True) if stamp is not None}

    def _fresh(self, entry: Cached[Any] | None, part: Part[Any]) -> bool:
        return entry is not None and self._cache is not None and self._cache.is_fresh(entry, part.ttl)

    def _disabled(self, part: Part[Any]) -> bool:
        return part.source in ("crm", "scheduling") and getattr(self, part.source) is None

    async def _open_version(self, part: Part[Any], stale_at: float | None) -> str | None:
        """While a source's breaker is open, what it answers cannot change: a version for that."""
        breaker = self.guard.breakers.get(part.source)
        if breaker is None:
            return None
        state = await breaker.state()
        if state.state != "OPEN" or state.opened_at is None:
            return None
        return f"open@{state.opened_at!r}:{stale_at!r}"

    async def _cached_version(self, part: Part[Any], fetched_at: float | None) -> str | None:
        """A part's version as the cache shows it before assembling (None: it must be fetched)."""
        if self._disabled(part):
            return "disabled"
        cache = self._cache
        if fetched_at is None or cache is None:
            return await self._open_version(part, None)
        age = cache.clock.now().timestamp() - fetched_at
        if age < part.ttl * REFRESH_AHEAD_FRACTION:
            return repr(fetched_at)  # older ones go through the guard, which refreshes them in the background
        usable = max(age, 0.0) < part.ttl + cache.stale_max
        return await self._open_version(part, fetched_at if usable else None)

    async def _sourced_version(self, name: str, sourced: Sourced[Any]) -> str | None:
        """The same version, from what assembling returned."""
        part = getattr(self.parts, name)
        if sourced.status == "disabled":
            return "disabled"
        if sourced.status == "fresh" and sourced.fetched_at is not None:
            return repr(sourced.fetched_at.timestamp())
        stale_at = sourced.fetched_at.timestamp() if sourced.status == "stale" and sourced.fetched_at else None
        return await self._open_version(part, stale_at)

    def _fitted_key(
        self, customer_id: UUID, max_tokens: int, versions: dict[str, str | None], view: View = "full"
    ) -> str | None:
        """The key of a fitted context made from exactly these part versions, or None.

        A refreshed part has a new fetch time, hence a new key, so a cached fitted context is never
        older than its parts; a part that had to be fetched has no version and nothing is reused.
        """
        cache = self._cache
        if cache is None or any(version is None for version in versions.values()):
            return None
        s = self.settings
        recipe = (
            f"{view}|{max_tokens}|{s.tokenizer_encoding}|{s.context_reserved_tokens}|{s.context_token_margin_percent}"
        )
        ordered = [f"{name}={versions[name]}" for name in sorted(versions)]
        digest = hashlib.sha256("|".join([recipe, *ordered]).encode()).hexdigest()[:24]
        return cache.key(str(customer_id), f"fitted:{digest}")

    async def _assemble(
        self,
        customer_id: UUID,
        max_tokens: int,
        deadline: Deadline,
        cached: dict[str, Cached[Any]],
        view: View = "full",
    ) -> tuple[FullContext, dict[str, Sourced[Any]]]:
        key = str(customer_id)
        parts = self.parts
        use_cache = self._cache is not None
        now = self.clock.now()
        prefetched: dict[str, Sourced[Any]] = {}

        async def load_profile() -> ProfileRow:
            # The profile has to be read anyway; when the sections must be read too (the usual cold
            # case), read everything in one statement and keep the sections for below.
            needed = [part for part in (parts.activity, parts.journey) if not self._fresh(cached.get(part.name), part)]
            if not needed:
                return await self.store.find_profile(customer_id)
            data = await self.store.load_all(customer_id, now)
            stamp = self.clock.now()
            for part, value in ((parts.activity, data.sections.activity), (parts.journey, data.sections.journey)):
                prefetched[part.name] = Sourced(value, "fresh", "supabase", stamp)
                if self._cache is not None:
                    entry: Cached[Any] = Cached(value, stamp.timestamp())
                    await self._cache.write(self._cache.key(key, part.name), part.codec, entry, part.ttl, key)
            return data.profile

        profile_part = await self.guard.fetch(
            parts.profile,
            key,
            "supabase",
            load_profile,
            deadline,
            cached=cached.get("profile"),
            use_cache=use_cache,
        )
        row = _required(profile_part, "profile")
        profile = build_profile(row, now)
        customer = CustomerRef(id=row.id, email=row.email, display_name=row.display_name, time_zone=profile.time_zone)

        async def section(part: Part[T], load: Callable[[], Awaitable[T]]) -> Sourced[T]:
            if part.name in prefetched:
                return prefetched[part.name]
            return await self.guard.fetch(
                part, key, "supabase", load, deadline, cached=cached.get(part.name), use_cache=use_cache
            )

        async def store_side() -> tuple[Sourced[ActivitySections], Sourced[JourneySections], StorePortion]:
            activity, journey = await asyncio.gather(
                section(parts.activity, lambda: self.store.load_activity(row.id, now)),
                section(parts.journey, lambda: self.store.load_journey(row.id, now)),
            )
            sections = StoreSections(_required(activity, "activity"), _required(journey, "journey"))
            return activity, journey, build_store_portion(profile, sections, now, self.tokenizer)

        (activity, journey, portion), crm, scheduling = await asyncio.gather(
            store_side(),
            self._optional(self.crm, parts.crm, customer, cached, deadline, "get_crm_context"),
            self._optional(self.scheduling, parts.scheduling, customer, cached, deadline, "get_scheduling_context"),
        )
        store_parts = [profile_part, activity, journey]
        if view == "customer" and crm.value is not None:
            crm = replace(crm, value=crm.value.customer_view())
        full = build_full_context(
            customer_id=row.id,
            now=now,
            profile=profile,
            portion=portion,
            store=_worst(store_parts),
            crm=crm,
            scheduling=scheduling,
            max_tokens=max_tokens,
            store_backend=self.store.backend,
        )
        sourced = {"profile": profile_part, "activity": activity, "journey": journey}
        sourced.update({"crm": crm, "scheduling": scheduling})
        return full, sourced

    async def _optional(
        self,
        adapter: CRMAdapter | SchedulingAdapter | None,
        part: Part[Any],
        customer: CustomerRef,
        cached: dict[str, Cached[Any]],
        deadline: Deadline,
        operation: str,
    ) -> Sourced[Any]:
        if adapter is None:
            return SourceGuard.disabled(part.source, self.settings.provider(part.source))  # type: ignore[arg-type]
        load = getattr(adapter, operation)
        return await self.guard.fetch(
            part,
            str(customer.id),
            adapter.name,
            lambda: load(customer),
            deadline,
            cached=cached.get(part.name),
            use_cache=self._cache is not None,
        )


def _required(sourced: Sourced[T], part: str) -> T:
    """A store part's value, or StoreUnavailable when there is neither data nor a stale copy."""
    if sourced.value is None or sourced.status == "unavailable":
        if sourced.next_attempt_at is not None:
            raise StoreCircuitOpen(next_attempt_at=sourced.next_attempt_at, operation=part)
        reason = sourced.reason or f"no {part} data"
        # The store's own errors already say what happened; others (a breaker, a timeout) get the subject.
        if not reason.startswith(("Customer store", "The customer store", "The database", "This database", "Cannot")):
            reason = f"Customer store unavailable ({part}): {reason}"
        raise StoreUnavailable(reason)
    return sourced.value


def _worst(parts: list[Sourced[Any]]) -> Sourced[Any]:
    """The store's freshness as one value: stale if any part is stale (the oldest one)."""
    stale = [p for p in parts if p.status == "stale"]
    if stale:
        return max(stale, key=lambda p: p.age_seconds or 0)
    return min(parts, key=lambda p: p.fetched_at.timestamp() if p.fetched_at else 0)


def build_full_context(
    *,
    customer_id: UUID,
    now: datetime,
    profile: Profile,
    portion: StorePortion,
    store: Sourced[Any],
    crm: Sourced[CRMContext | None],
    scheduling: Sourced[SchedulingContext],
    max_tokens: int,
    store_backend: str | None = None,
) -> FullContext:
    """The unfitted context: the store portion, the optional sources and the notes about all of it."""
    notes = [
        *source_notes("supabase", store),
        *source_notes("crm", crm),
        *source_notes("scheduling", scheduling),
        *customer_notes(
            now=now,
            profile_email=profile.email,
            ever_active=portion.ever_active,
            last_activity_at=portion.last_activity_at,
            crm=crm,
            scheduling=scheduling,
        ),
        *unreadable_notes(portion.unreadable),
    ]
    store_freshness = store.freshness().model_copy(update={"backend": store_backend})
    scheduling_context = scheduling.value if scheduling.ok else None
    crm_context = crm.value if crm.ok else None
    if scheduling_context is not None and scheduling_context.preparation_due:
        brief = preparation_brief(
            scheduling=scheduling_context,
            areas=portion.life_areas,
            entries=[*portion.recent, *portion.older],
            commitments=portion.commitments,
            sacred_edge=portion.sacred_edge,
            crm=crm_context,
            now=now,
        )
        scheduling_context = scheduling_context.model_copy(update={"preparation_brief": brief})
    context = CustomerContext(
        customer_id=customer_id,
        retrieved_at=now,
        token_count=0,
        max_tokens=max_tokens,
        profile=profile,
        sacred_edge=portion.sacred_edge,
        commitments=portion.commitments,
        life_areas=portion.life_areas,
        recent_entries=portion.recent,
        entry_summaries=portion.summaries,
        spiral_state=portion.spiral_state,
        coach_actions=portion.actions,
        enhanced_suggestions=portion.suggestions,
        patterns=portion.patterns,
        wins=portion.wins,
        daily_tasks=portion.daily_tasks,
        supplements=portion.supplements,
        conversation=portion.conversation,
        crm_context=crm_context,
        scheduling_context=scheduling_context,
        freshness={
            "profile": store_freshness,
            "store": store_freshness,
            "crm": crm.freshness(),
            "scheduling": scheduling.freshness(),
        },
        notes_for_ai=notes,
    )
    return FullContext(context=context, older_entries=portion.older, index=portion.index)
