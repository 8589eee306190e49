"""Signing customers up the way the Fearvana app does, for demo and test data.

On Postgres a row goes into ``auth.users`` and the app's trigger (``handle_new_user``) creates the
profile, the 7 life levels with their default goals, a streak per area, the journey state (step 1)
and spiral progress (level ``orange``). The embedded SQLite copy has no ``auth`` schema and no
triggers, so :func:`sign_up` writes exactly those rows itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from fearvana_integration.domain.life_areas import APP_LIFE_AREAS, DEFAULT_GOALS
from fearvana_integration.store import schema as t

SIGN_UP_LEVEL = "orange"

AUTH_USERS = sa.Table(
    "users",
    sa.MetaData(schema="auth"),
    sa.Column("id", sa.Uuid(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text),
    sa.Column("raw_user_meta_data", JSONB),
    sa.Column("created_at", t.UtcTimestamp),
)


@dataclass(frozen=True)
class NewUser:
    """Who signs up, and when."""

    id: uuid.UUID
    email: str
    display_name: str | None
    at: datetime


async def sign_up(conn: AsyncConnection, backend: str, users: Sequence[NewUser]) -> None:
    """Create the users and everything the app's sign-up creates for them."""
    if not users:
        return
    if backend == "postgres":
        await conn.execute(
            sa.insert(AUTH_USERS),
            [
                {
                    "id": user.id,
                    "email": user.email,
                    "raw_user_meta_data": {"display_name": user.display_name} if user.display_name else {},
                    "created_at": user.at,
                }
                for user in users
            ],
        )
        return
    await conn.execute(
        sa.insert(t.profiles),
        [
            {"id": u.id, "email": u.email, "display_name": u.display_name, "avatar_url": None,
             "created_at": u.at, "updated_at": u.at}
            for u in users
        ],
    )  # fmt: skip
    levels, streaks = [], []
    for user in users:
        for category in APP_LIFE_AREAS:
            levels.append(
                {"id": uuid.uuid5(user.id, f"life_levels:{category}"), "profile_id": user.id, "category": category,
                 "goal_jsonb": dict(DEFAULT_GOALS[category]), "created_at": user.at, "updated_at": user.at}
            )  # fmt: skip
            streaks.append(
                {"id": uuid.uuid5(user.id, f"streaks:{category}"), "profile_id": user.id, "category": category,
                 "current_streak": 0, "longest_streak": 0, "created_at": user.at, "updated_at": user.at}
            )  # fmt: skip
    await conn.execute(sa.insert(t.life_levels), levels)
    await conn.execute(sa.insert(t.streaks), streaks)
    await conn.execute(
        sa.insert(t.spiral_journey_states),
        [
            {"id": uuid.uuid5(u.id, "spiral_journey_states"), "profile_id": u.id, "current_step": 1,
             "step_progress": 0, "cognitive_bandwidth_score": 100, "created_at": u.at, "updated_at": u.at}
            for u in users
        ],
    )  # fmt: skip
    await conn.execute(
        sa.insert(t.spiral_progress),
        [
            {"id": uuid.uuid5(u.id, "spiral_progress"), "profile_id": u.id, "current_level": SIGN_UP_LEVEL,
             "progress_in_level": 0, "unlocked_levels": [SIGN_UP_LEVEL], "created_at": u.at, "updated_at": u.at}
            for u in users
        ],
    )  # fmt: skip


async def delete_users(conn: AsyncConnection, backend: str, ids: Sequence[uuid.UUID]) -> None:
    """Remove the users and, through the app's cascading foreign keys, everything they own."""
    if not ids:
        return
    if backend == "postgres":
        await conn.execute(sa.delete(AUTH_USERS).where(AUTH_USERS.c.id.in_(ids)))
    else:
        await conn.execute(sa.delete(t.profiles).where(t.profiles.c.id.in_(ids)))


async def owned_ids(
    conn: AsyncConnection, table: sa.Table, ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
    """(profile, category) → row id of the customers' life_levels or streaks rows."""
    query = sa.select(table.c.id, table.c.profile_id, sa.cast(table.c.category, sa.Text).label("category")).where(
        table.c.profile_id.in_(ids)
    )
    return {(row.profile_id, row.category): row.id for row in await conn.execute(query)}
