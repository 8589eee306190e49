"""IntegrationManager: the seed's API, thin, delegating to the assembler and the adapters."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar
from uuid import UUID

from fearvana_integration.adapters.base import Adapter
from fearvana_integration.config import Settings, load_settings
from fearvana_integration.context.assembler import View
from fearvana_integration.domain.context import CustomerContext
from fearvana_integration.domain.crm import Interaction
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.domain.health import BreakerStatus, HealthStatus, ServiceHealth
from fearvana_integration.domain.scheduling import (
    Appointment,
    AppointmentType,
    DateRange,
    TimeSlot,
    booking_problem,
    slot_search_problem,
)
from fearvana_integration.errors import (
    IntegrationDisabled,
    IntegrationError,
    InvalidInput,
    ProviderAuthError,
    ProviderTimeout,
    StoreUnavailable,
)
from fearvana_integration.observability.audit import audit_context, current_correlation_id
from fearvana_integration.resilience.breaker import CircuitBreaker
from fearvana_integration.resilience.guard import Deadline
from fearvana_integration.runtime import Runtime, build_runtime

T = TypeVar("T")
# How far ahead of our clock an interaction's timestamp may be (the caller's clock may run a little fast).
INTERACTION_CLOCK_SKEW = timedelta(days=1)
MAX_APPOINTMENT_ID_CHARS = 200


BOOKING_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class IntegrationManager:
    """Everything the AI coach can ask of or do through the integration layer (SPEC §1)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self._pings: dict[str, tuple[float, ServiceHealth]] = {}

    @property
    def circuit_breakers(self) -> dict[str, CircuitBreaker]:
        """One breaker per source: ``supabase``, ``crm``, ``scheduling``, ``email``."""
        return self.runtime.breakers

    async def get_customer_context(
        self, customer_id: UUID | str, max_tokens: int | None = None, *, view: View = "full"
    ) -> CustomerContext:
        """The customer's context, fitted to ``max_tokens`` (default ``CONTEXT_DEFAULT_MAX_TOKENS``).

        ``customer_id`` is the profile UUID (an email is accepted too, for the CLI). Raises
        CustomerNotFound, StoreUnavailable or BudgetTooSmall; optional sources never make it fail.
        Every call is audited (customer, sections returned, outcome). ``view="customer"``: what the
        customer may see of themselves (no CRM-internal labels: stage, sentiment, tags).
        """
        with audit_context(correlation_id=current_correlation_id()):
            return await self._context(_reference(customer_id), max_tokens, view)

    async def _context(self, reference: UUID | str, max_tokens: int | None, view: View) -> CustomerContext:
        audit = self.runtime.audit
        try:
            if not isinstance(reference, UUID):
                reference = (await self.runtime.assembler.resolve(reference)).id
                await audit.commit(
                    "profile.lookup_by_email", customer_id=reference, resources=("profiles",), detail="service_role"
                )
            ctx = await self.runtime.assembler.assemble(reference, max_tokens, view=view)
        except Exception as error:
            customer = reference if isinstance(reference, UUID) else None
            await audit.commit("context.read", customer_id=customer, outcome=type(error).__name__)
            raise
        # Answered only once this is on disk: an answered request is an audited request.
        await audit.commit("context.read", customer_id=ctx.customer_id, resources=_sections(ctx))
        return ctx

    async def invalidate(self, customer_id: UUID | str) -> None:
        """Drop every cached piece of one customer (and nothing of anyone else)."""
        reference = _reference(customer_id)
        if not isinstance(reference, UUID):
            reference = (await self.runtime.assembler.resolve(reference)).id
        await self.runtime.cache.invalidate(str(reference))

    async def log_interaction(self, customer_id: UUID | str, interaction: Interaction) -> str:
        """Log the interaction in the CRM (and set its sentiment field); returns the CRM's id for it.

        InvalidInput when its timestamp lies in the future (beyond a day of clock skew).
        """
        if interaction.timestamp > self.runtime.clock.now() + INTERACTION_CLOCK_SKEW:
            raise InvalidInput("timestamp must not be in the future")
        crm = self._require(self.runtime.crm, "crm")
        customer, deadline = await self._writable_customer(customer_id)
        async with self._audited("crm.log_interaction", customer.id, ("crm",)):
            try:
                crm_id = await self._call(
                    "crm", "log_interaction", lambda: crm.log_interaction(customer, interaction), deadline
                )
                if interaction.sentiment is not None:
                    sentiment = interaction.sentiment
                    await self._call(
                        "crm", "update_sentiment", lambda: crm.update_sentiment(customer, sentiment), deadline
                    )
            finally:
                await self.runtime.cache.delete(self.runtime.cache.key(str(customer.id), "crm"))
        return crm_id

    async def get_available_slots(
        self, date_range: DateRange, appointment_type: AppointmentType = "coaching-session"
    ) -> list[TimeSlot]:
        """Free slots of ``appointment_type`` in ``date_range``, earliest first.

        InvalidInput unless the range ends in the future and within ``BOOKING_HORIZON_DAYS``.
        """
        problem = slot_search_problem(date_range, self.runtime.clock.now(), self.settings.booking_horizon_days)
        if problem is not None:
            raise InvalidInput(problem)
        scheduling = self._require(self.runtime.scheduling, "scheduling")
        return await self._call(
            "scheduling",
            "get_availability",
            lambda: scheduling.get_availability(date_range, appointment_type),
            self.runtime.assembler.deadline(),
        )

    async def book_appointment(
        self,
        customer_id: UUID | str,
        slot: TimeSlot,
        appointment_type: AppointmentType = "coaching-session",
        *,
        booking_id: str | None = None,
    ) -> Appointment:
        """Book ``slot`` for the customer; SlotUnavailable (with alternatives) if it is taken.

        One booking at a time per coach calendar, across every worker and instance (the booking lock),
        and the adapter re-checks the slot immediately before booking, so a slot is never given twice.
        ``booking_id`` (the caller's id for this booking, 1-128 of ``A-Za-z0-9._:-``) makes a retry
        return the first booking instead of making another. InvalidInput unless the slot starts in the
        future and within ``BOOKING_HORIZON_DAYS``, or when the booking id was used for another customer.
        """
        if booking_id is not None and not BOOKING_ID.fullmatch(booking_id):
            raise InvalidInput("booking_id must be 1-128 characters of A-Z a-z 0-9 . _ : -")
        problem = booking_problem(slot, self.runtime.clock.now(), self.settings.booking_horizon_days)
        if problem is not None:
            raise InvalidInput(problem)
        scheduling = self._require(self.runtime.scheduling, "scheduling")
        customer, _ = await self._writable_customer(customer_id)
        store = self.runtime.store
        async with self._audited("scheduling.book", customer.id, ("scheduling",)):
            try:
                async with self.runtime.booking_lock.hold(self._calendar_key()):
                    # Under the lock: a retry racing its original sees the original's booking.
                    if booking_id is not None:
                        earlier = await self._earlier_booking(booking_id, customer.id)
                        if earlier is not None:
                            return earlier
                    # The deadline starts once the calendar is ours: waiting for another booking to
                    # finish must not eat this booking's time.
                    appointment = await self._call(
                        "scheduling",
                        "book_appointment",
                        lambda: scheduling.book_appointment(customer, slot, appointment_type, booking_id),
                        self.runtime.assembler.deadline(),
                    )
                    if booking_id is not None:
                        booked, now = appointment.model_dump_json(), self.runtime.clock.now()
                        await store.record_booking(booking_id, customer.id, scheduling.name, booked, now)
                return appointment
            finally:
                await self.runtime.cache.delete(self.runtime.cache.key(str(customer.id), "scheduling"))

    async def _earlier_booking(self, booking_id: str, customer: UUID) -> Appointment | None:
        """The appointment made before with ``booking_id``; InvalidInput when it was someone else's."""
        found = await self.runtime.store.find_booking(booking_id)
        if found is None:
            return None
        owner, appointment = found
        if owner != customer:
            raise InvalidInput("booking_id was already used for another booking")
        return Appointment.model_validate_json(appointment)

    def _calendar_key(self) -> str:
        """The coach calendar bookings are serialised on: the provider and its calendar."""
        return f"{self.settings.scheduling_provider}:{self.settings.scheduling_calendar_id or 'default'}"

    async def cancel_appointment(self, customer_id: UUID | str, appointment_id: str) -> Appointment:
        """Cancel one of the customer's own appointments (AppointmentNotFound for anyone else's)."""
        if not 0 < len(appointment_id) <= MAX_APPOINTMENT_ID_CHARS or not appointment_id.isprintable():
            raise InvalidInput(f"appointment_id must be 1-{MAX_APPOINTMENT_ID_CHARS} printable characters")
        scheduling = self._require(self.runtime.scheduling, "scheduling")
        customer, deadline = await self._writable_customer(customer_id)
        async with self._audited("scheduling.cancel", customer.id, ("scheduling",)):
            try:
                return await self._call(
                    "scheduling",
                    "cancel_appointment",
                    lambda: scheduling.cancel_appointment(customer, appointment_id),
                    deadline,
                )
            finally:
                await self.runtime.cache.delete(self.runtime.cache.key(str(customer.id), "scheduling"))

    async def get_health_status(self) -> HealthStatus:
        """Ping every source (concurrently, each ping cached ``HEALTH_PING_CACHE_SECONDS``).

        ``unhealthy`` when the store fails or its breaker is open; ``degraded`` when an optional
        source fails or a breaker is not closed; else ``healthy``.
        """
        names = ["supabase", *self.runtime.adapters()]
        results = await asyncio.gather(*(self._cached_ping(name) for name in names))
        services = dict(zip(names, results, strict=True))
        breakers = {name: await self._breaker_status(breaker) for name, breaker in self.circuit_breakers.items()}
        cache = await self.runtime.cache.stats()
        # An open store breaker refuses every request until its next attempt, whatever a ping says.
        if not services["supabase"].healthy or breakers["supabase"].state == "OPEN":
            status = "unhealthy"
        elif (
            any(not s.healthy for name, s in services.items() if name != "supabase" and s.enabled)
            or any(b.state != "CLOSED" for b in breakers.values())
            or not cache.reachable
        ):
            status = "degraded"
        else:
            status = "healthy"
        return HealthStatus(
            status=status,
            timestamp=self.runtime.clock.now(),
            services=services,
            cache=cache,
            circuit_breakers=breakers,
        )

    async def aclose(self) -> None:
        """Release the runtime; the next :func:`get_integration_manager` builds a fresh one."""
        global _manager
        await self.runtime.aclose()
        if _manager is self:
            _manager = None

    # Helpers --------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _audited(self, action: str, customer_id: UUID, resources: tuple[str, ...]) -> AsyncIterator[None]:
        """Audit the block's outcome — ``ok``, or the type of whatever it raised — durably, before the
        caller sees either."""
        try:
            yield
        except BaseException as error:
            await self.runtime.audit.commit(
                action, customer_id=customer_id, resources=resources, outcome=type(error).__name__
            )
            raise
        await self.runtime.audit.commit(action, customer_id=customer_id, resources=resources)

    async def _writable_customer(self, customer_id: UUID | str) -> tuple[CustomerRef, Deadline]:
        """The customer, for a write to a vendor: with the store down nothing could be recorded about
        it, so the write is refused (StoreUnavailable) rather than made unaudited."""
        customer, deadline = await self._customer(customer_id)
        try:
            await self._call("supabase", "ping", self.runtime.store.ping, deadline)
        except ProviderTimeout as error:
            raise StoreUnavailable(f"Customer store unavailable: {error}") from error
        return customer, deadline

    @staticmethod
    def _require(adapter: T | None, source: str) -> T:
        if adapter is None:
            raise IntegrationDisabled(source)
        return adapter

    async def _customer(self, customer_id: UUID | str) -> tuple[CustomerRef, Deadline]:
        deadline = self.runtime.assembler.deadline()
        row = await self.runtime.assembler.resolve(_reference(customer_id), deadline)
        ref = CustomerRef(id=row.id, email=row.email, display_name=row.display_name, time_zone=row.time_zone or "UTC")
        return ref, deadline

    async def _call(self, source: str, operation: str, call: Callable[[], Awaitable[T]], deadline: Deadline) -> T:
        return await self.runtime.guard.call(
            source, operation, call, timeout_seconds=self.settings.timeout_seconds(source), deadline=deadline
        )

    async def _breaker_status(self, breaker: CircuitBreaker) -> BreakerStatus:
        state = await breaker.state()
        next_attempt = breaker.next_attempt_at(state)
        return BreakerStatus(
            state=state.state,
            failure_count=state.failures,
            opened_at=datetime.fromtimestamp(state.opened_at, UTC) if state.opened_at else None,
            next_attempt_at=datetime.fromtimestamp(next_attempt, UTC) if next_attempt else None,
        )

    async def _cached_ping(self, name: str) -> ServiceHealth:
        now = self.runtime.clock.monotonic()
        cached = self._pings.get(name)
        if cached is not None and now < cached[0]:
            return cached[1]
        result = await self._ping(name)
        self._pings[name] = (now + self.settings.health_ping_cache_seconds, result)
        return result

    async def _ping(self, name: str) -> ServiceHealth:
        now = self.runtime.clock.now()
        if name == "supabase":
            return await self._store_ping()
        adapter: Adapter | None = self.runtime.adapters()[name]
        provider = self.settings.provider(name)  # type: ignore[arg-type]
        if adapter is None:
            return ServiceHealth(healthy=True, enabled=False, provider=provider, checked_at=now)
        return await self._timed_ping(name, adapter.ping, provider=provider)

    async def _store_ping(self) -> ServiceHealth:
        """The store answers, and its schema is the one this project reads (a mismatch is unhealthy: every
        context read would fail)."""
        store = self.runtime.store
        health = await self._timed_ping("supabase", store.ping, provider="supabase", backend=store.backend)
        if not health.healthy:
            return health
        try:
            report = await store.check_schema()
        except IntegrationError as error:
            return health.model_copy(update={"healthy": False, "error": str(error)})
        if report.ok:
            return health.model_copy(update={"schema_": "ok"})
        return health.model_copy(update={"healthy": False, "schema_": "mismatch", "error": report.message()})

    async def _timed_ping(
        self, name: str, ping: Callable[[], Awaitable[None]], *, provider: str, backend: str | None = None
    ) -> ServiceHealth:
        started = time.perf_counter()
        error: str | None = None
        # A vendor's credentials are judged by its ping: refused ones say how (expired, scope, invalid).
        auth: Literal["ok", "expired", "missing_scope", "invalid"] | None = None if name == "supabase" else "ok"
        try:
            async with asyncio.timeout(self.settings.timeout_seconds(name)):
                await ping()
        except TimeoutError:
            error = f"no answer within {self.settings.timeout_seconds(name):g} s"
        except ProviderAuthError as failure:
            error, auth = str(failure), failure.reason
        except IntegrationError as failure:
            error = str(failure)
            if name != "supabase":
                auth = None  # unknown: the vendor did not get as far as judging them
        latency = round((time.perf_counter() - started) * 1000, 1)
        return ServiceHealth(
            healthy=error is None,
            latency=latency,
            provider=provider,
            backend=backend,
            error=error,
            auth=auth,
            checked_at=self.runtime.clock.now(),
        )


def _sections(ctx: CustomerContext) -> tuple[str, ...]:
    """The parts of customer data a context returned (for the audit trail)."""
    present = ["profile"]
    for name, value in (
        ("sacredEdge", ctx.sacred_edge),
        ("commitments", ctx.commitments),
        ("lifeAreas", ctx.life_areas),
        ("recentEntries", ctx.recent_entries),
        ("entrySummaries", ctx.entry_summaries),
        ("spiralState", ctx.spiral_state),
        ("coachActions", ctx.coach_actions),
        ("enhancedSuggestions", ctx.enhanced_suggestions),
        ("patterns", ctx.patterns),
        ("wins", ctx.wins),
        ("dailyTasks", ctx.daily_tasks),
        ("supplements", ctx.supplements),
        ("conversation", ctx.conversation),
        ("crmContext", ctx.crm_context),
        ("schedulingContext", ctx.scheduling_context),
    ):
        if value:
            present.append(name)
    return tuple(present)


def _reference(customer_id: UUID | str) -> UUID | str:
    """A UUID when the text is one; otherwise the text (an email)."""
    if isinstance(customer_id, UUID):
        return customer_id
    text = customer_id.strip()
    try:
        return UUID(text)
    except ValueError:
        pass
    if "@" not in text or len(text) > 320 or not text.isprintable():  # no NUL or control characters
        raise InvalidInput(f"Not a customer UUID or email: {text[:80]!r}")
    return text


_manager: IntegrationManager | None = None


def get_integration_manager(settings: Settings | None = None) -> IntegrationManager:
    """The process's manager, built lazily from the environment (or ``settings``) on first use."""
    global _manager
    if _manager is None:
        _manager = IntegrationManager(build_runtime(settings or load_settings()))
    return _manager


__all__ = ["IntegrationManager", "get_integration_manager"]
