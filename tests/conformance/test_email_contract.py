"""The email contract, run against every registered email adapter."""

from __future__ import annotations

import pytest

from fearvana_integration.adapters.base import EmailAdapter
from fearvana_integration.domain.email import EmailAddress, EmailMessage
from fearvana_integration.errors import ProviderError, ProviderRejected
from tests.conformance.harness import FAULTS, Fault, Harness


def message(to: str = "known@example.com") -> EmailMessage:
    return EmailMessage.model_validate(
        {
            "to": EmailAddress(email=to, name="Kim Known"),
            "from": EmailAddress(email="coach@fearvana.local", name="Akshay from Fearvana"),
            "subject": "You reached level 5",
            "text_body": "Well done.",
            "html_body": "<p>Well done.</p>",
            "idempotency_key": "k-1",
        }
    )


async def test_send_returns_a_message_id(email: EmailAdapter) -> None:
    first, second = await email.send(message()), await email.send(message())
    assert first and second and first != second


async def test_invalid_recipient_is_rejected(email: EmailAdapter) -> None:
    with pytest.raises(ProviderRejected):
        await email.send(message(to="not-an-address"))


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "slow"])
async def test_faults_map_to_the_error_tree(email_harness: Harness, email: EmailAdapter, fault: Fault) -> None:
    email_harness.fail_next("send", fault)
    with pytest.raises(ProviderError):
        await email.send(message())
    assert await email.send(message())
