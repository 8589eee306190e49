"""The Google Calendar adapter against the in-process Google Calendar fake, with the conformance world installed.

The adapter signs in as a service account (a throw-away RSA key made here) acting for the coach through
domain-wide delegation; the fake checks the JWT's signature with the key's public half. The coach works
Monday to Friday 09:00-17:00 in New York: NOW (Monday 08:00 UTC) is 03:00 there, so the week's slots start
at 14:00 UTC and the first upcoming session (Tuesday 14:00 UTC, 09:00 local) really takes working time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fearvana_integration.adapters.scheduling.google_calendar import (
    GoogleCalendarSchedulingAdapter,
    ServiceAccountKey,
)
from fearvana_integration.domain.working_hours import WorkingHours
from tests.conformance.harness import KNOWN, NOW, Fault, Harness, SchedulingWorld
from tests.fakes.google_calendar import SCOPE_FREEBUSY, FakeGoogleCalendar

BASE_URL = "http://google.test"
API_URL = f"{BASE_URL}/calendar/v3"
TOKEN_URL = f"{BASE_URL}/token"
COACH = "coach@fearvana.test"
SERVICE_ACCOUNT = "scheduler@fearvana-test.iam.gserviceaccount.com"
TIME_ZONE = "America/New_York"
WORKING_HOURS = "mon-fri 09:00-17:00"


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    """One throw-away 2048-bit key per test session (generating one takes a while)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_info(token_uri: str = TOKEN_URL, email: str = SERVICE_ACCOUNT) -> dict[str, object]:
    """A service-account JSON key as Google's console writes it, with the throw-away key."""
    pem = rsa_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "type": "service_account",
        "project_id": "fearvana-test",
        "private_key_id": "0123456789abcdef",
        "private_key": pem.decode(),
        "client_email": email,
        "client_id": "100000000000000000001",
        "token_uri": token_uri,
    }


def public_pem() -> str:
    """The throw-away key's public half, for the fake to check JWT signatures with."""
    public = rsa_key().public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def new_fake() -> FakeGoogleCalendar:
    """The coach's account. Its clock is the real one: google-auth stamps JWTs with the real time, and the
    world's events carry absolute times, so nothing else depends on the fake's clock."""
    fake = FakeGoogleCalendar(user_email=COACH, time_zone=TIME_ZONE)
    fake.add_service_account(SERVICE_ACCOUNT, public_pem())
    return fake


def session_properties(customer_id: str, *, status: str | None = None) -> dict[str, str]:
    """Our private stamp on a session event."""
    stamp = {"customerId": customer_id, "appointmentType": "coaching-session"}
    if status is not None:
        stamp["appointmentStatus"] = status
    return stamp


def install_world(fake: FakeGoogleCalendar, world: SchedulingWorld | None = None) -> None:
    """KNOWN's sessions as events we booked (stamped with the customer id), and the coach's own busy time."""
    world = world or SchedulingWorld()

    def session(start: datetime, *, notes: str | None = None, status: str | None = None) -> None:
        fake.add_event(
            start=start,
            end=start + timedelta(minutes=60),
            summary="Fearvana coaching session – Kim Known",
            description=notes,
            attendees=[{"email": KNOWN.email, "responseStatus": "accepted"}],
            private_properties=session_properties(str(KNOWN.id), status=status),
            conference=True,
            time_zone=TIME_ZONE,
        )

    for hours in world.upcoming_hours:
        session(NOW + timedelta(hours=hours))
    for days in world.past_days:
        session(NOW - timedelta(days=days), notes=world.notes)
    for days in world.no_show_days:
        session(NOW - timedelta(days=days), status="no-show")
    session(NOW + timedelta(days=world.later_than_window_days))
    # The coach's own hour on Monday (10:00-11:00 in New York): busy, but not a session.
    fake.add_event(start=NOW + timedelta(hours=7), end=NOW + timedelta(hours=8), summary="Team meeting")


def build_adapter(
    client: httpx.AsyncClient, harness: Harness, *, buffer_minutes: int = 0, slot_step_minutes: int = 30
) -> GoogleCalendarSchedulingAdapter:
    """The adapter as ``from_settings`` would build it for this account."""
    return GoogleCalendarSchedulingAdapter(
        http_client=client,
        clock=harness.clock,
        credentials=ServiceAccountKey(info=service_account_info(), subject=COACH),
        calendar_id="primary",
        base_url=API_URL,
        token_url=TOKEN_URL,
        working_hours=WorkingHours.parse(WORKING_HOURS, TIME_ZONE),
        buffer_minutes=buffer_minutes,
        slot_step_minutes=slot_step_minutes,
    )


class GoogleCalendarHarness(Harness):
    """``GoogleCalendarSchedulingAdapter`` on an ``httpx.ASGITransport`` to :class:`FakeGoogleCalendar`."""

    async def start(self) -> GoogleCalendarSchedulingAdapter:
        self.fake = new_fake()
        install_world(self.fake)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.fake.app))
        self.adapter = build_adapter(self.client, self)
        # The coach connected the calendar before: a token exists (the scope fault narrows that token).
        await self.adapter.ping()
        return self.adapter

    def fail_next(self, operation: str, fault: Fault) -> None:
        if fault == "expired":
            # The token stops working and Google refuses to mint another (key deleted, consent revoked).
            self.fake.expire_tokens()
            self.fake.fail_next("auth", path_contains="/token")
        elif fault == "missing_scope":
            # The token may see free/busy times but no longer read events.
            for issued in self.fake.issued_tokens:
                self.fake.set_scopes([SCOPE_FREEBUSY], token=issued.value)
        elif fault == "auth":
            # A 401 makes the adapter fetch a new token and retry once; refusing both is an auth failure.
            self.fake.fail_next("auth", times=2)
        else:
            self.fake.fail_next(fault)

    async def stop(self) -> None:
        await self.adapter.aclose()
        await self.client.aclose()
