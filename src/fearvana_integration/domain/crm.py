"""CRM-side models: lifecycle, sentiment, tickets, interactions."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, JsonValue, field_validator

from fearvana_integration.domain.base import DomainModel, UtcDateTime

LifecycleStage = Literal["onboarding", "active", "at-risk", "churned", "vip"]
Sentiment = Literal["positive", "neutral", "negative"]
InteractionType = Literal["chat", "email", "call", "appointment", "system"]

MAX_SUMMARY_CHARS = 5000
MAX_METADATA_DEPTH = 8


def _check_metadata(value: JsonValue, depth: int) -> None:
    """No NUL in any key or string (a store or vendor cannot keep it) and nesting bounded."""
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata may nest at most {MAX_METADATA_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("metadata must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_metadata(key, depth)
            _check_metadata(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_metadata(item, depth + 1)


class Ticket(DomainModel):
    """A support ticket in the CRM."""

    id: str
    subject: str
    status: str
    priority: str | None = None
    created_at: UtcDateTime | None = None


class CrmContact(DomainModel):
    """The customer's record in the CRM, as found by email."""

    id: str
    email: str
    display_name: str | None = None


class CRMContext(DomainModel):
    """What the CRM knows: stage, tags, sentiment, tickets. ``open_tickets`` is null where the CRM has none."""

    lifecycle_stage: LifecycleStage | None
    tags: list[str] = []
    last_interaction: UtcDateTime | None = None
    sentiment: Sentiment | None = None
    open_tickets: int | None = None
    tickets: list[Ticket] = []
    contact_email: str | None = Field(default=None, description="The email on the CRM record, if it differs")
    unmapped_fields: dict[str, str] = Field(
        default_factory=dict,
        description="CRM values the configured mapping does not know (field → vendor value); those fields are null",
    )
    internal_labels_hidden: bool = Field(
        default=False, description="Stage, sentiment and tags withheld (the customer's own view)"
    )

    def customer_view(self) -> CRMContext:
        """Without the CRM-internal labels a customer may not see (SPEC §8)."""
        return self.model_copy(
            update={
                "lifecycle_stage": None,
                "sentiment": None,
                "tags": [],
                "contact_email": None,
                "unmapped_fields": {},
                "internal_labels_hidden": True,
            }
        )


class Interaction(DomainModel):
    """Something that happened between the coach (or the AI) and the customer, to log in the CRM."""

    id: UUID | None = Field(default=None, description="Optional client UUID, for idempotency")
    type: InteractionType
    timestamp: UtcDateTime
    summary: str = Field(min_length=1, max_length=MAX_SUMMARY_CHARS)
    sentiment: Sentiment | None = None
    metadata: dict[str, JsonValue] | None = None

    @field_validator("summary")
    @classmethod
    def _summary_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("summary must not be blank")
        if "\x00" in value:  # no store or CRM can keep it (Postgres text cannot hold NUL at all)
            raise ValueError("summary must not contain NUL characters")
        if not any(char.isprintable() and not char.isspace() for char in value):
            raise ValueError("summary must contain visible text")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_storable(cls, value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        if value is not None:
            _check_metadata(value, depth=1)
        return value


class InteractionRecord(DomainModel):
    """An interaction as the CRM stores it (history)."""

    crm_id: str
    type: InteractionType
    timestamp: UtcDateTime
    summary: str
    sentiment: Sentiment | None = None
