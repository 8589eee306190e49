"""``notesForAi``: what the AI must know to read the context right (SPEC §2 codes)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TypeVar

from fearvana_integration.context.render import fence, when
from fearvana_integration.domain.context import NoteForAi
from fearvana_integration.domain.crm import CRMContext
from fearvana_integration.domain.scheduling import SchedulingContext
from fearvana_integration.domain.sourced import Sourced
from fearvana_integration.errors import source_label

STALE_AFTER = timedelta(days=30)
T = TypeVar("T")


def source_notes(source: str, sourced: Sourced[T]) -> list[NoteForAi]:
    """``source_unavailable`` / ``source_disabled`` / ``stale_data`` for one optional source."""
    label = source_label(source)
    if sourced.status == "disabled":
        return [
            NoteForAi(
                code="source_disabled",
                source=source,
                message=f"{label} is disabled in this deployment: there is no {label} data; do not guess it.",
            )
        ]
    if sourced.status == "unavailable":
        return [
            NoteForAi(
                code="source_unavailable",
                source=source,
                message=f"{label} data is missing ({fence(sourced.reason or 'unknown reason')}). "
                "Do not assume it is empty.",
            )
        ]
    if sourced.status == "stale" and sourced.age_seconds is not None:
        minutes = round(sourced.age_seconds / 60)
        return [
            NoteForAi(
                code="stale_data",
                source=source,
                message=f"{label} data is {minutes} minutes old ({label} is not answering); it may have changed.",
            )
        ]
    return []


def customer_notes(
    *,
    now: datetime,
    profile_email: str,
    ever_active: bool,
    last_activity_at: datetime | None,
    crm: Sourced[CRMContext | None],
    scheduling: Sourced[SchedulingContext],
) -> list[NoteForAi]:
    """Notes derived from the data itself: new, inactive, inconsistent, preparation due, not in CRM.

    New and inactive come from the customer's *activity* (entries, completed coach actions and tasks,
    challenges, XP, commitments, assessments, their own conversation turns), never from the rows the
    app's sign-up creates for everyone.
    """
    notes: list[NoteForAi] = []
    if not ever_active:
        notes.append(
            NoteForAi(
                code="new_customer",
                message="New customer: no tracking, completed actions, challenges, commitments, assessments or "
                "conversations yet. Use onboarding framing and ask about their goals.",
            )
        )
    elif last_activity_at is None or now - last_activity_at >= STALE_AFTER:
        since = f"since {when(last_activity_at, now, with_time=False)}" if last_activity_at else "at a known time"
        notes.append(
            NoteForAi(
                code="stale_data",
                message=f"No activity {since}: scores reflect their last activity, not today. "
                "Re-engage gently before coaching on numbers.",
            )
        )
    crm_context = crm.value if crm.ok else None
    schedule = scheduling.value if scheduling.ok else None
    if crm.ok and crm_context is None:
        notes.append(
            NoteForAi(
                code="not_in_crm",
                source="crm",
                message="The customer is not in the CRM: no lifecycle stage, sentiment, tags or tickets.",
            )
        )
    if crm_context is not None and crm_context.open_tickets is None:
        notes.append(
            NoteForAi(
                code="capability_missing",
                source="crm",
                message="This CRM does not track support tickets: open tickets are unknown, not zero.",
            )
        )
    if crm_context is not None and crm_context.unmapped_fields:
        values = ", ".join(f"{name} {fence(value)}" for name, value in sorted(crm_context.unmapped_fields.items()))
        notes.append(
            NoteForAi(
                code="inconsistency",
                source="crm",
                message=f"The CRM holds values this deployment does not map ({values}): those fields are unknown, "
                "do not guess them (an operator can map them with CRM_STAGE_MAP).",
            )
        )
    booked = schedule.next_appointment if schedule is not None else None
    if crm_context is not None and booked is not None and crm_context.lifecycle_stage == "churned":
        notes.append(
            NoteForAi(
                code="inconsistency",
                message="The CRM says churned, but a session is booked for "
                f"{when(booked.start_time, now)}: treat them as returning and have the CRM stage checked.",
            )
        )
    crm_email = crm_context.contact_email if crm_context is not None else None
    if crm_email is not None and crm_email.strip().lower() != profile_email.strip().lower():
        notes.append(
            NoteForAi(
                code="inconsistency",
                source="crm",
                message=f"The CRM record's email {fence(crm_email)} differs from the profile's: "
                "it may be another person's record.",
            )
        )
    if schedule is not None and schedule.preparation_due and schedule.next_appointment is not None:
        notes.append(
            NoteForAi(
                code="preparation_due",
                source="scheduling",
                message=f"A {schedule.next_appointment.type} starts {when(schedule.next_appointment.start_time, now)}: "
                "prepare from the brief under the next session.",
            )
        )
    return notes


def unreadable_notes(unreadable: Mapping[str, int]) -> list[NoteForAi]:
    """``data_unreadable``: rows of the customer's data the store could not interpret (table and count)."""
    if not unreadable:
        return []
    listed = ", ".join(f"{count} in {table}" for table, count in sorted(unreadable.items()))
    total = sum(unreadable.values())
    rows, verb = ("rows", "are") if total != 1 else ("row", "is")
    return [
        NoteForAi(
            code="data_unreadable",
            source="supabase",
            message=f"{total} {rows} of the customer's data could not be read ({listed}) and {verb} left out: "
            "the picture may be incomplete there; do not assume those records do not exist.",
        )
    ]
