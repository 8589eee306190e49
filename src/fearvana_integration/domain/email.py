"""Outgoing email as every email adapter receives it."""

from __future__ import annotations

from pydantic import Field

from fearvana_integration.domain.base import DomainModel


class EmailAddress(DomainModel):
    """An address with an optional display name."""

    email: str
    name: str | None = None


class EmailMessage(DomainModel):
    """One rendered message, ready for a provider."""

    to: EmailAddress
    sender: EmailAddress = Field(alias="from")
    subject: str = Field(min_length=1, max_length=998)
    text_body: str
    html_body: str | None = None
    idempotency_key: str | None = Field(default=None, description="Echoed back by provider webhooks")
    tags: dict[str, str] = {}
