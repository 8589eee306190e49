"""Booking never double-books, across workers: `serve --workers 2` with Redis, 8 customers booking the same
slot at once, 20 rounds, for the mock and for each vendor's fake (served on 127.0.0.1). Every round has
exactly one winner; the seven others get 409 `slot-unavailable` with alternatives; and the platform itself
holds exactly one booking at that time."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis

from fearvana_integration.config import load_settings
from fearvana_integration.domain.scheduling import DEFAULT_DURATIONS_MINUTES, DateRange
from fearvana_integration.errors import RateLimited
from fearvana_integration.runtime import build_runtime
from fearvana_integration.service.auth import mint_token
from fearvana_integration.store.demo import demo_customer_id, demo_specs
from tests.conformance import harness_acuity, harness_calendly, harness_google_calendar
from tests.fakes.acuity import FakeAcuity
from tests.fakes.calendly import FakeCalendly
from tests.fakes.server import free_port, serve

pytestmark = [pytest.mark.services, pytest.mark.slow]
SECRET = "booking-race-secret-" + "x" * 32
SCRIPT = Path(sys.executable).parent / "fearvana-integration"
ROUNDS = 20
BOOKERS = 8
TYPE = "check-in"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Platform:
    """How the service reaches one scheduling platform: its settings."""

    name: str
    env: dict[str, str]


def _mock(_stack: ExitStack, _tmp: Path) -> Platform:
    return Platform("mock", {"SCHEDULING_PROVIDER": "mock"})


def _calendly(stack: ExitStack, _tmp: Path) -> Platform:
    # Enterprise: 20 bookings within a minute are over a paid plan's cap of 10.
    fake = FakeCalendly(token=harness_calendly.TOKEN, now=_now, token_kind="admin", plan="enterprise")
    for kind, name in harness_calendly.EVENT_TYPE_NAMES.items():
        fake.add_event_type(name, DEFAULT_DURATIONS_MINUTES[kind], slug=kind)
    url = stack.enter_context(serve(fake.app))
    env = {
        "SCHEDULING_PROVIDER": "calendly",
        "SCHEDULING_API_KEY": harness_calendly.TOKEN,
        "SCHEDULING_ENDPOINT": url,
        "SCHEDULING_CALENDLY_PLAN": "enterprise",
    }
    return Platform("calendly", env)


def _acuity(stack: ExitStack, _tmp: Path) -> Platform:
    fake = FakeAcuity(user_id=harness_acuity.USER_ID, api_key=harness_acuity.API_KEY,
                      business_timezone=harness_acuity.COACH_TIME_ZONE, now=_now)  # fmt: skip
    fake.set_client_rules(cancel_notice=timedelta(0))
    calendar = fake.add_calendar("Coach", timezone=harness_acuity.COACH_TIME_ZONE)
    types = {
        ours: fake.add_appointment_type(name, DEFAULT_DURATIONS_MINUTES[ours], calendar_ids=[calendar])
        for ours, name in harness_acuity.TYPE_NAMES.items()
    }
    url = stack.enter_context(serve(fake.app))
    env = {
        "SCHEDULING_PROVIDER": "acuity",
        "SCHEDULING_ACUITY_USER_ID": str(harness_acuity.USER_ID),
        "SCHEDULING_API_KEY": harness_acuity.API_KEY,
        "SCHEDULING_ENDPOINT": url,
        "SCHEDULING_EVENT_TYPE_MAP": json.dumps({ours: str(type_id) for ours, type_id in types.items()}),
        "SCHEDULING_CALENDAR_ID": str(calendar),
        "SCHEDULING_TIME_ZONE": harness_acuity.COACH_TIME_ZONE,
    }
    return Platform("acuity", env)


def _google(stack: ExitStack, tmp: Path) -> Platform:
    fake = harness_google_calendar.new_fake()
    url = stack.enter_context(serve(fake.app))
    key = tmp / "service-account.json"
    key.write_text(json.dumps(harness_google_calendar.service_account_info(token_uri=f"{url}/token")))
    env = {
        "SCHEDULING_PROVIDER": "google-calendar",
        "SCHEDULING_GOOGLE_SERVICE_ACCOUNT_FILE": str(key),
        "SCHEDULING_GOOGLE_SUBJECT": harness_google_calendar.COACH,
        "SCHEDULING_ENDPOINT": f"{url}/calendar/v3",
        "SCHEDULING_OAUTH_TOKEN_URL": f"{url}/token",
        "SCHEDULING_TIME_ZONE": harness_google_calendar.TIME_ZONE,
        "SCHEDULING_WORKING_HOURS": harness_google_calendar.WORKING_HOURS,
    }
    return Platform("google-calendar", env)


PLATFORMS = {"mock": _mock, "calendly": _calendly, "acuity": _acuity, "google-calendar": _google}


@pytest.fixture
def private_redis_db(redis_url: str) -> Iterator[str]:
    """A logical database of the shared Redis for this test alone (emptied before and after): the service
    keeps its breakers and locks under fixed names, and one platform's state must not leak into the next."""
    url = redis_url.rsplit("/", 1)[0] + "/13"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def database(demo_db: Path, tmp_path: Path) -> Path:
    """A private copy of the demo database: the mock's calendar is written into it."""
    copy = tmp_path / "race.db"
    shutil.copyfile(demo_db, copy)
    return copy


@contextmanager
def _service(env: dict[str, str], cwd: Path) -> Iterator[str]:
    port = free_port()
    base_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "XDG_STATE_HOME")}
    command = [str(SCRIPT), "serve", "--workers", "2", "--port", str(port)]
    log = cwd / "service.log"
    with log.open("w") as stderr:
        server = subprocess.Popen(command, cwd=cwd, env={**base_env, **env}, stderr=stderr, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None:
                raise RuntimeError(f"the service exited: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        else:
            raise RuntimeError("the service did not start")
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.mark.parametrize("platform_name", list(PLATFORMS))
def test_eight_customers_one_slot_two_workers_one_winner(
    platform_name: str, database: Path, private_redis_db: str, tmp_path: Path
) -> None:
    customers = [demo_customer_id(spec.email) for spec in demo_specs(12)[:BOOKERS]]
    token = mint_token(SECRET, subject=None, audience="authenticated")
    headers = {"Authorization": f"Bearer {token}"}
    with ExitStack() as stack:
        platform = PLATFORMS[platform_name](stack, tmp_path)
        env = {
            "DATABASE_URL": f"sqlite:///{database}",
            "SUPABASE_JWT_SECRET": SECRET,
            "CACHE_BACKEND": "redis",
            "REDIS_URL": private_redis_db,
            "AUDIT_SPOOL_DIR": str(tmp_path / "spool"),
            "MOCK_LATENCY_MS": "0",
            "LOG_LEVEL": "WARNING",
            **platform.env,
        }
        base = stack.enter_context(_service(env, tmp_path))
        outcomes, slots = asyncio.run(_rounds(base, headers, customers))
        counts = asyncio.run(_bookings_at(env, slots))
    for index, outcome in enumerate(outcomes):
        assert outcome == Counter({201: 1, 409: BOOKERS - 1}), (platform_name, index, outcome)
    assert counts == [1] * len(slots), (platform_name, counts)


async def _rounds(
    base: str, headers: dict[str, str], customers: list[uuid.UUID]
) -> tuple[list[Counter[int]], list[datetime]]:
    outcomes: list[Counter[int]] = []
    starts: list[datetime] = []
    # A new connection per request: the kernel spreads them over both workers.
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as client:
        start = _now() + timedelta(days=1)
        params = {"start": start.isoformat(), "end": (start + timedelta(days=14)).isoformat(), "type": TYPE}
        listed = await client.get("/api/scheduling/slots", params=params)
        assert listed.status_code == 200, listed.text
        slots = listed.json()
        assert len(slots) >= ROUNDS, f"only {len(slots)} free {TYPE} slots in two weeks"
        for slot in slots[:ROUNDS]:
            body = {"slot": slot, "type": TYPE}
            answers = await asyncio.gather(
                *(client.post(f"/api/customers/{customer}/appointments", json=body) for customer in customers)
            )
            for answer in answers:
                if answer.status_code == 409:
                    problem = answer.json()
                    assert problem["type"].endswith("slot-unavailable") and problem["alternatives"], problem
                else:
                    assert answer.status_code == 201, answer.text
            outcomes.append(Counter(answer.status_code for answer in answers))
            starts.append(datetime.fromisoformat(slot["startTime"].replace("Z", "+00:00")))
    return outcomes, starts


async def _bookings_at(env: dict[str, str], starts: list[datetime]) -> list[int]:
    """What the platform holds at each start time, read through the adapter itself."""
    runtime = build_runtime(load_settings(env, read_env_files=False))
    try:
        assert runtime.scheduling is not None
        window = DateRange(start_date=min(starts), end_date=max(starts) + timedelta(minutes=1))
        for _ in range(3):  # the race used the platform's request budget: wait for its window if it says so
            try:
                listed = await runtime.scheduling.list_appointments(window)
                break
            except RateLimited as limited:
                await asyncio.sleep(min(limited.retry_after or 5.0, 65.0))
        else:
            raise AssertionError("the platform kept refusing the check for rate limits")
        at = Counter(entry.start_time for entry in listed if entry.status == "scheduled")
        return [at[start] for start in starts]
    finally:
        await runtime.aclose()
