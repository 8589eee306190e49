"""The Calendly adapter against the in-process Calendly fake, with the conformance world in Calendly's own terms."""

from __future__ import annotations

from datetime import timedelta

import httpx

from fearvana_integration.adapters.scheduling.calendly import CalendlySchedulingAdapter
from fearvana_integration.domain.scheduling import DEFAULT_DURATIONS_MINUTES
from tests.conformance.harness import KNOWN, NOW, Fault, Harness, SchedulingWorld
from tests.fakes.calendly import EventType, FakeCalendly

BASE_URL = "http://calendly.test"
TOKEN = "calendly-pat-conformance"

# The coach's event types, named as a coach would name them: the adapter matches our types by name.
EVENT_TYPE_NAMES = {
    "coaching-session": "Coaching Session",
    "check-in": "Check-in",
    "assessment": "Assessment",
    "follow-up": "Follow-up",
    "workshop": "Workshop",
}

# Which request each contract operation's scripted fault lands on (the operation's own data request, not the
# one-off discovery of the organization).
FAULT_PATHS = {
    "ping": "/users/me",
    "get_availability": "/event_type_available_times",
    "get_upcoming_appointments": "/scheduled_events",
    "get_past_appointments": "/scheduled_events",
    "count_completed_sessions": "/scheduled_events",
    "get_scheduling_context": "/scheduled_events",
    "list_appointments": "/scheduled_events",
    "cancel_appointment": "/scheduled_events/",
    "book_appointment": "/invitees",
}


def install_world(fake: FakeCalendly, world: SchedulingWorld | None = None) -> dict[str, EventType]:
    """The coach's five event types and KNOWN's sessions as scheduled events with KNOWN as invitee; OTHER has none.

    Completed sessions carry the world's notes as meeting notes; a no-show is an invitee marked no-show.
    """
    world = world or SchedulingWorld()
    types = {
        kind: fake.add_event_type(name, DEFAULT_DURATIONS_MINUTES[kind], slug=kind)
        for kind, name in EVENT_TYPE_NAMES.items()
    }
    coaching = types["coaching-session"]
    name = KNOWN.display_name
    for hours in world.upcoming_hours:
        fake.book(coaching, NOW + timedelta(hours=hours), KNOWN.email, name)
    fake.book(coaching, NOW + timedelta(days=world.later_than_window_days), KNOWN.email, name)
    for days in world.past_days:
        fake.book(coaching, NOW - timedelta(days=days), KNOWN.email, name, notes=world.notes)
    for days in world.no_show_days:
        fake.book(coaching, NOW - timedelta(days=days), KNOWN.email, name, no_show=True)
    return types


class CalendlyHarness(Harness):
    """CalendlySchedulingAdapter (organization scope, an admin's personal access token) on the Calendly fake."""

    async def start(self) -> CalendlySchedulingAdapter:
        self.fake = FakeCalendly(token=TOKEN, now=self.clock.now, token_kind="admin")
        self.event_types = install_world(self.fake)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.fake.app))
        self.adapter = CalendlySchedulingAdapter(
            http_client=self.client, clock=self.clock, api_key=TOKEN, base_url=BASE_URL
        )
        return self.adapter

    def fail_next(self, operation: str, fault: Fault) -> None:
        self.fake.fail_next(fault, path_contains=FAULT_PATHS.get(operation))

    async def stop(self) -> None:
        await self.client.aclose()
