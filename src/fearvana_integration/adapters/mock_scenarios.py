"""The demo customers' scenarios (SPEC §11), which the mocks reproduce in any process.

Customers not listed get data derived from their id alone. Scenario times are anchored to the
current UTC day, so every process on the same day sees the same sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fearvana_integration.domain.crm import LifecycleStage, Sentiment

SessionPattern = Literal["regular", "none", "lapsed", "booked", "prep-due", "generated"]


@dataclass(frozen=True)
class Scenario:
    """What the mocks say about one demo customer."""

    in_crm: bool = True
    stage: LifecycleStage | None = None
    sentiment: Sentiment | None = None
    open_tickets: int | None = None
    sessions: SessionPattern = "generated"


SCENARIOS: dict[str, Scenario] = {
    "demo@fearvana.local": Scenario(stage="active", sentiment="positive", open_tickets=2, sessions="regular"),
    "new@fearvana.local": Scenario(in_crm=False, sessions="none"),
    "stale@fearvana.local": Scenario(stage="at-risk", sentiment="neutral", open_tickets=0, sessions="lapsed"),
    "heavy@fearvana.local": Scenario(stage="vip", sentiment="positive", open_tickets=1, sessions="regular"),
    "churned-booked@fearvana.local": Scenario(stage="churned", sentiment="negative", open_tickets=1, sessions="booked"),
    "prep-due@fearvana.local": Scenario(stage="active", sentiment="neutral", open_tickets=0, sessions="prep-due"),
}


def scenario_for(email: str) -> Scenario | None:
    """The scripted scenario of a demo customer, if any."""
    return SCENARIOS.get(email.strip().lower())
