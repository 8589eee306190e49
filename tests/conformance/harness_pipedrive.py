"""The Pipedrive adapter against the in-process Pipedrive fake, with the conformance world in Pipedrive's own terms.

Pipedrive has no stage, tags, sentiment or tickets: a company using this integration creates three text person
fields, whose 40-character keys go into ``CRM_STAGE_PROPERTY`` / ``CRM_TAGS_PROPERTY`` /
``CRM_SENTIMENT_PROPERTY``. The last interaction is a done call activity.
"""

from __future__ import annotations

import hashlib

import httpx

from fearvana_integration.adapters.crm.mapping import CrmFieldMap
from fearvana_integration.adapters.crm.pipedrive import PipedriveCRMAdapter
from tests.conformance.harness import KNOWN, OTHER, CrmWorld, Fault, Harness
from tests.fakes.pipedrive import FakePipedrive

BASE_URL = "https://pipedrive.test"
TOKEN = "pipedrive-conformance-token"


def _key(name: str) -> str:
    # Pipedrive custom field keys are 40-character hex hashes.
    return hashlib.sha1(f"fearvana:{name}".encode()).hexdigest()


STAGE_KEY = _key("lifecycle stage")
TAGS_KEY = _key("tags")
SENTIMENT_KEY = _key("sentiment")
FIELD_MAP = CrmFieldMap(
    stage_property=STAGE_KEY, stage_map={}, tags_property=TAGS_KEY, sentiment_property=SENTIMENT_KEY
)


def install_world(fake: FakePipedrive, world: CrmWorld | None = None) -> dict[str, int]:
    """KNOWN and OTHER as Pipedrive persons (text custom fields, one done call); their person ids."""
    world = world or CrmWorld()
    fake.add_person_field("Fearvana lifecycle stage", key=STAGE_KEY)
    fake.add_person_field("Fearvana tags", key=TAGS_KEY)
    fake.add_person_field("Fearvana sentiment", key=SENTIMENT_KEY)
    known = fake.add_person(
        KNOWN.email,
        name=KNOWN.display_name or "",
        custom_fields={STAGE_KEY: world.stage, TAGS_KEY: ";".join(world.tags), SENTIMENT_KEY: world.sentiment},
    )
    at = world.last_interaction
    fake.add_activity(
        known,
        {
            "subject": "Intro call",
            "type": "call",
            "due_date": at.strftime("%Y-%m-%d"),
            "due_time": at.strftime("%H:%M"),
            "duration": "00:30",
            "done": True,
            "note": "Intro call",
            "add_time": at,
            "update_time": at,
            "marked_as_done_time": at,
        },
    )
    other = fake.add_person(OTHER.email, name="Ola Other", custom_fields={STAGE_KEY: "vip", SENTIMENT_KEY: "neutral"})
    return {"known": known, "other": other}


class PipedriveCrmHarness(Harness):
    """PipedriveCRMAdapter on an ``httpx.ASGITransport`` to :class:`FakePipedrive`."""

    async def start(self) -> PipedriveCRMAdapter:
        self.fake = FakePipedrive(token=TOKEN, now=self.clock.now)
        self.ids = install_world(self.fake)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.fake.app))
        self.adapter = PipedriveCRMAdapter(
            http_client=self.client, clock=self.clock, api_token=TOKEN, base_url=BASE_URL, field_map=FIELD_MAP
        )
        return self.adapter

    def fail_next(self, operation: str, fault: Fault) -> None:
        self.fake.fail_next(fault)

    async def stop(self) -> None:
        await self.client.aclose()
