"""What the AI is told about the CRM part: not in the CRM, no tickets, values nobody mapped."""

from __future__ import annotations

from datetime import UTC, datetime

from fearvana_integration.context.notes import customer_notes
from fearvana_integration.domain.crm import CRMContext
from fearvana_integration.domain.scheduling import SchedulingContext
from fearvana_integration.domain.sourced import Sourced

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _notes(crm: CRMContext | None) -> dict[str, str]:
    notes = customer_notes(
        now=NOW,
        profile_email="kim@example.com",
        ever_active=True,
        last_activity_at=NOW,
        crm=Sourced(crm, "fresh", "crm", NOW),
        scheduling=Sourced[SchedulingContext](None, "unavailable", "scheduling", None),
    )
    return {note.code: note.message for note in notes if note.source == "crm"}


def test_an_unmapped_stage_is_null_with_a_note_naming_the_value() -> None:
    notes = _notes(CRMContext(lifecycle_stage=None, open_tickets=0, unmapped_fields={"lifecycleStage": "lead"}))
    assert '"lead"' in notes["inconsistency"] and "do not guess" in notes["inconsistency"]


def test_a_crm_without_tickets_says_unknown_not_zero() -> None:
    assert "not zero" in _notes(CRMContext(lifecycle_stage="active", open_tickets=None))["capability_missing"]


def test_not_in_crm_is_a_note_not_an_error() -> None:
    assert "not_in_crm" in _notes(None)


def test_the_customer_view_drops_unmapped_vendor_values() -> None:
    ctx = CRMContext(lifecycle_stage=None, unmapped_fields={"lifecycleStage": "lead"})
    assert ctx.customer_view().unmapped_fields == {}
