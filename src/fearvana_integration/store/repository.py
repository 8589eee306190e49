"""Reads of one customer's data, always filtered by that customer, in a fixed number of statements.

:meth:`CustomerStore.load_sections` issues six statements whatever the customer's data size (no N+1):
levels (with streaks and entry aggregates) and entries (:meth:`~CustomerStore.load_activity`), coach
actions, supplements, spiral state and completed challenges (:meth:`~CustomerStore.load_journey`).
The two halves are cached separately, with the TTLs of their data types.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fearvana_integration.errors import CustomerNotFound, StoreUnavailable
from fearvana_integration.store import schema as t
from fearvana_integration.store.rows import (
    ChallengeRow,
    CoachActionRow,
    EntryRow,
    LevelRow,
    ProfileRow,
    SpiralRow,
    SupplementRow,
    parse_rows,
)

HISTORY_WINDOW = timedelta(days=90)
SCORING_LOOKBACK = timedelta(days=14)
MAX_ENTRIES_LOADED = 5000
MAX_COACH_ACTIONS = 20
MAX_CHALLENGES = 20


@dataclass(frozen=True)
class ActivitySections:
    """Life areas (with streaks and entry aggregates) and entries: the fast-changing part (TTL 2 min)."""

    levels: list[LevelRow]
    entries: list[EntryRow]
    history_start: datetime


@dataclass(frozen=True)
class JourneySections:
    """Coach actions, supplements, spiral state and challenges: "other store data" (TTL 5 min)."""

    coach_actions: list[CoachActionRow]
    supplements: list[SupplementRow]
    spiral: SpiralRow
    challenges: list[ChallengeRow]


@dataclass(frozen=True)
class StoreSections:
    """Everything the store holds about one customer, besides the profile."""

    activity: ActivitySections
    journey: JourneySections


def _rows(result: sa.CursorResult[Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in result.mappings()]


@dataclass(frozen=True)
class CustomerData:
    """Everything the store holds about one customer, read at once (:meth:`CustomerStore.load_all`)."""

    profile: ProfileRow
    sections: StoreSections


class CustomerStore:
    """The customer store: the embedded SQLite copy, or Supabase Postgres with row-level security.

    On Postgres every read of a customer's data runs in a transaction that first becomes role
    ``authenticated`` with that customer's JWT claims (``set_config('role', …)`` and
    ``request.jwt.claims``, as PostgREST does), so the database's own policies filter every statement
    besides our ``WHERE``: even a wrong filter could not return another customer's rows. The only
    reads as ``service_role`` are explicit: finding a customer by email (the CLI) and the audit log.
    """

    def __init__(self, engine: AsyncEngine, backend: str, *, statement_timeout_ms: int = 10_000) -> None:
        self.engine = engine
        self.backend = backend
        self.tables = t.project_tables(backend)
        self.statement_timeout_ms = statement_timeout_ms

    def unavailable(self, error: Exception) -> StoreUnavailable:
        """A StoreUnavailable that says what to do, without leaking SQL or connection strings."""
        text = str(error)
        if self.backend == "sqlite" and "unable to open database file" in text:
            return StoreUnavailable(
                "The database file does not exist: run `fearvana-integration db seed-demo` (or `db init`), "
                "or set DATABASE_URL"
            )
        if "no such table" in text or ("does not exist" in text and "relation" in text):
            return StoreUnavailable("The database has no customer tables: run `fearvana-integration db init`")
        if "permission denied to set role" in text or "must be member of role" in text:
            return StoreUnavailable(
                "The database user may not switch to role authenticated/service_role: connect as the "
                "Supabase 'postgres' user (or grant those roles to the user in DATABASE_URL)"
            )
        if "statement timeout" in text or "canceling statement" in text:
            return StoreUnavailable(f"The customer store did not answer within {self.statement_timeout_ms} ms")
        return StoreUnavailable(f"Customer store unavailable ({type(error).__name__})")

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

    async def find_profile(self, reference: UUID | str, *, subject: UUID | None = None) -> ProfileRow:
        """The profile (with preferences) by UUID or email; CustomerNotFound when there is none.

        By UUID the read runs as that customer (or as ``subject``, for isolation tests). By email it
        runs as ``service_role`` and returns the one matching profile: the CLI's lookup path.
        """
        prefs = self.tables.customer_preferences
        query = sa.select(
            t.profiles.c.id,
            t.profiles.c.email,
            t.profiles.c.display_name,
            t.profiles.c.avatar_url,
            t.profiles.c.created_at,
            prefs.c.time_zone,
            prefs.c.email_opt_in,
            prefs.c.email_frequency,
            prefs.c.quiet_hours_start,
            prefs.c.quiet_hours_end,
        ).select_from(t.profiles.outerjoin(prefs, prefs.c.profile_id == t.profiles.c.id))
        if isinstance(reference, UUID):
            query = query.where(t.profiles.c.id == reference)
            transaction = self.transaction(subject or reference)
        else:
            query = query.where(sa.func.lower(t.profiles.c.email) == reference.strip().lower())
            transaction = self.transaction(None, role="service_role")
        async with transaction as conn:
            rows = _rows(await conn.execute(query))
        parsed = parse_rows(ProfileRow, "profiles", rows)
        if not parsed:
            raise CustomerNotFound(str(reference))
        return parsed[0]

    async def load_sections(self, profile_id: UUID, now: datetime) -> StoreSections:
        """Every store section of one customer (see module docstring for the statement count)."""
        return StoreSections(await self.load_activity(profile_id, now), await self.load_journey(profile_id))

    async def load_all(self, profile_id: UUID, now: datetime, *, subject: UUID | None = None) -> CustomerData:
        """Profile and every section at once: one data statement on Postgres (a SECURITY INVOKER function
        that row-level security filters like any query), seven on SQLite."""
        if self.backend != "postgres":
            profile = await self.find_profile(profile_id, subject=subject)
            return CustomerData(profile, await self.load_sections(profile_id, now))
        history_start = now - HISTORY_WINDOW
        async with self.transaction(subject or profile_id) as conn:
            raw = (
                await conn.execute(
                    _CONTEXT_DATA,
                    {
                        "profile": profile_id,
                        "history_start": history_start,
                        "lookback": SCORING_LOOKBACK,
                        "max_entries": MAX_ENTRIES_LOADED,
                        "max_actions": MAX_COACH_ACTIONS,
                        "max_challenges": MAX_CHALLENGES,
                    },
                )
            ).scalar_one()
        data = raw if isinstance(raw, dict) else json.loads(raw)
        profiles = parse_rows(ProfileRow, "profiles", [data["profile"]] if data.get("profile") else [])
        if not profiles:
            raise CustomerNotFound(str(profile_id))
        spiral = parse_rows(SpiralRow, "spiral_progress", [data.get("spiral") or {}])
        return CustomerData(
            profile=profiles[0],
            sections=StoreSections(
                ActivitySections(
                    levels=parse_rows(LevelRow, "life_levels", data.get("levels") or []),
                    entries=parse_rows(EntryRow, "entries", data.get("entries") or []),
                    history_start=history_start,
                ),
                JourneySections(
                    coach_actions=parse_rows(CoachActionRow, "coach_actions", data.get("actions") or []),
                    supplements=parse_rows(SupplementRow, "supplements", data.get("supplements") or []),
                    spiral=spiral[0] if spiral else SpiralRow(),
                    challenges=parse_rows(ChallengeRow, "challenge_completions", data.get("challenges") or []),
                ),
            ),
        )

    async def load_activity(self, profile_id: UUID, now: datetime, *, subject: UUID | None = None) -> ActivitySections:
        """Life areas and entries: two statements."""
        async with self.transaction(subject or profile_id) as conn:
            levels = parse_rows(LevelRow, "life_levels", _rows(await conn.execute(_levels_query(profile_id))))
            history_start = now - HISTORY_WINDOW
            query = _entries_query(profile_id, levels, history_start)
            entries = parse_rows(EntryRow, "entries", _rows(await conn.execute(query)))
        return ActivitySections(levels=levels, entries=entries, history_start=history_start)

    async def load_journey(self, profile_id: UUID, *, subject: UUID | None = None) -> JourneySections:
        """Coach actions, supplements, spiral state, challenges: four statements."""
        async with self.transaction(subject or profile_id) as conn:
            actions = _rows(await conn.execute(_coach_actions_query(profile_id)))
            supplements = _rows(await conn.execute(_supplements_query(profile_id)))
            spiral = parse_rows(SpiralRow, "spiral_progress", _rows(await conn.execute(_spiral_query(profile_id))))
            challenges = _rows(await conn.execute(_challenges_query(profile_id)))
        return JourneySections(
            coach_actions=parse_rows(CoachActionRow, "coach_actions", actions),
            supplements=parse_rows(SupplementRow, "supplements", supplements),
            spiral=spiral[0] if spiral else SpiralRow(),
            challenges=parse_rows(ChallengeRow, "challenge_completions", challenges),
        )


# One statement sets up the transaction: the role, the customer's claims (what auth.uid() reads),
# UTC for every timestamp rendered to JSON, and the statement timeout. All transaction-local.
_SETUP = sa.text(
    "SELECT set_config('role', :role, true), set_config('request.jwt.claims', :claims, true), "
    "set_config('TimeZone', 'UTC', true), set_config('statement_timeout', :timeout, true)"
)
_CONTEXT_DATA = sa.text(
    "SELECT integration.customer_context_data(:profile, :history_start, :lookback, :max_entries, "
    ":max_actions, :max_challenges)"
)


def _levels_query(profile_id: UUID) -> sa.Select[Any]:
    own_levels = sa.select(t.life_levels.c.id).where(t.life_levels.c.profile_id == profile_id)
    aggregates = (
        sa.select(
            t.entries.c.level_id,
            sa.func.count().label("entry_count"),
            sa.func.max(t.entries.c.ts).label("last_entry_at"),
        )
        .where(t.entries.c.level_id.in_(own_levels))
        .group_by(t.entries.c.level_id)
        .subquery("agg")
    )
    return (
        sa.select(
            t.life_levels.c.id,
            t.life_levels.c.category,
            t.life_levels.c.goal_jsonb,
            t.life_levels.c.updated_at,
            t.streaks.c.current_streak,
            t.streaks.c.longest_streak,
            t.streaks.c.last_activity_date,
            sa.func.coalesce(aggregates.c.entry_count, 0).label("entry_count"),
            sa.type_coerce(aggregates.c.last_entry_at, t.UtcTimestamp).label("last_entry_at"),
        )
        .select_from(
            t.life_levels.outerjoin(
                t.streaks,
                sa.and_(
                    t.streaks.c.profile_id == t.life_levels.c.profile_id,
                    t.streaks.c.category == sa.cast(t.life_levels.c.category, sa.Text),
                ),
            ).outerjoin(aggregates, aggregates.c.level_id == t.life_levels.c.id)
        )
        .where(t.life_levels.c.profile_id == profile_id)
    )


def _entries_query(profile_id: UUID, levels: list[LevelRow], history_start: datetime) -> sa.Select[Any]:
    # Everything in the history window, plus each older area's scoring window (its last 14 days of
    # activity), so an inactive customer still gets a score: at most 8 extra conditions, one statement.
    windows = [t.entries.c.ts >= history_start]
    for level in levels:
        if level.last_entry_at is not None and level.last_entry_at - SCORING_LOOKBACK < history_start:
            windows.append(
                sa.and_(t.entries.c.level_id == level.id, t.entries.c.ts >= level.last_entry_at - SCORING_LOOKBACK)
            )
    return (
        sa.select(t.entries.c.id, t.entries.c.level_id, t.life_levels.c.category, t.entries.c.ts, t.entries.c.metric)
        .select_from(t.entries.join(t.life_levels, t.life_levels.c.id == t.entries.c.level_id))
        .where(t.life_levels.c.profile_id == profile_id, sa.or_(*windows))
        .order_by(t.entries.c.ts.desc(), t.entries.c.id)
        .limit(MAX_ENTRIES_LOADED)
    )


def _coach_actions_query(profile_id: UUID) -> sa.Select[Any]:
    newest = sa.func.coalesce(t.coach_actions.c.ts, t.coach_actions.c.created_at)
    return (
        sa.select(
            t.coach_actions.c.id,
            t.life_levels.c.category,
            t.coach_actions.c.ts,
            t.coach_actions.c.created_at,
            t.coach_actions.c.suggestion,
            t.coach_actions.c.completed,
            t.coach_actions.c.ai_metadata,
        )
        .select_from(t.coach_actions.join(t.life_levels, t.life_levels.c.id == t.coach_actions.c.level_id))
        .where(t.life_levels.c.profile_id == profile_id)
        .order_by(newest.desc(), t.coach_actions.c.id)
        .limit(MAX_COACH_ACTIONS)
    )


def _supplements_query(profile_id: UUID) -> sa.Select[Any]:
    return (
        sa.select(t.supplements.c.id, t.supplements.c.name, t.supplements.c.qty_on_hand, t.supplements.c.dosage_schema)
        .where(t.supplements.c.profile_id == profile_id, t.supplements.c.qty_on_hand > 0)
        .order_by(t.supplements.c.name)
    )


def _spiral_query(profile_id: UUID) -> sa.Select[Any]:
    total_xp = (
        sa.select(sa.func.coalesce(sa.func.sum(t.spiral_xp_log.c.xp_amount), 0))
        .where(t.spiral_xp_log.c.profile_id == profile_id)
        .scalar_subquery()
    )
    journey = (
        sa.select(t.spiral_journey_states.c.current_step, t.spiral_journey_states.c.step_progress)
        .where(t.spiral_journey_states.c.profile_id == profile_id)
        .subquery("journey")
    )
    progress = (
        sa.select(t.spiral_progress.c.current_level)
        .where(t.spiral_progress.c.profile_id == profile_id)
        .subquery("progress")
    )
    return (
        sa.select(
            journey.c.current_step,
            journey.c.step_progress,
            progress.c.current_level,
            total_xp.label("total_xp"),
        )
        .select_from(t.profiles)
        .outerjoin(journey, sa.true())
        .outerjoin(progress, sa.true())
        .where(t.profiles.c.id == profile_id)
    )


def _challenges_query(profile_id: UUID) -> sa.Select[Any]:
    return (
        sa.select(t.challenge_completions.c.challenge_id, t.challenge_completions.c.completed_at)
        .where(t.challenge_completions.c.profile_id == profile_id)
        .order_by(t.challenge_completions.c.completed_at.desc(), t.challenge_completions.c.id)
        .limit(MAX_CHALLENGES)
    )
