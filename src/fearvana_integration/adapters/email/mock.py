"""An email service that keeps what it was asked to send, for development and tests."""

from __future__ import annotations

import uuid
from typing import ClassVar

from fearvana_integration.adapters.base import EmailAdapter
from fearvana_integration.adapters.mock_support import MockBehaviour
from fearvana_integration.clock import Clock
from fearvana_integration.domain.email import EmailMessage
from fearvana_integration.errors import ProviderRejected


class MockEmailAdapter(MockBehaviour, EmailAdapter):
    """Stores messages in ``sent`` instead of delivering them; same contract as SendGrid, Postmark, SES."""

    name: ClassVar[str] = "mock"
    source: ClassVar[str] = "email"

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.sent: list[tuple[str, EmailMessage]] = []

    def _clear_data(self) -> None:
        self.sent.clear()

    async def ping(self) -> None:
        """Always reachable unless a fault is scripted."""
        await self._enter("ping")

    async def send(self, message: EmailMessage) -> str:
        """Keep the message; return a provider-style message id."""
        await self._enter("send")
        if "@" not in message.to.email or "@" not in message.sender.email:
            raise ProviderRejected("Invalid email address", source="email", operation="send")
        message_id = f"mock-msg-{uuid.uuid4().hex}"
        self.sent.append((message_id, message))
        return message_id
