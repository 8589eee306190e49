"""Reads of one customer's data, always filtered by that customer, in a fixed number of statements.

One read returns a *document* (the profile, the life areas with their entries, and everything else):
on Postgres one statement, ``integration.customer_document`` (SECURITY INVOKER, so the app's row-level
security filters it like any query); on the embedded SQLite copy a fixed number of statements per
section (``sqlite_document.py``), the same whatever the customer's data size. The two halves —
*activity* (life areas and entries, TTL 2 min) and *journey* (everything else, 5 min) — are cached
separately and can be refreshed one at a time with the same code as a cold read.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fearvana_integration.errors import CustomerNotFound, StoreUnavailable
from fearvana_integration.store import schema as t
from fearvana_integration.store.diagnosis import describe
from fearvana_integration.store.rows import (
    ActivityRow,
    AssessmentRow,
    ChallengeRow,
    CoachActionRow,
    CommitmentRow,
    ConversationRow,
    EntryRow,
    LevelRow,
    PatternRow,
    ProfileRow,
    SacredEdgeRow,
    SpiralRow,
    StatusCountRow,
    SuggestionRow,
    SupplementRow,
    TaskRow,
    WinRow,
    parse_one,
    parse_rows,
)
from fearvana_integration.store.sqlite_document import (
    DocumentLimits,
    activity_document,
    journey_document,
    profile_row,
)
from fearvana_integration.store.verify import (
    SchemaReport,
    check_postgres,
    check_project_postgres,
    check_project_sqlite,
    check_sqlite,
    migration_head,
)

HISTORY_WINDOW = timedelta(days=90)
SCORING_LOOKBACK = timedelta(days=14)
MAX_ENTRIES_LOADED = 5000
MAX_COACH_ACTIONS = 20
MAX_CHALLENGES = 20
Sections = Literal["all", "activity", "journey"]


@dataclass(frozen=True)
class ActivitySections:
    """Life areas (with streaks) and entries: the fast-changing part (TTL 2 min).

    ``categories`` are the database's life areas (the enum's values); ``entries`` are newest first,
    each with a known time; ``unreadable`` counts rows that could not be read, per table.
    """

    categories: list[str]
    levels: list[LevelRow]
    entries: list[EntryRow]
    history_start: datetime
    unreadable: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CoachingSections:
    """The app's coaching records of one customer."""

    sacred_edge: SacredEdgeRow | None
    commitments: list[CommitmentRow]
    overdue_commitments: int
    commitment_counts: list[StatusCountRow]
    patterns: list[PatternRow]
    pattern_count: int
    wins: list[WinRow]
    win_count: int
    assessments: list[AssessmentRow]
    tasks: list[TaskRow]
    suggestions: list[SuggestionRow]
    suggestion_count: int
    conversation: ConversationRow


@dataclass(frozen=True)
class JourneySections:
    """Coach actions, supplements, spiral state, challenges, coaching records, activity times:
    "other store data" (TTL 5 min)."""

    coach_actions: list[CoachActionRow]
    supplements: list[SupplementRow]
    spiral: SpiralRow
    challenges: list[ChallengeRow]
    challenge_count: int
    coaching: CoachingSections
    activity: ActivityRow
    unreadable: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreSections:
    """Everything the store holds about one customer, besides the profile."""

    activity: ActivitySections
    journey: JourneySections


@dataclass(frozen=True)
class CustomerData:
    """Everything the store holds about one customer, read at once (:meth:`CustomerStore.load_all`)."""

    profile: ProfileRow
    sections: StoreSections


def _activity_from(document: dict[str, Any], history_start: datetime) -> ActivitySections:
    unreadable: dict[str, int] = {}
    levels = parse_rows(LevelRow, "life_levels", document.get("levels") or [], unreadable)
    entries = parse_rows(EntryRow, "entries", document.get("entries") or [], unreadable)
    for row in parse_rows(EntryRow, "entries", document.get("undated_entries") or [], unreadable):
        if row.moment is None:
            unreadable["entries"] = unreadable.get("entries", 0) + 1  # no ts and no created_at: no time at all
        elif row.moment >= history_start:
            entries.append(row)
    entries.sort(key=lambda row: row.moment or history_start, reverse=True)
    return ActivitySections(
        categories=[str(c) for c in document.get("categories") or []],
        levels=levels,
        entries=entries,
        history_start=history_start,
        unreadable=unreadable,
    )


def _journey_from(document: dict[str, Any]) -> JourneySections:
    unreadable: dict[str, int] = {}
    spiral = parse_one(SpiralRow, "spiral_progress", document.get("spiral") or {}, unreadable)
    coaching = CoachingSections(
        sacred_edge=parse_one(SacredEdgeRow, "user_sacred_edges", document.get("sacred_edge"), unreadable),
        commitments=parse_rows(CommitmentRow, "user_commitments", document.get("commitments") or [], unreadable),
        overdue_commitments=int(document.get("overdue_commitments") or 0),
        commitment_counts=parse_rows(
            StatusCountRow, "user_commitments", document.get("commitment_counts") or [], unreadable
        ),
        patterns=parse_rows(PatternRow, "user_patterns", document.get("patterns") or [], unreadable),
        pattern_count=int(document.get("pattern_count") or 0),
        wins=parse_rows(WinRow, "user_wins", document.get("wins") or [], unreadable),
        win_count=int(document.get("win_count") or 0),
        assessments=parse_rows(AssessmentRow, "user_spiral_assessments", document.get("assessments") or [], unreadable),
        tasks=parse_rows(TaskRow, "daily_tasks", document.get("tasks") or [], unreadable),
        suggestions=parse_rows(
            SuggestionRow, "enhanced_coach_suggestions", document.get("suggestions") or [], unreadable
        ),
        suggestion_count=int(document.get("suggestion_count") or 0),
        conversation=parse_one(ConversationRow, "akshay_conversations", document.get("conversation") or {}, unreadable)
        or ConversationRow(),
    )
    return JourneySections(
        coach_actions=parse_rows(CoachActionRow, "coach_actions", document.get("actions") or [], unreadable),
        supplements=parse_rows(SupplementRow, "supplements", document.get("supplements") or [], unreadable),
        spiral=spiral or SpiralRow(),
        challenges=parse_rows(ChallengeRow, "challenge_completions", document.get("challenges") or [], unreadable),
        challenge_count=int(document.get("challenge_count") or 0),
        coaching=coaching,
        activity=parse_one(ActivityRow, "activity", document.get("activity") or {}, unreadable) or ActivityRow(),
        unreadable=unreadable,
    )


class CustomerStore:
    """The customer store: the embedded SQLite copy, or Supabase Postgres with row-level security.

    On Postgres every read of a customer's data runs in a transaction that first becomes role
    ``authenticated`` with that customer's JWT claims (``set_config('role', …)`` and
    ``request.jwt.claims``, as PostgREST does), so the database's own policies filter every statement
    besides our ``WHERE``: even a wrong filter could not return another customer's rows. The only
    reads as ``service_role`` are explicit: finding a customer by email (the CLI) and the audit log.
    """

    def __init__(
        self, engine: AsyncEngine, backend: str, *, statement_timeout_ms: int = 10_000, url: str | None = None
    ) -> None:
        self.engine = engine
        self.backend = backend
        self.url = url
        self.tables = t.project_tables(backend)
        self.statement_timeout_ms = statement_timeout_ms

    def unavailable(self, error: BaseException) -> StoreUnavailable:
        """A StoreUnavailable that says what happened and what to do (``diagnosis.describe``)."""
        return describe(error, backend=self.backend, timeout_ms=self.statement_timeout_ms, database_url=self.url)

    @asynccontextmanager
    async def transaction(self, subject: UUID | None, *, role: str = "authenticated") -> AsyncIterator[AsyncConnection]:
        """A read transaction as ``subject`` (role ``authenticated`` with its claims) or, with
        ``subject=None``, as the explicit ``role`` given (``service_role``, ``integration_writer``)."""
        try:
            async with self.engine.connect() as conn, conn.begin():
                if self.backend == "postgres":
                    claims = json.dumps({"sub": str(subject), "role": "authenticated"}) if subject else "{}"
                    await conn.execute(
                        _SETUP,
                        {
                            "role": "authenticated" if subject else role,
                            "claims": claims,
                            "timeout": str(self.statement_timeout_ms),
                        },
                    )
                yield conn
        except (SQLAlchemyError, OSError) as error:
            raise self.unavailable(error) from error

    async def aclose(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()

    async def ping(self) -> None:
        """One round trip; raises StoreUnavailable when the database does not answer."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except (SQLAlchemyError, OSError) as error:
            raise self.unavailable(error) from error

    async def check_schema(self) -> SchemaReport:
        """Compare the app's tables with what this project reads (``supabase.schema`` in health)."""
        try:
            async with self.engine.connect() as conn:
                if self.backend != "postgres":
                    report = await check_sqlite(conn)
                    return replace(report, project_problem=await check_project_sqlite(conn, self.tables))
                report = await check_postgres(conn)
                problem = await check_project_postgres(conn, migration_head())
                return replace(report, project_problem=problem)
        except (SQLAlchemyError, OSError) as error:
            raise self.unavailable(error) from error

    async def find_booking(self, booking_id: str) -> tuple[UUID, str] | None:
        """The customer and the appointment (JSON) booked with ``booking_id``, if one was."""
        table = self.tables.bookings
        query = sa.select(table.c.customer_id, table.c.appointment).where(table.c.booking_id == booking_id)
        async with self.transaction(None, role="service_role") as conn:
            row = (await conn.execute(query)).first()
        return (row.customer_id, row.appointment) if row is not None else None

    async def record_booking(
        self, booking_id: str, customer_id: UUID, provider: str, appointment_json: str, at: datetime
    ) -> None:
        """Remember the appointment booked with ``booking_id`` (a retry then returns it)."""
        values = {
            "booking_id": booking_id,
            "customer_id": customer_id,
            "provider": provider,
            "appointment": appointment_json,
            "created_at": at,
        }
        async with self.transaction(None, role="service_role") as conn:
            await conn.execute(sa.insert(self.tables.bookings).values(values))

    async def find_profile(self, reference: UUID | str, *, subject: UUID | None = None) -> ProfileRow:
        """The profile (with preferences) by UUID or email; CustomerNotFound when there is none.

        By UUID the read runs as that customer (or as ``subject``, for isolation tests). By email it
        runs as ``service_role`` and returns the one matching profile: the CLI's lookup path.
        """
        if isinstance(reference, UUID):
            condition = t.profiles.c.id == reference
            transaction = self.transaction(subject or reference)
        else:
            condition = sa.func.lower(t.profiles.c.email) == reference.strip().lower()
            transaction = self.transaction(None, role="service_role")
        async with transaction as conn:
            row = await profile_row(conn, condition, self.tables.customer_preferences)
        profile = parse_one(ProfileRow, "profiles", row, {})
        if profile is None:
            raise CustomerNotFound(str(reference))
        return profile

    async def load_sections(self, profile_id: UUID, now: datetime) -> StoreSections:
        """Every store section of one customer (both halves)."""
        return StoreSections(await self.load_activity(profile_id, now), await self.load_journey(profile_id, now))

    async def load_all(self, profile_id: UUID, now: datetime, *, subject: UUID | None = None) -> CustomerData:
        """Profile and every section at once: one data statement on Postgres, a few per section on SQLite."""
        limits = _limits(now)
        async with self.transaction(subject or profile_id) as conn:
            if self.backend == "postgres":
                document = await self._document(conn, profile_id, "all", limits)
                profile_doc = document.get("profile")
            else:
                profile_doc = await profile_row(conn, t.profiles.c.id == profile_id, self.tables.customer_preferences)
                document = {}
                if profile_doc is not None:
                    document = {
                        **await activity_document(conn, profile_id, limits),
                        **await journey_document(conn, profile_id, limits),
                    }
        profile = parse_one(ProfileRow, "profiles", profile_doc, {})
        if profile is None:
            raise CustomerNotFound(str(profile_id))
        return CustomerData(
            profile=profile,
            sections=StoreSections(_activity_from(document, limits.history_start), _journey_from(document)),
        )

    async def load_activity(self, profile_id: UUID, now: datetime, *, subject: UUID | None = None) -> ActivitySections:
        """Life areas and entries."""
        limits = _limits(now)
        async with self.transaction(subject or profile_id) as conn:
            if self.backend == "postgres":
                document = await self._document(conn, profile_id, "activity", limits)
            else:
                document = await activity_document(conn, profile_id, limits)
        return _activity_from(document, limits.history_start)

    async def load_journey(self, profile_id: UUID, now: datetime, *, subject: UUID | None = None) -> JourneySections:
        """Coach actions, supplements, spiral state, challenges, coaching records, activity times."""
        limits = _limits(now)
        async with self.transaction(subject or profile_id) as conn:
            if self.backend == "postgres":
                document = await self._document(conn, profile_id, "journey", limits)
            else:
                document = await journey_document(conn, profile_id, limits)
        return _journey_from(document)

    async def _document(
        self, conn: AsyncConnection, profile_id: UUID, sections: Sections, limits: DocumentLimits
    ) -> dict[str, Any]:
        raw = (
            await conn.execute(
                _DOCUMENT,
                {
                    "profile": profile_id,
                    "sections": sections,
                    "now": limits.now,
                    "history_start": limits.history_start,
                    "lookback": limits.scoring_lookback,
                    "max_entries": limits.max_entries,
                    "max_actions": limits.max_actions,
                    "max_challenges": limits.max_challenges,
                },
            )
        ).scalar_one()
        document: dict[str, Any] = raw if isinstance(raw, dict) else json.loads(raw)
        return document


def _limits(now: datetime) -> DocumentLimits:
    return DocumentLimits(
        now=now,
        history_start=now - HISTORY_WINDOW,
        scoring_lookback=SCORING_LOOKBACK,
        max_entries=MAX_ENTRIES_LOADED,
        max_actions=MAX_COACH_ACTIONS,
        max_challenges=MAX_CHALLENGES,
    )


# One statement sets up the transaction: the role, the customer's claims (what auth.uid() reads),
# UTC for every timestamp rendered to JSON, and the statement timeout. All transaction-local.
_SETUP = sa.text(
    "SELECT set_config('role', :role, true), set_config('request.jwt.claims', :claims, true), "
    "set_config('TimeZone', 'UTC', true), set_config('statement_timeout', :timeout, true)"
)
_DOCUMENT = sa.text(
    "SELECT integration.customer_document(:profile, :sections, :now, :history_start, :lookback, :max_entries, "
    ":max_actions, :max_challenges)"
)
