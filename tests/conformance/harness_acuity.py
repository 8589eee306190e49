"""The Acuity adapter against the in-process Acuity fake, with the conformance world in Acuity's own terms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx

from fearvana_integration.adapters.scheduling.acuity import AcuitySchedulingAdapter
from fearvana_integration.domain.scheduling import DEFAULT_DURATIONS_MINUTES
from tests.conformance.harness import KNOWN, NOW, Fault, Harness, SchedulingWorld, world_appointments
from tests.fakes.acuity import FakeAcuity

BASE_URL = "http://acuity.test"
USER_ID = 11145481
API_KEY = "conformance-api-key"
COACH_TIME_ZONE = "America/Los_Angeles"
# Acuity names for our appointment types (the adapter also finds them by these names without a map).
TYPE_NAMES = {
    "coaching-session": "Coaching Session",
    "check-in": "Check-in",
    "assessment": "Assessment",
    "follow-up": "Follow-up",
    "workshop": "Workshop",
}
STRANGER = "stranger@example.com"


@dataclass(frozen=True)
class AcuityWorld:
    """The ids the world got in the fake."""

    calendar: int
    types: dict[str, int]
    known: list[int]


def install_world(fake: FakeAcuity, world: SchedulingWorld | None = None) -> AcuityWorld:
    """KNOWN's sessions on the coach's calendar (Los Angeles, Mon-Fri 09-17 on a 30-minute grid), plus what a
    real account also holds and the contract must not show: KNOWN's plain cancellations and a stranger's session."""
    world = world or SchedulingWorld()
    # Clients may cancel up to the start in this account (the default 24 h notice would refuse the contract's
    # cancel of a session later today; the 24 h rule has its own vendor test).
    fake.set_client_rules(cancel_notice=timedelta(0))
    calendar = fake.add_calendar("Coach Akshay", timezone=COACH_TIME_ZONE, location="https://meet.example.com/akshay")
    types = {
        ours: fake.add_appointment_type(name, DEFAULT_DURATIONS_MINUTES[ours], calendar_ids=[calendar])
        for ours, name in TYPE_NAMES.items()
    }
    known: list[int] = []
    for appointment in world_appointments(KNOWN, world):
        known.append(
            fake.add_appointment(
                KNOWN.email,
                appointment.start_time,
                appointment_type_id=types[appointment.type],
                calendar_id=calendar,
                first_name="Kim",
                last_name="Known",
                notes=appointment.notes or "",
                canceled=appointment.status == "no-show",
                no_show=appointment.status == "no-show",
            )
        )
    for offset in (timedelta(hours=50), -timedelta(days=10)):
        fake.add_appointment(
            KNOWN.email,
            NOW + offset,
            appointment_type_id=types["coaching-session"],
            calendar_id=calendar,
            canceled=True,
        )
    fake.add_appointment(STRANGER, NOW + timedelta(days=3), appointment_type_id=types["check-in"], calendar_id=calendar)
    return AcuityWorld(calendar, types, known)


class AcuityHarness(Harness):
    """AcuitySchedulingAdapter on an ``httpx.ASGITransport`` to :class:`FakeAcuity` (type map and calendar set)."""

    async def start(self) -> AcuitySchedulingAdapter:
        self.fake = FakeAcuity(user_id=USER_ID, api_key=API_KEY, business_timezone=COACH_TIME_ZONE, now=self.clock.now)
        self.world = install_world(self.fake)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.fake.app))
        self.adapter = AcuitySchedulingAdapter(
            http_client=self.client,
            clock=self.clock,
            user_id=str(USER_ID),
            api_key=API_KEY,
            base_url=BASE_URL,
            event_types={ours: str(type_id) for ours, type_id in self.world.types.items()},
            calendar_id=str(self.world.calendar),
            time_zone=COACH_TIME_ZONE,
        )
        return self.adapter

    def fail_next(self, operation: str, fault: Fault) -> None:
        self.fake.fail_next(fault)

    async def stop(self) -> None:
        await self.client.aclose()
