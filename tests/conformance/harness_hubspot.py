"""The HubSpot adapter against the in-process HubSpot fake, with the conformance world in HubSpot's own terms."""

from __future__ import annotations

from datetime import timedelta

import httpx

from fearvana_integration.adapters.crm.hubspot import HubSpotCRMAdapter
from tests.conformance.harness import KNOWN, NOW, OTHER, CrmWorld, Fault, Harness
from tests.fakes.hubspot import FakeHubSpot, iso

BASE_URL = "https://hubspot.test"
TOKEN = "pat-na1-conformance"


def install_world(fake: FakeHubSpot, world: CrmWorld | None = None) -> dict[str, str]:
    """KNOWN and OTHER as HubSpot holds them (custom properties, lifecycle values, a call, tickets); their ids."""
    world = world or CrmWorld()
    # The custom properties a portal admin creates for the default field map (PROVIDERS.md §1.1).
    fake.define_property(
        "contacts",
        "fearvana_tags",
        type="enumeration",
        field_type="checkbox",
        options=[(tag, tag.replace("-", " ").title()) for tag in ("newsletter", "sacred-edge-program", "vip-retreat")],
    )
    fake.define_property(
        "contacts",
        "fearvana_sentiment",
        type="enumeration",
        field_type="select",
        options=[(value, value.title()) for value in ("positive", "neutral", "negative")],
    )
    fake.define_property(
        "contacts",
        "fearvana_status",
        type="enumeration",
        field_type="select",
        options=[("at-risk", "At risk"), ("churned", "Churned")],
    )
    known = fake.add_contact(
        KNOWN.email,
        {
            "firstname": "Kim",
            "lastname": "Known",
            "lifecyclestage": "customer",  # → active through the default map
            "fearvana_tags": ";".join(world.tags),
            "fearvana_sentiment": world.sentiment,
        },
    )
    fake.add_engagement(
        known,
        "calls",
        {
            "hs_timestamp": iso(world.last_interaction),
            "hs_call_title": "Intro call",
            "hs_call_body": "Intro call",
            "hs_call_status": "COMPLETED",
            "hs_call_direction": "OUTBOUND",
        },
    )
    for days, (subject, priority) in enumerate(world.open_tickets, start=1):
        fake.add_ticket(
            known, subject=subject, open=True, priority=priority.upper(), created_at=NOW - timedelta(days=days)
        )
    for subject in world.closed_tickets:
        fake.add_ticket(known, subject=subject, open=False, created_at=NOW - timedelta(days=30))
    other = fake.add_contact(OTHER.email, {"lifecyclestage": "evangelist", "fearvana_sentiment": "neutral"})
    return {"known": known, "other": other}


class HubSpotCrmHarness(Harness):
    """HubSpotCRMAdapter on an ``httpx.ASGITransport`` to :class:`FakeHubSpot`."""

    async def start(self) -> HubSpotCRMAdapter:
        self.fake = FakeHubSpot(token=TOKEN, now=self.clock.now)
        self.ids = install_world(self.fake)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.fake.app))
        self.adapter = HubSpotCRMAdapter(http_client=self.client, clock=self.clock, api_key=TOKEN, base_url=BASE_URL)
        return self.adapter

    def fail_next(self, operation: str, fault: Fault) -> None:
        self.fake.fail_next(fault)

    async def stop(self) -> None:
        await self.client.aclose()
