"""Pipedrive specifics, against the in-process Pipedrive fake: the requests we send, paging, errors, mappings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx
import pytest

from fearvana_integration.adapters.crm.mapping import CrmFieldMap
from fearvana_integration.adapters.crm.pipedrive import (
    DEFAULT_BASE_URL,
    PIPEDRIVE_FIELDS,
    PipedriveCRMAdapter,
    PipedrivePolicy,
)
from fearvana_integration.adapters.http import RateLimitInfo, VendorFailure, map_http_error
from fearvana_integration.clock import FakeClock
from fearvana_integration.config import load_settings
from fearvana_integration.domain.crm import Interaction
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.errors import (
    CapabilityNotSupported,
    ConfigurationError,
    CustomerNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderResponseInvalid,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)
from tests.conformance.harness import KNOWN, NOW, OTHER, UNKNOWN
from tests.conformance.harness_pipedrive import FIELD_MAP, SENTIMENT_KEY, STAGE_KEY, TAGS_KEY, install_world
from tests.fakes.faults import RecordedRequest
from tests.fakes.pipedrive import FakePipedrive

TOKEN = "unit-test-token"
BASE_URL = "https://pipedrive.test"


@dataclass
class World:
    fake: FakePipedrive
    client: httpx.AsyncClient
    clock: FakeClock
    ids: dict[str, int]

    def adapter(self, field_map: CrmFieldMap | None = FIELD_MAP, **kwargs: object) -> PipedriveCRMAdapter:
        options: dict[str, object] = {"base_url": BASE_URL, "api_token": TOKEN, **kwargs}
        return PipedriveCRMAdapter(
            http_client=self.client,
            clock=self.clock,
            field_map=field_map,
            **options,  # type: ignore[arg-type]
        )

    def sent(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.fake.requests if r.method == method and r.path == path]


def query(request: RecordedRequest) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(request.query, keep_blank_values=True).items()}


def body(request: RecordedRequest) -> dict[str, object]:
    parsed = json.loads(request.body)
    assert isinstance(parsed, dict)
    return parsed


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FakeClock(NOW)
    fake = FakePipedrive(token=TOKEN, now=clock.now)  # pages of 2: paging is always exercised
    ids = install_world(fake)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as client:
        yield World(fake, client, clock, ids)


# Finding the person ---------------------------------------------------------------------------------------------


async def test_finds_the_person_with_an_exact_email_search_and_the_token_in_a_header(world: World) -> None:
    adapter = world.adapter()
    contact = await adapter.find_contact(KNOWN)
    assert contact is not None
    assert (contact.id, contact.email, contact.display_name) == (str(world.ids["known"]), KNOWN.email, "Kim Known")

    [search] = world.sent("GET", "/api/v2/persons/search")
    assert query(search) == {"term": KNOWN.email, "fields": "email", "exact_match": "true", "limit": "10"}
    [person] = world.sent("GET", f"/api/v2/persons/{world.ids['known']}")
    # Only the mapped custom fields are asked for.
    assert query(person)["custom_fields"].split(",") == [STAGE_KEY, TAGS_KEY, SENTIMENT_KEY]
    for request in world.fake.requests:
        assert request.headers["x-api-token"] == TOKEN
        assert "api_token" not in request.query  # URLs end up in logs


async def test_email_case_does_not_matter(world: World) -> None:
    shouting = CustomerRef(id=KNOWN.id, email="KNOWN@Example.COM")
    ctx = await world.adapter().get_crm_context(shouting)
    assert ctx is not None and ctx.lifecycle_stage == "active"
    assert ctx.contact_email is None  # the same address, only in other case


async def test_the_person_id_is_remembered_and_the_context_reads_three_things_at_once(world: World) -> None:
    adapter = world.adapter()
    assert await adapter.get_crm_context(KNOWN) is not None
    assert len(world.fake.requests) == 4  # search, person, activities, notes
    world.fake.requests.clear()
    assert await adapter.get_crm_context(KNOWN) is not None
    assert world.sent("GET", "/api/v2/persons/search") == []
    assert sorted(r.path for r in world.fake.requests) == sorted(
        [f"/api/v2/persons/{world.ids['known']}", "/api/v2/activities", "/v1/notes"]
    )


async def test_a_remembered_id_that_is_gone_is_forgotten_and_searched_again_once(world: World) -> None:
    adapter = world.adapter()
    adapter._ids.put(KNOWN.email, "9999")  # the person behind a remembered id was deleted or merged
    ctx = await adapter.get_crm_context(KNOWN)
    assert ctx is not None and ctx.lifecycle_stage == "active"
    assert len(world.sent("GET", "/api/v2/persons/search")) == 1
    assert adapter._ids.get(KNOWN.email) == str(world.ids["known"])


async def test_a_customer_not_in_pipedrive(world: World) -> None:
    adapter = world.adapter()
    assert await adapter.find_contact(UNKNOWN) is None
    assert await adapter.get_crm_context(UNKNOWN) is None
    assert await adapter.get_interaction_history(UNKNOWN) == []
    with pytest.raises(CustomerNotFound) as info:
        await adapter.log_interaction(UNKNOWN, Interaction(type="call", timestamp=NOW, summary="hello"))
    assert str(UNKNOWN.id) in str(info.value) and UNKNOWN.email not in str(info.value)
    with pytest.raises(CustomerNotFound):
        await adapter.update_sentiment(UNKNOWN, "positive")
    assert [r.method for r in world.fake.requests if r.method != "GET"] == []


# Context and mappings -------------------------------------------------------------------------------------------


async def test_without_configured_fields_pipedrive_has_no_stage_tags_or_sentiment(world: World) -> None:
    adapter = world.adapter(field_map=None)
    assert adapter.field_map == PIPEDRIVE_FIELDS
    ctx = await adapter.get_crm_context(KNOWN)
    assert ctx is not None
    assert (ctx.lifecycle_stage, ctx.tags, ctx.sentiment, ctx.unmapped_fields) == (None, [], None, {})
    assert ctx.last_interaction == NOW - timedelta(days=3)  # the done call still counts
    assert "custom_fields" not in query(world.sent("GET", f"/api/v2/persons/{world.ids['known']}")[0])

    with pytest.raises(ConfigurationError, match="CRM_SENTIMENT_PROPERTY"):
        await adapter.update_sentiment(KNOWN, "negative")
    assert world.sent("PATCH", f"/api/v2/persons/{world.ids['known']}") == []


async def test_no_tickets_in_pipedrive(world: World) -> None:
    adapter = world.adapter()
    assert "tickets" not in adapter.capabilities
    with pytest.raises(CapabilityNotSupported) as info:
        await adapter.get_open_tickets(KNOWN)
    assert (info.value.provider, info.value.operation) == ("Pipedrive", "tickets")
    ctx = await adapter.get_crm_context(KNOWN)
    assert ctx is not None and ctx.open_tickets is None and ctx.tickets == []


async def test_stage_map_from_settings_and_values_nobody_mapped(world: World) -> None:
    settings = load_settings(
        {
            "CRM_PROVIDER": "pipedrive",
            "CRM_API_KEY": TOKEN,
            "CRM_ENDPOINT": BASE_URL,
            "CRM_STAGE_PROPERTY": STAGE_KEY,
            "CRM_STAGE_MAP": '{"customer": "active", "big fish": "vip"}',
            "CRM_TAGS_PROPERTY": TAGS_KEY,
            "CRM_SENTIMENT_PROPERTY": SENTIMENT_KEY,
        },
        read_env_files=False,
    )
    adapter = PipedriveCRMAdapter.from_settings(settings, http_client=world.client, clock=world.clock)
    mapped = world.fake.add_person(
        "mapped@example.com",
        custom_fields={STAGE_KEY: "Big Fish", TAGS_KEY: "retreat, podcast", SENTIMENT_KEY: "NEUTRAL"},
    )
    ctx = await adapter.get_crm_context(CustomerRef(id=KNOWN.id, email="mapped@example.com"))
    assert ctx is not None and mapped
    assert (ctx.lifecycle_stage, ctx.tags, ctx.sentiment, ctx.unmapped_fields) == (
        "vip",
        ["retreat", "podcast"],
        "neutral",
        {},
    )
    # KNOWN's "active" is not in the operator's map: unmapped, never guessed.
    known = await adapter.get_crm_context(KNOWN)
    assert known is not None and known.lifecycle_stage is None
    assert known.unmapped_fields == {"lifecycleStage": "active"}


async def test_option_fields_are_not_supported_and_show_up_as_unmapped(world: World) -> None:
    # A single-option field holds an option id, not a label (a documented limitation).
    key = world.fake.add_person_field("Stage (options)", field_type="enum", options=["active", "vip"])
    adapter = world.adapter(field_map=CrmFieldMap(stage_property=key, stage_map={}, sentiment_property=SENTIMENT_KEY))
    world.fake.add_person("option@example.com", custom_fields={key: 1, SENTIMENT_KEY: "delighted"})
    ctx = await adapter.get_crm_context(CustomerRef(id=OTHER.id, email="option@example.com"))
    assert ctx is not None
    assert ctx.lifecycle_stage is None and ctx.sentiment is None
    assert ctx.unmapped_fields == {"lifecycleStage": "1", "sentiment": "delighted"}


async def test_last_interaction_ignores_scheduled_activities_and_reads_done_ones_newest_first(world: World) -> None:
    adapter = world.adapter()
    future = NOW + timedelta(days=2)
    world.fake.add_activity(
        world.ids["known"],
        {"type": "meeting", "due_date": future.strftime("%Y-%m-%d"), "due_time": "10:00", "done": False},
    )
    ctx = await adapter.get_crm_context(KNOWN)
    assert ctx is not None and ctx.last_interaction == NOW - timedelta(days=3)
    [activities] = world.sent("GET", "/api/v2/activities")
    assert query(activities) == {
        "person_id": str(world.ids["known"]),
        "done": "true",
        "sort_by": "due_date",
        "sort_direction": "desc",
        "limit": "10",
    }
    [notes] = world.sent("GET", "/v1/notes")
    assert query(notes) == {
        "person_id": str(world.ids["known"]),
        "sort": "add_time DESC",
        "start": "0",
        "limit": "10",
    }


async def test_a_newer_note_is_the_last_interaction(world: World) -> None:
    world.fake.add_note(world.ids["known"], "<p>Quick chat in the app</p>", NOW - timedelta(hours=5))
    ctx = await world.adapter().get_crm_context(KNOWN)
    assert ctx is not None and ctx.last_interaction == NOW - timedelta(hours=5)


# Writes ------------------------------------------------------------------------------------------------------------


async def test_a_chat_becomes_a_v1_note_at_the_interaction_time_and_reads_back_exactly(world: World) -> None:
    adapter = world.adapter()
    at = datetime(2026, 11, 22, 17, 45, 12, tzinfo=UTC)
    summary = 'Talked about <fear> & "sacred edge"\n\nSecond paragraph.'
    note_id = await adapter.log_interaction(
        KNOWN, Interaction(type="chat", timestamp=at, summary=summary, sentiment="negative")
    )

    [post] = world.sent("POST", "/v1/notes")
    sent = body(post)
    assert sent["person_id"] == world.ids["known"]
    assert sent["add_time"] == "2026-11-22 17:45:12"
    assert isinstance(sent["content"], str) and sent["content"].startswith("<p>Talked about &lt;fear&gt; &amp;")
    assert note_id == str(world.fake.notes(world.ids["known"])[-1]["id"])
    # The sentiment field is written too.
    [patch] = world.sent("PATCH", f"/api/v2/persons/{world.ids['known']}")
    assert body(patch) == {"custom_fields": {SENTIMENT_KEY: "negative"}}

    [latest, *_] = await adapter.get_interaction_history(KNOWN, limit=5)
    assert (latest.crm_id, latest.type, latest.timestamp, latest.summary, latest.sentiment) == (
        note_id,
        "chat",
        at,
        summary,
        "negative",
    )
    ctx = await adapter.get_crm_context(KNOWN)
    assert ctx is not None and ctx.sentiment == "negative"


@pytest.mark.parametrize(("kind", "activity_type"), [("call", "call"), ("email", "email"), ("appointment", "meeting")])
async def test_calls_emails_and_appointments_become_done_v2_activities(
    world: World, kind: str, activity_type: str
) -> None:
    adapter = world.adapter()
    at = datetime(2026, 11, 22, 9, 5, 30, tzinfo=UTC)
    interaction = Interaction.model_validate(
        {"type": kind, "timestamp": at, "summary": "Weekly check-in\nmore detail", "metadata": {"duration_minutes": 45}}
    )
    activity_id = await adapter.log_interaction(KNOWN, interaction)

    [post] = world.sent("POST", "/api/v2/activities")
    sent = body(post)
    assert sent == {
        "subject": "Weekly check-in",
        "type": activity_type,
        "due_date": "2026-11-22",
        "due_time": "09:05",
        "duration": "00:45",
        "done": True,
        "participants": [{"person_id": world.ids["known"], "primary": True}],
        "note": sent["note"],
    }
    assert "person_id" not in sent  # v2 takes the person through the primary participant
    assert world.sent("PATCH", f"/api/v2/persons/{world.ids['known']}") == []  # no sentiment given
    history = await adapter.get_interaction_history(KNOWN, limit=1)
    assert (history[0].crm_id, history[0].type, history[0].timestamp) == (activity_id, kind, at)  # footer's seconds


async def test_vendor_native_activities_and_notes_read_sensibly(world: World) -> None:
    adapter = world.adapter()
    day = NOW - timedelta(days=1)
    world.fake.add_activity(
        world.ids["known"],
        {
            "subject": "Lunch with Kim",
            "type": "lunch",
            "due_date": day.strftime("%Y-%m-%d"),
            "due_time": "12:30",
            "done": True,
        },
    )
    world.fake.add_activity(
        world.ids["known"],
        {
            "subject": "Send contract",
            "type": "task",
            "due_date": day.strftime("%Y-%m-%d"),
            "due_time": "15:00",
            "done": True,
        },
    )
    world.fake.add_note(world.ids["known"], "<p>Met at the <b>retreat</b></p>", NOW - timedelta(hours=2))
    history = await adapter.get_interaction_history(KNOWN, limit=10)
    assert [(h.type, h.summary) for h in history] == [
        ("chat", "Met at the retreat"),
        ("system", "Send contract"),
        ("appointment", "Lunch with Kim"),
        ("call", "Intro call"),
    ]
    assert history[1].timestamp == day.replace(hour=15, minute=0)


async def test_history_follows_cursor_and_start_paging_and_merges_newest_first(world: World) -> None:
    adapter = world.adapter()
    for i in range(5):
        await adapter.log_interaction(
            KNOWN, Interaction(type="chat", timestamp=NOW - timedelta(hours=i), summary=f"note {i}")
        )
    for i in range(3):
        await adapter.log_interaction(
            KNOWN, Interaction(type="call", timestamp=NOW - timedelta(hours=i, minutes=30), summary=f"call {i}")
        )
    world.fake.requests.clear()
    history = await adapter.get_interaction_history(KNOWN, limit=20)
    assert [h.summary for h in history] == [
        "note 0",
        "call 0",
        "note 1",
        "call 1",
        "note 2",
        "call 2",
        "note 3",
        "note 4",
        "Intro call",
    ]
    notes = world.sent("GET", "/v1/notes")
    assert [query(r)["start"] for r in notes] == ["0", "2", "4"]
    activities = world.sent("GET", "/api/v2/activities")
    assert len(activities) == 2 and "cursor" not in query(activities[0]) and query(activities[1])["cursor"]
    assert len(await adapter.get_interaction_history(KNOWN, limit=3)) == 3


async def test_update_sentiment_patches_the_configured_field(world: World) -> None:
    adapter = world.adapter()
    await adapter.update_sentiment(KNOWN, "negative")
    [patch] = world.sent("PATCH", f"/api/v2/persons/{world.ids['known']}")
    assert body(patch) == {"custom_fields": {SENTIMENT_KEY: "negative"}}
    assert world.fake.person(world.ids["known"])["custom_fields"][SENTIMENT_KEY] == "negative"  # type: ignore[index]


# Errors ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("unavailable", ProviderUnavailable),
        ("rate_limited", RateLimited),
        ("quota", QuotaExhausted),
        ("auth", ProviderAuthError),
        ("malformed", ProviderResponseInvalid),
    ],
)
async def test_every_fault_maps_to_the_error_tree(world: World, fault: str, expected: type[ProviderError]) -> None:
    adapter = world.adapter()
    world.fake.fail_next(fault)  # type: ignore[arg-type]
    with pytest.raises(expected) as info:
        await adapter.get_crm_context(KNOWN)
    error = info.value
    assert (error.source, error.operation) == ("crm", "get_crm_context")
    assert KNOWN.email not in str(error)
    if isinstance(error, RateLimited):
        assert error.retry_after == 2.0  # the fake's Retry-After
    if isinstance(error, QuotaExhausted):
        # The company's daily budget: back at the next UTC midnight (the company's zone is unknown).
        assert error.resets_at == datetime(2026, 11, 24, tzinfo=UTC)
        assert not error.retryable


async def test_a_wrong_token_is_an_auth_error_on_ping(world: World) -> None:
    with pytest.raises(ProviderAuthError) as info:
        await world.adapter(api_token="not-the-token").ping()
    assert info.value.operation == "ping"
    assert "not-the-token" not in str(info.value)


async def test_ping_is_one_authenticated_get_of_the_current_user(world: World) -> None:
    await world.adapter().ping()
    [request] = world.fake.requests
    assert (request.method, request.path, request.headers["x-api-token"]) == ("GET", "/v1/users/me", TOKEN)


async def test_write_errors_name_the_write(world: World) -> None:
    adapter = world.adapter()
    await adapter.find_contact(KNOWN)
    world.fake.fail_next("unavailable", path_contains="/v1/notes")
    with pytest.raises(ProviderUnavailable) as info:
        await adapter.log_interaction(KNOWN, Interaction(type="chat", timestamp=NOW, summary="hello"))
    assert info.value.operation == "log_interaction"


def _failure(status: int, body: object, headers: dict[str, str]) -> VendorFailure:
    return VendorFailure(status=status, body=body, text=json.dumps(body), rate=RateLimitInfo.from_headers(headers, NOW))


def test_burst_429_waits_for_the_window_and_the_daily_budget_waits_for_midnight() -> None:
    policy = PipedrivePolicy()

    def mapped(failure: VendorFailure) -> ProviderError:
        return map_http_error(failure, provider="Pipedrive", source="crm", operation="x", policy=policy, now=NOW)

    burst = {"success": False, "error": "Request over limit", "error_info": "", "data": None}
    window = mapped(_failure(429, burst, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}))
    assert isinstance(window, RateLimited) and window.retry_after == 1.0
    bare = mapped(_failure(429, None, {}))
    assert isinstance(bare, RateLimited) and bare.retry_after == 2.0
    # The budget, told by the header alone or by the body alone.
    by_header = mapped(_failure(429, burst, {"x-daily-requests-left": "0"}))
    assert isinstance(by_header, QuotaExhausted) and by_header.resets_at == datetime(2026, 11, 24, tzinfo=UTC)
    budget = {"success": False, "error": "Daily token budget exceeded", "error_info": "", "data": None}
    assert isinstance(mapped(_failure(429, budget, {})), QuotaExhausted)
    auth = mapped(_failure(401, {"success": False, "error": "unauthorized access", "errorCode": 401}, {}))
    assert isinstance(auth, ProviderAuthError) and str(auth) == "Pipedrive answered HTTP 401: 401 unauthorized access"


# Construction ------------------------------------------------------------------------------------------------------


async def test_from_settings_uses_the_company_domain_and_requires_the_token() -> None:
    async with httpx.AsyncClient() as client:
        _check_construction(client, FakeClock(NOW))


def _check_construction(client: httpx.AsyncClient, clock: FakeClock) -> None:
    env = {"CRM_PROVIDER": "pipedrive", "CRM_API_KEY": "t0ken"}
    default = PipedriveCRMAdapter.from_settings(
        load_settings(env, read_env_files=False), http_client=client, clock=clock
    )
    assert default.http.base_url == DEFAULT_BASE_URL
    assert default.field_map == PIPEDRIVE_FIELDS
    company = PipedriveCRMAdapter.from_settings(
        load_settings({**env, "CRM_ENDPOINT": "https://acme.pipedrive.com/api/v2/"}, read_env_files=False),
        http_client=client,
        clock=clock,
    )
    assert company.http.base_url == "https://acme.pipedrive.com"
    with pytest.raises(ConfigurationError, match="CRM_API_KEY"):
        PipedriveCRMAdapter(http_client=client, clock=clock, api_token=" ")
