"""The preparation brief: what a coach should have in mind before the next session, from the context.

Computed for a session within 48 hours, in a fixed order, a few lines at most, the same every time
for the same data (no model, no randomness): what moved since the last session (the life areas whose
score changed most, streaks at their best or broken), the commitments still open, the Sacred Edge and
where the customer stands with it, the last session's outcome, and open support tickets. The
customer's own words are quoted as JSON strings, like everywhere in the prompt.
"""

from __future__ import annotations

from datetime import datetime

from fearvana_integration.context.render import fence
from fearvana_integration.context.scoring import SCORING_WINDOW, Observation, score_between
from fearvana_integration.domain.coaching import Commitments, SacredEdge
from fearvana_integration.domain.crm import CRMContext
from fearvana_integration.domain.customer import Entry, LifeArea
from fearvana_integration.domain.scheduling import SchedulingContext

MOVED_POINTS = 5.0  # a smaller change is noise at the scores' resolution
MOST_MOVED = 2
STREAK_WORTH_NAMING = 3
TEXT_CHARS = 90


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1].rstrip() + "…"


def _days(moment: datetime, now: datetime) -> str:
    days = (now - moment).days
    return "today" if days <= 0 else "yesterday" if days == 1 else f"{days} days ago"


def _movement(areas: list[LifeArea], entries: list[Entry], since: datetime) -> str | None:
    """The areas whose score moved most from the week before ``since`` to their current score."""
    observations: dict[str, list[Observation]] = {}
    for entry in entries:
        observations.setdefault(entry.category, []).append(Observation(entry.timestamp, entry.metrics))
    moves: list[tuple[float, str]] = []
    for area in areas:
        seen = observations.get(area.category, [])
        before = score_between(seen, area.goal, since - SCORING_WINDOW, since)
        # Now: the score the context shows for the area (its newest week of entries).
        after = float(area.current_score) if area.current_score is not None else None
        if before is None or after is None or abs(after - before) < MOVED_POINTS:
            continue
        change = after - before
        moves.append(
            (
                change,
                f"{area.label} {'up' if change > 0 else 'down'} {abs(round(change))} ({round(before)}→{round(after)})",
            )
        )
    if not moves:
        return None
    moves.sort(key=lambda move: (-abs(move[0]), move[1]))
    return ", ".join(text for _, text in moves[:MOST_MOVED])


def _streaks(areas: list[LifeArea]) -> str | None:
    best = [
        f"{a.label} at its best ({a.current_streak} days)"
        for a in areas
        if a.current_streak and a.longest_streak and a.current_streak >= max(a.longest_streak, STREAK_WORTH_NAMING)
    ]
    broken = [
        f"{a.label} broken (best {a.longest_streak})"
        for a in areas
        if a.current_streak == 0 and (a.longest_streak or 0) >= STREAK_WORTH_NAMING
    ]
    found = best + broken
    return "Streaks: " + "; ".join(found[:3]) if found else None


def _commitments(commitments: Commitments | None, now: datetime) -> str | None:
    if commitments is None or not commitments.pending_count:
        return None
    text = f"Commitments: {commitments.pending_count} open"
    if commitments.overdue_count:
        text += f", {commitments.overdue_count} overdue"
    first = commitments.pending[0] if commitments.pending else None
    if first is not None:
        due = ""
        if first.due_date is not None:
            due = f" (overdue since {first.due_date:%b %d})" if first.overdue else f" (due {first.due_date:%b %d})"
        text += f" — {fence(_short(first.description))}{due}"
    return text


def _sacred_edge(edge: SacredEdge | None) -> str | None:
    if edge is None:
        return None
    text = f"Sacred Edge: {fence(_short(edge.description))}"
    details = []
    if edge.status:
        details.append(edge.status)
    if edge.experiments_count:
        details.append(f"{edge.experiments_count} experiment{'s' if edge.experiments_count != 1 else ''}")
    if details:
        text += " — " + ", ".join(details)
    if edge.latest_experiment:
        text += f"; latest: {fence(_short(edge.latest_experiment))}"
    return text


def _last_session(scheduling: SchedulingContext, now: datetime) -> str | None:
    last = scheduling.last_session
    if last is None:
        return "First session with the coach: no earlier session to build on"
    parts = [f"Last session {_days(last.start_time, now)}"]
    if last.outcome:
        parts.append(f"outcome: {fence(_short(last.outcome))}")
    if last.notes:
        parts.append(f"notes: {fence(_short(last.notes))}")
    return "; ".join(parts)


def _tickets(crm: CRMContext | None) -> str | None:
    if crm is None or not crm.open_tickets:
        return None
    text = f"Open support tickets: {crm.open_tickets}"
    if crm.tickets:
        first = crm.tickets[0]
        text += f" — {fence(_short(first.subject))}" + (f" ({first.priority})" if first.priority else "")
    return text


def preparation_brief(
    *,
    scheduling: SchedulingContext,
    areas: list[LifeArea],
    entries: list[Entry],
    commitments: Commitments | None,
    sacred_edge: SacredEdge | None,
    crm: CRMContext | None,
    now: datetime,
) -> list[str] | None:
    """The brief for the next session, or None when no session is due within 48 hours."""
    if not scheduling.preparation_due or scheduling.next_appointment is None:
        return None
    lines: list[str | None] = []
    if scheduling.last_session is not None:
        moved = _movement(areas, entries, scheduling.last_session.start_time)
        since = f"Since the last session ({_days(scheduling.last_session.start_time, now)})"
        lines.append(f"{since}: {moved}" if moved else f"{since}: no life area moved {MOVED_POINTS:g}+ points")
    lines += [
        _streaks(areas),
        _commitments(commitments, now),
        _sacred_edge(sacred_edge),
        _last_session(scheduling, now),
        _tickets(crm),
    ]
    return [line for line in lines if line]
