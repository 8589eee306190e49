"""HubSpot specifics, against the in-process HubSpot fake: the exact requests, paging, errors, id memory, mappings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

import httpx
import pytest

from fearvana_integration.adapters.crm.hubspot import HUBSPOT_FIELDS, HubSpotCRMAdapter, HubSpotPolicy
from fearvana_integration.adapters.crm.mapping import CrmFieldMap
from fearvana_integration.adapters.http import RateLimitInfo, VendorFailure, map_http_error
from fearvana_integration.clock import FakeClock
from fearvana_integration.config import load_settings
from fearvana_integration.domain.crm import Interaction
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.errors import (
    ConfigurationError,
    CustomerNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderResponseInvalid,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)
from tests.conformance.harness import KNOWN, NOW, OTHER, UNKNOWN
from tests.conformance.harness_hubspot import BASE_URL, TOKEN, install_world
from tests.fakes.faults import RecordedRequest
from tests.fakes.hubspot import OPEN_STAGE_IDS, FakeHubSpot

OPEN_STAGES = sorted(OPEN_STAGE_IDS)


@dataclass
class Env:
    fake: FakeHubSpot
    clock: FakeClock
    client: httpx.AsyncClient
    ids: dict[str, str]

    def adapter(self, **kwargs: Any) -> HubSpotCRMAdapter:
        options: dict[str, Any] = {"api_key": TOKEN, "base_url": BASE_URL, **kwargs}
        return HubSpotCRMAdapter(http_client=self.client, clock=self.clock, **options)

    def sent(self) -> list[RecordedRequest]:
        """Requests since the last call, then forget them."""
        found = list(self.fake.requests)
        self.fake.requests.clear()
        return found


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock(NOW)
    fake = FakeHubSpot(token=TOKEN, now=clock.now)
    ids = install_world(fake)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as client:
        yield Env(fake, clock, client, ids)


def _query(request: RecordedRequest) -> dict[str, list[str]]:
    return parse_qs(request.query)


def _body(request: RecordedRequest) -> Any:
    return json.loads(request.body)


def _calls(requests: list[RecordedRequest]) -> list[str]:
    return [f"{r.method} {r.path}" for r in requests]


def _customer(email: str, n: int = 4) -> CustomerRef:
    return CustomerRef(
        id=UUID(f"{n}{n}{n}{n}{n}{n}{n}{n}-{n}{n}{n}{n}-4{n}{n}{n}-8{n}{n}{n}-{str(n) * 12}"), email=email
    )


# The requests the context costs ------------------------------------------------------------------


async def test_first_context_reads_the_contact_by_email_then_searches_open_tickets(env: Env) -> None:
    ctx = await env.adapter().get_crm_context(KNOWN)

    assert ctx is not None
    requests = env.sent()
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in requests)
    assert sorted(_calls(requests)) == [
        "GET /crm/v3/objects/contacts/known@example.com",
        "GET /crm/v3/pipelines/tickets",
        "POST /crm/v3/objects/tickets/search",
    ]
    contact = next(r for r in requests if "contacts" in r.path)
    query = _query(contact)
    assert query["idProperty"] == ["email"]
    assert set(query["properties"][0].split(",")) == {
        "email",
        "firstname",
        "lastname",
        "notes_last_updated",
        "lifecyclestage",
        "fearvana_status",
        "fearvana_tags",
        "fearvana_sentiment",
    }
    search = _body(next(r for r in requests if r.path.endswith("/tickets/search")))
    assert search["filterGroups"] == [
        {
            "filters": [
                {"propertyName": "associations.contact", "operator": "EQ", "value": env.ids["known"]},
                {"propertyName": "hs_pipeline_stage", "operator": "IN", "values": OPEN_STAGES},
            ]
        }
    ]
    assert search["sorts"] == [{"propertyName": "createdate", "direction": "DESCENDING"}]
    assert set(search["properties"]) == {"subject", "hs_ticket_priority", "hs_pipeline_stage", "createdate"}


async def test_context_maps_hubspot_values(env: Env) -> None:
    ctx = await env.adapter().get_crm_context(KNOWN)

    assert ctx is not None
    assert ctx.lifecycle_stage == "active"  # lifecyclestage "customer"
    assert ctx.tags == ["newsletter", "sacred-edge-program"]
    assert ctx.sentiment == "positive"
    assert ctx.last_interaction == NOW - timedelta(days=3)  # notes_last_updated, from the logged call
    assert ctx.open_tickets == 2
    # newest first; the stage label is the status, HubSpot's upper-case priority is lower-cased
    assert [(t.subject, t.status, t.priority) for t in ctx.tickets] == [
        ("Billing question", "New", "high"),
        ("Sync problem", "New", "low"),
    ]
    assert ctx.tickets[0].created_at == NOW - timedelta(days=1)
    assert ctx.contact_email is None and ctx.unmapped_fields == {}


async def test_the_contact_id_is_remembered_and_pipelines_are_cached(env: Env) -> None:
    adapter = env.adapter()
    await adapter.get_crm_context(KNOWN)
    env.sent()

    ctx = await adapter.get_crm_context(KNOWN)

    assert ctx is not None and ctx.open_tickets == 2
    requests = env.sent()
    # no lookup by email and no pipelines read: the contact by id and the ticket search, together
    assert sorted(_calls(requests)) == [
        f"GET /crm/v3/objects/contacts/{env.ids['known']}",
        "POST /crm/v3/objects/tickets/search",
    ]
    assert "idProperty" not in _query(requests[0]) and "idProperty" not in _query(requests[1])


async def test_open_ticket_stages_are_read_again_after_ten_minutes(env: Env) -> None:
    adapter = env.adapter()
    await adapter.get_crm_context(KNOWN)
    env.sent()
    env.clock.advance(599)
    await adapter.get_crm_context(KNOWN)
    assert "GET /crm/v3/pipelines/tickets" not in _calls(env.sent())
    env.clock.advance(2)
    await adapter.get_crm_context(KNOWN)
    assert "GET /crm/v3/pipelines/tickets" in _calls(env.sent())


def _reimport(env: Env, fillers: int) -> dict[str, str]:
    """The portal's records deleted and imported again: every contact gets a new id, old ids answer 404."""
    env.fake.reset()
    for i in range(fillers):
        env.fake.add_contact(f"filler-{i}@example.com")
    ids = install_world(env.fake)
    env.sent()
    return ids


async def test_a_forgotten_contact_id_is_looked_up_again_once(env: Env) -> None:
    old = _reimport(env, fillers=2)
    adapter = env.adapter()
    await adapter.get_crm_context(KNOWN)
    new = _reimport(env, fillers=0)
    assert old["known"] != new["known"]

    ctx = await adapter.get_crm_context(KNOWN)

    assert ctx is not None and ctx.open_tickets == 2 and ctx.lifecycle_stage == "active"
    calls = _calls(env.sent())
    assert f"GET /crm/v3/objects/contacts/{old['known']}" in calls  # the stale id: 404
    assert "GET /crm/v3/objects/contacts/known@example.com" in calls  # looked up again
    assert calls.count("POST /crm/v3/objects/tickets/search") == 2  # the stale id's tickets are not used
    await adapter.get_crm_context(KNOWN)
    assert f"GET /crm/v3/objects/contacts/{new['known']}" in _calls(env.sent())  # the new id is remembered


async def test_writes_with_a_stale_id_land_on_the_current_contact(env: Env) -> None:
    _reimport(env, fillers=2)
    adapter = env.adapter()
    await adapter.find_contact(KNOWN)
    new = _reimport(env, fillers=0)

    crm_id = await adapter.log_interaction(KNOWN, Interaction(type="chat", timestamp=NOW, summary="after re-import"))

    assert crm_id in [eid for _, eid, _ in env.fake.engagements(new["known"])]
    assert _calls(env.sent()).count("POST /crm/v3/objects/notes") == 2  # refused for the stale id, then done


async def test_update_sentiment_with_a_stale_id_patches_the_current_contact(env: Env) -> None:
    old = _reimport(env, fillers=2)
    adapter = env.adapter()
    await adapter.find_contact(KNOWN)
    new = _reimport(env, fillers=0)

    await adapter.update_sentiment(KNOWN, "negative")

    assert env.fake.contact(new["known"])["fearvana_sentiment"] == "negative"
    patches = [r.path for r in env.sent() if r.method == "PATCH"]
    assert patches == [f"/crm/v3/objects/contacts/{old['known']}", f"/crm/v3/objects/contacts/{new['known']}"]


async def test_the_email_lookup_ignores_case(env: Env) -> None:
    shouting = CustomerRef(id=KNOWN.id, email="KNOWN@Example.COM")
    ctx = await env.adapter().get_crm_context(shouting)
    assert ctx is not None and ctx.contact_email is None
    assert env.sent()[0].path.endswith("/contacts/known@example.com")


# Paging ---------------------------------------------------------------------------------------------


async def test_ticket_paging_is_followed_and_the_context_keeps_twenty(env: Env) -> None:
    for i in range(23):
        env.fake.add_ticket(env.ids["other"], subject=f"T{i:02d}", open=True, created_at=NOW - timedelta(hours=i + 1))
    env.fake.add_ticket(env.ids["other"], subject="closed one", open=False)
    adapter = env.adapter()

    ctx = await adapter.get_crm_context(OTHER)

    assert ctx is not None
    assert ctx.open_tickets == 23  # HubSpot's total
    assert [t.subject for t in ctx.tickets] == [f"T{i:02d}" for i in range(20)]
    searches = [_body(r) for r in env.sent() if r.path.endswith("/tickets/search")]
    assert len(searches) == 10  # the fake pages by 2
    assert [s.get("after") for s in searches[:3]] == [None, "2", "4"]
    tickets = await adapter.get_open_tickets(OTHER)
    assert len(tickets) == 23 and all(t.subject != "closed one" for t in tickets)


async def test_history_merges_four_searches_follows_paging_and_keeps_the_limit(env: Env) -> None:
    adapter = env.adapter()
    for i in range(5):
        await adapter.log_interaction(
            KNOWN, Interaction(type="chat", timestamp=NOW - timedelta(hours=i), summary=f"note {i}")
        )
    await adapter.log_interaction(
        KNOWN, Interaction(type="email", timestamp=NOW - timedelta(minutes=90), summary="email between")
    )
    env.sent()

    history = await adapter.get_interaction_history(KNOWN, limit=4)

    assert [h.summary for h in history] == ["note 0", "note 1", "email between", "note 2"]
    assert [h.type for h in history] == ["chat", "chat", "email", "chat"]
    searches = [r for r in env.sent() if r.path.endswith("/search")]
    kinds = {r.path.split("/")[-2] for r in searches}
    assert kinds == {"notes", "calls", "emails", "meetings"}
    notes = [_body(r) for r in searches if "/notes/" in r.path]
    assert [n.get("after") for n in notes] == [None, "2"]  # 4 wanted, pages of 2
    assert notes[0]["filterGroups"] == [
        {"filters": [{"propertyName": "associations.contact", "operator": "EQ", "value": env.ids["known"]}]}
    ]
    assert notes[0]["sorts"] == [{"propertyName": "hs_timestamp", "direction": "DESCENDING"}]
    assert notes[0]["limit"] == 4


# Writes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "object_type", "type_id", "body_property", "extras"),
    [
        ("chat", "notes", 202, "hs_note_body", {}),
        ("call", "calls", 194, "hs_call_body", {"hs_call_status": "COMPLETED", "hs_call_direction": "OUTBOUND"}),
        ("email", "emails", 198, "hs_email_text", {"hs_email_direction": "EMAIL", "hs_email_status": "SENT"}),
        ("appointment", "meetings", 200, "hs_meeting_body", {"hs_meeting_outcome": "COMPLETED"}),
    ],
)
async def test_each_interaction_becomes_its_hubspot_engagement(
    env: Env, kind: str, object_type: str, type_id: int, body_property: str, extras: dict[str, str]
) -> None:
    adapter = env.adapter()
    when = datetime(2026, 11, 22, 17, 45, 12, tzinfo=UTC)
    interaction = Interaction(type=kind, timestamp=when, summary="Talked about <fear> & courage\nsecond line")

    crm_id = await adapter.log_interaction(KNOWN, interaction)

    create = next(r for r in env.sent() if r.method == "POST" and r.path == f"/crm/v3/objects/{object_type}")
    body = _body(create)
    assert body["associations"] == [
        {
            "to": {"id": env.ids["known"]},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
        }
    ]
    properties = body["properties"]
    assert properties["hs_timestamp"] == "2026-11-22T17:45:12.000Z"
    assert properties.items() >= extras.items()
    if kind == "email":
        assert properties[body_property].startswith("Talked about <fear> & courage\nsecond line\n\n[Fearvana")
        assert properties["hs_email_subject"] == "Talked about <fear> & courage"
    else:
        assert properties[body_property].startswith("<p>Talked about &lt;fear&gt; &amp; courage<br>second line</p>")
    if kind == "appointment":
        assert properties["hs_meeting_start_time"] == properties["hs_meeting_end_time"] == "2026-11-22T17:45:12.000Z"
    history = await adapter.get_interaction_history(KNOWN, limit=5)
    assert (history[0].crm_id, history[0].type, history[0].timestamp) == (crm_id, kind, when)
    assert history[0].summary == "Talked about <fear> & courage\nsecond line"


async def test_log_interaction_round_trips_sentiment_and_moves_the_last_activity(env: Env) -> None:
    adapter = env.adapter()
    interaction = Interaction(
        id=UUID("99999999-9999-4999-8999-999999999999"),
        type="chat",
        timestamp=NOW - timedelta(minutes=5),
        summary="Felt stuck, then found the edge",
        sentiment="negative",
    )

    await adapter.log_interaction(KNOWN, interaction)

    calls = _calls(env.sent())
    assert calls[-2:] == ["POST /crm/v3/objects/notes", f"PATCH /crm/v3/objects/contacts/{env.ids['known']}"]
    assert env.fake.contact(env.ids["known"])["fearvana_sentiment"] == "negative"
    (record,) = await adapter.get_interaction_history(KNOWN, limit=1)
    assert (record.summary, record.sentiment) == ("Felt stuck, then found the edge", "negative")
    ctx = await adapter.get_crm_context(KNOWN)
    assert ctx is not None and ctx.last_interaction == NOW - timedelta(minutes=5) and ctx.sentiment == "negative"


async def test_a_note_written_in_hubspot_reads_as_a_chat_at_its_timestamp(env: Env) -> None:
    env.fake.add_engagement(
        env.ids["other"],
        "notes",
        {"hs_timestamp": "2026-11-20T09:30:00.000Z", "hs_note_body": "<p>Called about <b>the retreat</b></p>"},
    )
    (record,) = await env.adapter().get_interaction_history(OTHER)
    assert (record.type, record.summary, record.sentiment) == ("chat", "Called about the retreat", None)
    assert record.timestamp == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


async def test_update_sentiment_patches_the_configured_property(env: Env) -> None:
    await env.adapter().update_sentiment(OTHER, "positive")
    patch = next(r for r in env.sent() if r.method == "PATCH")
    assert patch.path == f"/crm/v3/objects/contacts/{env.ids['other']}"
    assert _body(patch) == {"properties": {"fearvana_sentiment": "positive"}}


async def test_update_sentiment_without_a_sentiment_field_names_the_setting(env: Env) -> None:
    fields = CrmFieldMap(stage_property="lifecyclestage", stage_map={}, sentiment_property=None)
    with pytest.raises(ConfigurationError, match="CRM_SENTIMENT_PROPERTY"):
        await env.adapter(field_map=fields).update_sentiment(KNOWN, "positive")


async def test_a_customer_hubspot_does_not_know(env: Env) -> None:
    adapter = env.adapter()
    assert await adapter.find_contact(UNKNOWN) is None
    assert await adapter.get_crm_context(UNKNOWN) is None
    assert await adapter.get_open_tickets(UNKNOWN) == []
    assert await adapter.get_interaction_history(UNKNOWN) == []
    with pytest.raises(CustomerNotFound) as info:
        await adapter.log_interaction(UNKNOWN, Interaction(type="chat", timestamp=NOW, summary="hi"))
    assert str(UNKNOWN.id) in str(info.value) and UNKNOWN.email not in str(info.value)
    with pytest.raises(CustomerNotFound):
        await adapter.update_sentiment(UNKNOWN, "neutral")
    assert not any(r.method in ("POST", "PATCH") and not r.path.endswith("/search") for r in env.fake.requests)


async def test_find_contact_gives_id_email_and_name(env: Env) -> None:
    contact = await env.adapter().find_contact(KNOWN)
    assert contact is not None
    assert (contact.id, contact.email, contact.display_name) == (env.ids["known"], KNOWN.email, "Kim Known")


# Mapping ------------------------------------------------------------------------------------------


async def test_default_map_status_override_and_unmapped_sentiment(env: Env) -> None:
    env.fake.add_contact(
        "lead@example.com", {"lifecyclestage": "lead", "fearvana_status": "churned", "fearvana_sentiment": "neutral"}
    )
    env.fake.add_contact("sub@example.com", {"lifecyclestage": "subscriber", "fearvana_mood": "grumpy"})
    adapter = env.adapter()

    churned = await adapter.get_crm_context(_customer("lead@example.com", 5))
    fallback = await adapter.get_crm_context(_customer("sub@example.com", 6))

    assert churned is not None and churned.lifecycle_stage == "churned"  # fearvana_status wins
    assert fallback is not None and fallback.lifecycle_stage == "onboarding"  # the "*" fallback
    assert fallback.open_tickets == 0 and fallback.tickets == [] and fallback.tags == []
    moody = await env.adapter(
        field_map=CrmFieldMap(
            stage_property="lifecyclestage", stage_map={"customer": "active"}, sentiment_property="fearvana_mood"
        )
    ).get_crm_context(_customer("sub@example.com", 6))
    assert moody is not None
    assert moody.lifecycle_stage is None and moody.sentiment is None
    assert moody.unmapped_fields == {"lifecycleStage": "subscriber", "sentiment": "grumpy"}


async def test_settings_override_endpoint_version_and_fields(env: Env) -> None:
    settings = load_settings(
        {
            "CRM_PROVIDER": "hubspot",
            "CRM_API_KEY": TOKEN,
            "CRM_ENDPOINT": BASE_URL,
            "CRM_HUBSPOT_API_VERSION": "2026-03",
            "CRM_STAGE_PROPERTY": "hs_lead_status",
            "CRM_STAGE_MAP": '{"connected": "active", "*": null}',
            "CRM_TAGS_PROPERTY": "topics",
        },
        read_env_files=False,
    )
    env.fake.add_contact(
        "lead@example.com", {"hs_lead_status": "CONNECTED", "lifecyclestage": "evangelist", "topics": "a;b"}
    )
    adapter = HubSpotCRMAdapter.from_settings(settings, http_client=env.client, clock=env.clock)

    ctx = await adapter.get_crm_context(_customer("lead@example.com", 5))

    assert ctx is not None and (ctx.lifecycle_stage, ctx.tags) == ("active", ["a", "b"])
    assert env.sent()[0].path == "/crm/objects/2026-03/contacts/lead@example.com"
    assert adapter.field_map.sentiment_property == HUBSPOT_FIELDS.sentiment_property  # the default stays


def test_settings_without_a_key_or_with_a_bad_version_are_configuration_errors() -> None:
    client = httpx.AsyncClient()
    with pytest.raises(ConfigurationError, match="CRM_API_KEY"):
        HubSpotCRMAdapter(http_client=client, clock=FakeClock(NOW), api_key=" ")
    with pytest.raises(ConfigurationError, match="CRM_HUBSPOT_API_VERSION"):
        HubSpotCRMAdapter(http_client=client, clock=FakeClock(NOW), api_key="k", api_version="v4")


# Date-versioned paths -----------------------------------------------------------------------------


async def test_the_date_version_uses_the_versioned_twins(env: Env) -> None:
    adapter = env.adapter(api_version="2026-03")

    ctx = await adapter.get_crm_context(KNOWN)
    crm_id = await adapter.log_interaction(KNOWN, Interaction(type="call", timestamp=NOW, summary="dated"))
    history = await adapter.get_interaction_history(KNOWN, limit=1)
    await adapter.update_sentiment(KNOWN, "neutral")

    assert ctx is not None and ctx.open_tickets == 2
    assert history[0].crm_id == crm_id
    paths = {r.path for r in env.sent()}
    assert {
        "/crm/objects/2026-03/contacts/known@example.com",
        "/crm/pipelines/2026-03/tickets",
        "/crm/objects/2026-03/tickets/search",
        "/crm/objects/2026-03/calls",
        "/crm/objects/2026-03/notes/search",
        f"/crm/objects/2026-03/contacts/{env.ids['known']}",
    } <= paths
    assert not any("/v3/" in path for path in paths)


# Errors -------------------------------------------------------------------------------------------


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
async def test_every_fault_maps_to_the_error_tree(env: Env, fault: str, expected: type[ProviderError]) -> None:
    adapter = env.adapter()
    env.fake.fail_next(fault, path_contains="/contacts/")  # type: ignore[arg-type]

    with pytest.raises(expected) as info:
        await adapter.get_crm_context(KNOWN)

    error = info.value
    assert (error.source, error.operation) == ("crm", "get_crm_context")
    assert KNOWN.email not in str(error)
    if isinstance(error, RateLimited):
        assert error.retry_after == 2.0  # the fake's Retry-After
    if isinstance(error, QuotaExhausted):
        assert error.resets_at == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # next UTC midnight after NOW
        assert not error.retryable


async def test_a_failed_context_leaves_no_request_running(env: Env) -> None:
    env.fake.fail_next("slow", path_contains="/pipelines/")
    env.fake.fail_next("unavailable", path_contains="/contacts/")

    with pytest.raises(ProviderUnavailable):
        async with asyncio.timeout(2):
            await env.adapter().get_crm_context(KNOWN)

    # the concurrent pipelines read was cancelled, not left to reach HubSpot after the error
    assert [task for task in asyncio.all_tasks() if task is not asyncio.current_task()] == []


async def test_a_throttled_search_is_rate_limited_with_the_operation_name(env: Env) -> None:
    env.fake.fail_next("rate_limited", path_contains="/search")
    with pytest.raises(RateLimited) as info:
        await env.adapter().get_interaction_history(KNOWN)
    assert info.value.operation == "get_interaction_history" and info.value.retry_after == 2.0


async def test_a_wrong_token_is_an_auth_error(env: Env) -> None:
    adapter = env.adapter(api_key="pat-na1-wrong")
    with pytest.raises(ProviderAuthError, match="401"):
        await adapter.find_contact(KNOWN)
    with pytest.raises(ProviderAuthError):
        await adapter.ping()


async def test_a_property_hubspot_does_not_have_is_rejected_not_counted(env: Env) -> None:
    fields = CrmFieldMap(stage_property="lifecyclestage", stage_map={}, sentiment_property="no_such_property")
    with pytest.raises(ProviderRejected) as info:
        await env.adapter(field_map=fields).update_sentiment(KNOWN, "positive")
    assert not info.value.counts_for_breaker and info.value.operation == "update_sentiment"


def _rate_limit(body: dict[str, Any], headers: dict[str, str]) -> ProviderError:
    failure = VendorFailure(status=429, body=body, text="", rate=RateLimitInfo.from_headers(headers, NOW))
    return map_http_error(failure, provider="HubSpot", source="crm", operation="x", policy=HubSpotPolicy(), now=NOW)


def test_a_429_without_retry_after_waits_out_the_ten_second_window() -> None:
    error = _rate_limit({"status": "error", "policyName": "TEN_SECONDLY_ROLLING", "errorType": "RATE_LIMIT"}, {})
    assert isinstance(error, RateLimited) and error.retry_after == 10.0
    assert "TEN_SECONDLY_ROLLING" in str(error)


def test_a_daily_429_is_a_quota_even_without_a_policy_name() -> None:
    error = _rate_limit({"status": "error"}, {"X-HubSpot-RateLimit-Daily-Remaining": "0"})
    assert isinstance(error, QuotaExhausted) and error.resets_at == datetime(2026, 11, 24, tzinfo=UTC)


# Ping ---------------------------------------------------------------------------------------------


async def test_ping_is_one_cheap_authenticated_get(env: Env) -> None:
    await env.adapter().ping()
    (request,) = env.sent()
    assert (request.method, request.path, _query(request)) == ("GET", "/crm/v3/objects/contacts", {"limit": ["1"]})
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
