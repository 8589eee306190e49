"""The Salesforce CRM adapter against the in-process Salesforce fake, with the conformance world installed."""

from __future__ import annotations

from datetime import timedelta

import httpx

from fearvana_integration.adapters.crm.mapping import compose_body
from fearvana_integration.adapters.crm.salesforce import SalesforceCRMAdapter
from fearvana_integration.domain.crm import Interaction
from tests.conformance.harness import KNOWN, NOW, OTHER, CrmWorld, Fault, Harness
from tests.fakes.salesforce import FakeSalesforce

BASE_URL = "http://salesforce.test"


def define_custom_fields(fake: FakeSalesforce) -> None:
    """The org's custom Contact fields the adapter reads by default (SOQL on an unknown field is an error)."""
    for name in ("Lifecycle_Stage__c", "Fearvana_Tags__c", "AI_Sentiment__c"):
        fake.define_field("Contact", name, "picklist", external_id=False)


def install_world(fake: FakeSalesforce) -> dict[str, str]:
    """KNOWN and OTHER in Salesforce's own form (custom Contact fields, Cases, a logged call Task).

    Returns the contact ids by email. UNKNOWN is simply absent.
    """
    world = CrmWorld()
    define_custom_fields(fake)
    known = fake.add_contact(
        KNOWN.email,
        {
            "FirstName": "Kim",
            "LastName": "Known",
            "Lifecycle_Stage__c": world.stage.title(),  # picklist values are capitalised: "Active"
            "Fearvana_Tags__c": ";".join(world.tags),
            "AI_Sentiment__c": world.sentiment.title(),
        },
    )
    for index, (subject, priority) in enumerate(world.open_tickets, start=1):
        fake.add_case(
            known, subject=subject, closed=False, priority=priority.title(), created_at=NOW - timedelta(days=index)
        )
    for subject in world.closed_tickets:
        fake.add_case(known, subject=subject, closed=True, created_at=NOW - timedelta(days=30))
    # The last interaction: a call logged the way the adapter logs one (the exact time is in the footer).
    call = Interaction(type="call", timestamp=world.last_interaction, summary="Intro call")
    fake.add_task(
        known,
        {
            "Subject": "Call with the coach",
            "Description": compose_body(call),
            "TaskSubtype": "Call",
            "CallType": "Outbound",
            "Status": "Completed",
            "ActivityDate": world.last_interaction.date(),
        },
    )
    other = fake.add_contact(
        OTHER.email, {"LastName": "Other", "Lifecycle_Stage__c": "VIP", "AI_Sentiment__c": "Neutral"}
    )
    return {KNOWN.email: known, OTHER.email: other}


class SalesforceCrmHarness(Harness):
    """``SalesforceCRMAdapter`` on an ``httpx.ASGITransport`` to :class:`FakeSalesforce`."""

    async def start(self) -> SalesforceCRMAdapter:
        self.fake = FakeSalesforce(now=self.clock.now)
        install_world(self.fake)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.fake.app))
        self.adapter = SalesforceCRMAdapter(
            http_client=self.client,
            clock=self.clock,
            login_url=BASE_URL,
            client_id=self.fake.client_id,
            client_secret=self.fake.client_secret,
            base_url=BASE_URL,
        )
        return self.adapter

    def fail_next(self, operation: str, fault: Fault) -> None:
        self.fake.fail_next(fault)

    async def stop(self) -> None:
        await self.client.aclose()
