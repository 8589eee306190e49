"""The Salesforce CRM adapter against the in-process Salesforce fake: the requests it sends and what users see."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

import httpx
import pytest
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fearvana_integration.adapters.crm.mapping import CrmFieldMap, compose_body
from fearvana_integration.adapters.crm.salesforce import (
    SALESFORCE_FIELDS,
    SalesforceCRMAdapter,
    soql_datetime,
    soql_literal,
)
from fearvana_integration.clock import FakeClock
from fearvana_integration.config import load_settings
from fearvana_integration.domain.crm import Interaction
from fearvana_integration.domain.customer import CustomerRef
from fearvana_integration.errors import (
    ConfigurationError,
    CustomerNotFound,
    ProviderAuthError,
    ProviderRejected,
    ProviderResponseInvalid,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)
from tests.conformance.harness import KNOWN, NOW, OTHER, UNKNOWN
from tests.conformance.harness_salesforce import define_custom_fields, install_world
from tests.fakes.faults import RecordedRequest
from tests.fakes.salesforce import FakeSalesforce

LOGIN = "https://login.salesforce.test"
API = "/services/data/v62.0"
TOKEN_PATH = "/services/oauth2/token"


class TokenGate:
    """Holds token requests while closed, so concurrent callers really overlap.

    ASGITransport runs the fake inline: a request that never waits on anything never yields to the
    event loop, and "concurrent" calls would otherwise run one after the other.
    """

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self.held = 0

    def close(self) -> None:
        self._open.clear()

    async def open_once_everyone_waits(self) -> None:
        for _ in range(1000):
            if self.held:
                break
            await asyncio.sleep(0)
        assert self.held, "no token request arrived"
        for _ in range(200):  # let every other caller reach the adapter's token lock
            await asyncio.sleep(0)
        self._open.set()

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"] == TOKEN_PATH and not self._open.is_set():
                self.held += 1
                await self._open.wait()
            await app(scope, receive, send)

        return wrapper


@dataclass
class Org:
    """A fake org with the conformance world, a client on it, and a way to build adapters."""

    fake: FakeSalesforce
    client: httpx.AsyncClient
    clock: FakeClock
    ids: dict[str, str]
    gate: TokenGate
    adapters: list[SalesforceCRMAdapter] = field(default_factory=list)

    def adapter(self, **overrides: Any) -> SalesforceCRMAdapter:
        options: dict[str, Any] = {
            "http_client": self.client,
            "clock": self.clock,
            "login_url": LOGIN,
            "client_id": self.fake.client_id,
            "client_secret": self.fake.client_secret,
        }
        options.update(overrides)
        built = SalesforceCRMAdapter(**options)
        self.adapters.append(built)
        return built

    def data_requests(self) -> list[RecordedRequest]:
        return [r for r in self.fake.requests if r.path.startswith("/services/data/")]

    def token_requests(self) -> list[RecordedRequest]:
        return [r for r in self.fake.requests if r.path == TOKEN_PATH]

    def soql(self) -> list[str]:
        """Every SOQL statement sent, in order."""
        return [parse_qs(r.query)["q"][0] for r in self.fake.requests if r.path == f"{API}/query"]


def _org(app_wrapper: Callable[[ASGIApp], ASGIApp] | None = None) -> tuple[FakeSalesforce, httpx.AsyncClient]:
    fake = FakeSalesforce(now=lambda: NOW)
    app: ASGIApp = fake.app if app_wrapper is None else app_wrapper(fake.app)
    return fake, httpx.AsyncClient(transport=httpx.ASGITransport(app=app))


@pytest.fixture
async def org() -> AsyncIterator[Org]:
    gate = TokenGate()
    fake, client = _org(gate.wrap)
    ids = install_world(fake)
    yield Org(fake=fake, client=client, clock=FakeClock(NOW), ids=ids, gate=gate)
    await client.aclose()


def _customer(email: str) -> CustomerRef:
    return CustomerRef(id=UUID("44444444-4444-4444-8444-444444444444"), email=email)


# Auth -------------------------------------------------------------------------------------------------


async def test_client_credentials_are_posted_as_a_form_and_used_as_a_bearer_token(org: Org) -> None:
    adapter = org.adapter()
    await adapter.ping()
    (token_request,) = org.token_requests()
    form = parse_qs(token_request.body.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["test-client"],
        "client_secret": ["test-secret"],
    }
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    (limits,) = org.data_requests()
    assert (limits.method, limits.path) == ("GET", f"{API}/limits")
    assert limits.headers["authorization"] == "Bearer test-token"


async def test_ten_concurrent_context_calls_without_a_token_mint_exactly_one(org: Org) -> None:
    adapter = org.adapter()
    org.gate.close()
    calls = asyncio.gather(*(adapter.get_crm_context(KNOWN) for _ in range(10)))
    await org.gate.open_once_everyone_waits()
    contexts = await calls
    assert all(ctx is not None and ctx.lifecycle_stage == "active" for ctx in contexts)
    assert len(org.token_requests()) == 1
    assert org.fake.tokens_issued == 1


async def test_data_calls_go_to_the_tokens_instance_url_unless_an_endpoint_overrides_it(org: Org) -> None:
    await org.adapter().ping()
    assert org.data_requests()[-1].headers["host"] == "login.salesforce.test"  # the fake's instance_url
    await org.adapter(base_url="https://crm-endpoint.test").ping()
    assert org.data_requests()[-1].headers["host"] == "crm-endpoint.test"


async def test_an_expired_token_is_reminted_once_and_the_request_retried(org: Org) -> None:
    adapter = org.adapter()
    assert await adapter.find_contact(KNOWN) is not None
    org.fake.revoke_tokens()  # the session expired
    contact = await adapter.find_contact(KNOWN)
    assert contact is not None and contact.id == org.ids[KNOWN.email]
    assert len(org.token_requests()) == 2
    assert org.data_requests()[-1].headers["authorization"] != "Bearer test-token"


async def test_concurrent_401s_share_one_new_token(org: Org) -> None:
    adapter = org.adapter()
    await adapter.ping()
    org.fake.revoke_tokens()
    org.gate.close()
    calls = asyncio.gather(*(adapter.get_crm_context(KNOWN) for _ in range(5)))
    await org.gate.open_once_everyone_waits()
    assert all(ctx is not None for ctx in await calls)
    assert len(org.token_requests()) == 2


async def test_a_second_401_is_an_auth_error(org: Org) -> None:
    adapter = org.adapter()
    org.fake.fail_next("auth")  # the token is revoked and the org refuses the next token request
    with pytest.raises(ProviderAuthError) as info:
        await adapter.get_crm_context(KNOWN)
    assert info.value.operation == "get_crm_context" and info.value.source == "crm"
    assert "invalid_client" in str(info.value)
    assert len(org.token_requests()) == 2  # the first token, then one re-mint that was refused
    assert await adapter.get_crm_context(KNOWN) is not None  # credentials accepted again: works again


async def test_refused_client_credentials_are_an_auth_error_shared_by_everyone_waiting(org: Org) -> None:
    adapter = org.adapter(client_secret="wrong-secret")
    org.gate.close()
    calls = asyncio.gather(*(adapter.get_crm_context(KNOWN) for _ in range(5)), return_exceptions=True)
    await org.gate.open_once_everyone_waits()
    results = await calls
    assert all(isinstance(result, ProviderAuthError) for result in results)
    assert "invalid_client" in str(results[0]) and "wrong-secret" not in str(results[0])
    assert len(org.token_requests()) == 1  # one refusal, shared
    assert org.data_requests() == []
    with pytest.raises(ProviderAuthError):  # a later call asks again
        await adapter.ping()
    assert len(org.token_requests()) == 2


async def test_the_login_rate_limit_is_a_quota_not_an_auth_error(org: Org) -> None:
    adapter = org.adapter()
    org.fake.fail_next("quota", path_contains=TOKEN_PATH)  # 400 {"error": "rate_limit_exceeded"}
    with pytest.raises(QuotaExhausted) as info:
        await adapter.ping()
    assert info.value.resets_at == NOW + timedelta(hours=1) and info.value.operation == "ping"


async def test_token_endpoint_outage_is_unavailable_not_auth(org: Org) -> None:
    adapter = org.adapter()
    org.fake.fail_next("unavailable", path_contains=TOKEN_PATH)
    with pytest.raises(ProviderUnavailable) as info:
        await adapter.find_contact(KNOWN)
    assert not isinstance(info.value, ProviderAuthError) and info.value.operation == "find_contact"
    assert await adapter.find_contact(KNOWN) is not None


# Reads: the SOQL sent ---------------------------------------------------------------------------------


async def test_the_exact_soql_of_a_context(org: Org) -> None:
    adapter = org.adapter()
    ctx = await adapter.get_crm_context(KNOWN)
    assert ctx is not None
    known = org.ids[KNOWN.email]
    find, *rest = org.soql()
    assert find == (
        "SELECT Id, Email, FirstName, LastName, LastActivityDate, Lifecycle_Stage__c, Fearvana_Tags__c, "
        "AI_Sentiment__c FROM Contact WHERE Email = 'known@example.com' ORDER BY LastModifiedDate DESC LIMIT 2"
    )
    assert sorted(rest) == sorted(
        [
            "SELECT Id, Subject, Status, Priority, CreatedDate FROM Case "
            f"WHERE ContactId = '{known}' AND IsClosed = false ORDER BY CreatedDate DESC",
            "SELECT Id, Subject, Description, TaskSubtype, ActivityDate, CreatedDate FROM Task "
            f"WHERE WhoId = '{known}' AND IsClosed = true "
            "ORDER BY ActivityDate DESC NULLS LAST, CreatedDate DESC LIMIT 10",
            "SELECT Id, Subject, Description, StartDateTime, CreatedDate FROM Event "
            f"WHERE WhoId = '{known}' AND StartDateTime <= 2026-11-23T08:00:00Z "
            "ORDER BY StartDateTime DESC, CreatedDate DESC LIMIT 10",
        ]
    )
    assert all(r.headers["authorization"] == "Bearer test-token" for r in org.data_requests())


async def test_context_maps_the_world(org: Org) -> None:
    ctx = await org.adapter().get_crm_context(KNOWN)
    assert ctx is not None
    assert (ctx.lifecycle_stage, ctx.sentiment) == ("active", "positive")
    assert ctx.tags == ["newsletter", "sacred-edge-program"]
    assert ctx.last_interaction == NOW - timedelta(days=3)  # from the footer, not the Task's date
    assert ctx.open_tickets == 2
    assert [t.subject for t in ctx.tickets] == ["Billing question", "Sync problem"]  # newest first
    assert ctx.tickets[0].priority == "High" and ctx.tickets[0].status == "New"
    assert ctx.contact_email is None and ctx.unmapped_fields == {}


async def test_string_literals_are_escaped_the_soql_way(org: Org) -> None:
    contact_id = org.fake.add_contact("o'brien@example.com", {"LastName": "O'Brien"})
    contact = await org.adapter().find_contact(_customer("O'Brien@example.com"))
    assert contact is not None and contact.id == contact_id
    assert "WHERE Email = 'O\\'Brien@example.com'" in org.soql()[-1]
    assert soql_literal("a\\b'c\n") == "'a\\\\b\\'c\\n'"


async def test_emails_match_case_insensitively(org: Org) -> None:
    ctx = await org.adapter().get_crm_context(_customer("KNOWN@Example.COM"))
    assert ctx is not None and ctx.lifecycle_stage == "active"
    assert ctx.contact_email is None  # the same address, only differently capitalised


async def test_open_ticket_paging_is_followed_and_the_count_is_the_full_count(org: Org) -> None:
    known = org.ids[KNOWN.email]
    for day in range(3, 28):
        org.fake.add_case(known, subject=f"Case {day}", closed=False, created_at=NOW - timedelta(days=day, hours=1))
    adapter = org.adapter()
    ctx = await adapter.get_crm_context(KNOWN)
    assert ctx is not None and ctx.open_tickets == 27
    assert len(ctx.tickets) == 20 and ctx.tickets[0].subject == "Billing question"
    created = [t.created_at for t in ctx.tickets if t.created_at is not None]
    assert len(created) == 20 and created == sorted(created, reverse=True)
    locator_pages = [r for r in org.data_requests() if r.path.startswith(f"{API}/query/")]
    assert locator_pages and all(r.headers["authorization"].startswith("Bearer ") for r in locator_pages)
    tickets = await adapter.get_open_tickets(KNOWN)
    assert len(tickets) == 27 and {t.status for t in tickets} == {"New"}


async def test_history_pages_and_merges_tasks_and_events_by_their_exact_time(org: Org) -> None:
    adapter = org.adapter()
    for minutes in range(6):
        await adapter.log_interaction(
            KNOWN, Interaction(type="chat", timestamp=NOW - timedelta(minutes=10 * minutes), summary=f"chat {minutes}")
        )
    await adapter.log_interaction(
        KNOWN, Interaction(type="appointment", timestamp=NOW - timedelta(minutes=25), summary="session")
    )
    history = await adapter.get_interaction_history(KNOWN, limit=5)
    assert [h.summary for h in history] == ["chat 0", "chat 1", "chat 2", "session", "chat 3"]
    assert [h.type for h in history] == ["chat", "chat", "chat", "appointment", "chat"]
    assert any(r.path.startswith(f"{API}/query/") for r in org.data_requests())  # pages of 2 were followed
    assert sum("LIMIT 10" in q for q in org.soql()[-3:]) == 2  # twice the limit from Task and from Event


async def test_activities_we_did_not_write_are_read_from_salesforce_fields(org: Org) -> None:
    other = org.ids[OTHER.email]
    org.fake.add_task(
        other,
        {"Subject": "Logged a call", "TaskSubtype": "Call", "Status": "Completed", "ActivityDate": date(2026, 11, 20)},
    )
    org.fake.add_task(other, {"Subject": "Send the workbook", "Status": "Not Started"})  # a to-do
    org.fake.add_event(
        other,
        {
            "Subject": "Kick-off",
            "Description": "Met in person",
            "StartDateTime": NOW - timedelta(days=1, hours=2),
            "DurationInMinutes": 30,
        },
    )
    org.fake.add_event(
        other, {"Subject": "Next session", "StartDateTime": NOW + timedelta(days=2), "DurationInMinutes": 60}
    )
    history = await org.adapter().get_interaction_history(OTHER)
    assert [(h.type, h.summary, h.timestamp) for h in history] == [
        ("appointment", "Met in person", NOW - timedelta(days=1, hours=2)),
        ("call", "Logged a call", datetime(2026, 11, 20, tzinfo=UTC)),
    ]


async def test_last_interaction_takes_a_later_last_activity_date_but_not_a_future_one(org: Org) -> None:
    org.fake.add_contact("dated@example.com", {"LastName": "Dated", "LastActivityDate": date(2026, 11, 22)})
    org.fake.add_contact("future@example.com", {"LastName": "Future", "LastActivityDate": date(2026, 11, 30)})
    adapter = org.adapter()
    dated = await adapter.get_crm_context(_customer("dated@example.com"))
    future = await adapter.get_crm_context(_customer("future@example.com"))
    assert dated is not None and dated.last_interaction == datetime(2026, 11, 22, tzinfo=UTC)
    assert future is not None and future.last_interaction is None


# The contact id memory ---------------------------------------------------------------------------------


async def test_a_remembered_id_is_not_searched_for_again(org: Org) -> None:
    adapter = org.adapter()
    await adapter.get_crm_context(KNOWN)
    before = len(org.soql())
    await adapter.get_crm_context(KNOWN)
    await adapter.get_interaction_history(KNOWN)
    second = org.soql()[before:]
    assert not any("WHERE Email" in q for q in second)
    by_id = [q for q in second if q.endswith(f"FROM Contact WHERE Id = '{org.ids[KNOWN.email]}'")]
    assert len(by_id) == 2  # checked alongside the other queries: a deleted contact is noticed


async def _merge_known_into_a_new_record(org: Org) -> str:
    """The contact is deleted and re-created (as a merge does): same email, new Id."""
    old = org.ids[KNOWN.email]
    org.fake.reset()
    # An activity on a lead takes the next id, so the re-created contact gets another one than before.
    org.fake.add_event("00Q5g00000AAAAA", {"StartDateTime": NOW, "DurationInMinutes": 5})
    new_ids = install_world(org.fake)
    assert new_ids[KNOWN.email] != old
    return new_ids[KNOWN.email]


async def test_a_remembered_id_that_is_gone_is_forgotten_and_searched_once(org: Org) -> None:
    adapter = org.adapter()
    await adapter.get_crm_context(KNOWN)
    new_id = await _merge_known_into_a_new_record(org)
    ctx = await adapter.get_crm_context(KNOWN)
    assert ctx is not None and ctx.open_tickets == 2
    contact = await adapter.find_contact(KNOWN)
    assert contact is not None and contact.id == new_id
    assert sum("WHERE Email" in q for q in org.soql()) == 1  # the new id is remembered again


async def test_a_write_with_a_stale_id_searches_again_and_writes_to_the_new_record(org: Org) -> None:
    adapter = org.adapter()
    await adapter.find_contact(KNOWN)
    new_id = await _merge_known_into_a_new_record(org)
    await adapter.ping()  # a fresh session (the reset revoked the old one), so only the writes are counted
    task_id = await adapter.log_interaction(KNOWN, Interaction(type="chat", timestamp=NOW, summary="after merge"))
    assert org.fake.record("Task", task_id)["WhoId"] == new_id
    creates = [r for r in org.data_requests() if r.method == "POST"]
    assert len(creates) == 2  # refused with INVALID_CROSS_REFERENCE_KEY, then written after one search
    await adapter.update_sentiment(KNOWN, "negative")
    assert org.fake.record("Contact", new_id)["AI_Sentiment__c"] == "Negative"


async def test_the_crm_email_is_reported_when_it_differs_from_the_profile(org: Org) -> None:
    adapter = org.adapter()
    await adapter.find_contact(KNOWN)
    # The coach changed the address in Salesforce: same record (same Id), new email.
    old = org.ids[KNOWN.email]
    org.fake.reset()
    define_custom_fields(org.fake)
    assert org.fake.add_contact("kim.new@example.com", {"LastName": "Known"}) == old
    ctx = await adapter.get_crm_context(KNOWN)
    assert ctx is not None and ctx.contact_email == "kim.new@example.com"


# Writes ----------------------------------------------------------------------------------------------


async def test_a_chat_is_a_completed_task_with_our_body_and_the_sentiment_is_written(org: Org) -> None:
    adapter = org.adapter()
    interaction = Interaction(
        id=UUID("55555555-5555-4555-8555-555555555555"),
        type="chat",
        timestamp=datetime(2026, 11, 22, 21, 15, 30, tzinfo=UTC),
        summary="Talked about the Sacred Edge.\nNext: journal daily.",
        sentiment="positive",
    )
    task_id = await adapter.log_interaction(KNOWN, interaction)
    assert task_id.startswith("00T")
    task = org.fake.record("Task", task_id)
    assert task["WhoId"] == org.ids[KNOWN.email]
    assert (task["TaskSubtype"], task["Status"], task["Subject"]) == ("Task", "Completed", "Chat with the coach")
    assert task["ActivityDate"] == date(2026, 11, 22)
    assert task["Description"] == compose_body(interaction)
    assert org.fake.record("Contact", org.ids[KNOWN.email])["AI_Sentiment__c"] == "Positive"
    create, patch = [r for r in org.data_requests() if r.method in ("POST", "PATCH")]
    assert create.path == f"{API}/sobjects/Task"
    assert (patch.path, json.loads(patch.body)) == (
        f"{API}/sobjects/Contact/{org.ids[KNOWN.email]}",
        {"AI_Sentiment__c": "Positive"},
    )
    (record,) = [h for h in await adapter.get_interaction_history(KNOWN) if h.crm_id == task_id]
    assert (record.summary, record.type, record.sentiment) == (interaction.summary, "chat", "positive")
    assert record.timestamp == interaction.timestamp  # exact, although the Task only keeps the date


@pytest.mark.parametrize(
    ("kind", "metadata", "expected"),
    [
        ("call", None, {"TaskSubtype": "Call", "CallType": "Outbound", "Subject": "Call with the coach"}),
        ("call", {"callType": "inbound"}, {"TaskSubtype": "Call", "CallType": "Inbound"}),
        ("email", None, {"TaskSubtype": "Email", "Status": "Completed", "Subject": "Email with the coach"}),
    ],
)
async def test_calls_and_emails_are_tasks_of_their_subtype(
    org: Org, kind: str, metadata: dict[str, Any] | None, expected: dict[str, object]
) -> None:
    interaction = Interaction.model_validate(
        {"type": kind, "timestamp": NOW - timedelta(hours=2), "summary": f"a {kind}", "metadata": metadata}
    )
    task_id = await org.adapter().log_interaction(KNOWN, interaction)
    task = org.fake.record("Task", task_id)
    assert {key: task[key] for key in expected} == expected


@pytest.mark.parametrize(("metadata", "minutes"), [(None, 60), ({"duration": 45}, 45), ({"duration": "x"}, 60)])
async def test_an_appointment_is_an_event_at_its_time(org: Org, metadata: dict[str, Any] | None, minutes: int) -> None:
    start = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    interaction = Interaction.model_validate(
        {"type": "appointment", "timestamp": start, "summary": "Session 4", "metadata": metadata}
    )
    event_id = await org.adapter().log_interaction(KNOWN, interaction)
    event = org.fake.record("Event", event_id)
    assert event_id.startswith("00U")
    assert (event["StartDateTime"], event["DurationInMinutes"], event["Subject"]) == (
        start,
        minutes,
        "Coaching session",
    )
    assert event["Description"] == compose_body(interaction)


async def test_logging_moves_the_last_interaction(org: Org) -> None:
    adapter = org.adapter()
    await adapter.log_interaction(KNOWN, Interaction(type="call", timestamp=NOW - timedelta(hours=1), summary="x"))
    ctx = await adapter.get_crm_context(KNOWN)
    assert ctx is not None and ctx.last_interaction == NOW - timedelta(hours=1)


async def test_update_sentiment_patches_the_configured_field(org: Org) -> None:
    org.fake.define_field("Contact", "Mood__c", "picklist", external_id=False)
    adapter = org.adapter(
        field_map=CrmFieldMap(stage_property="Lifecycle_Stage__c", stage_map={}, sentiment_property="Mood__c")
    )
    await adapter.update_sentiment(KNOWN, "neutral")
    assert org.fake.record("Contact", org.ids[KNOWN.email])["Mood__c"] == "Neutral"
    ctx = await adapter.get_crm_context(KNOWN)
    assert ctx is not None and ctx.sentiment == "neutral"


async def test_update_sentiment_without_a_field_is_a_configuration_error(org: Org) -> None:
    adapter = org.adapter(field_map=CrmFieldMap(stage_property="Lifecycle_Stage__c", stage_map={}))
    with pytest.raises(ConfigurationError, match="CRM_SENTIMENT_PROPERTY"):
        await adapter.update_sentiment(KNOWN, "neutral")
    assert org.fake.requests == []


async def test_a_customer_not_in_salesforce(org: Org) -> None:
    adapter = org.adapter()
    assert await adapter.find_contact(UNKNOWN) is None
    assert await adapter.get_crm_context(UNKNOWN) is None
    assert await adapter.get_open_tickets(UNKNOWN) == []
    assert await adapter.get_interaction_history(UNKNOWN) == []
    for write in (
        adapter.log_interaction(UNKNOWN, Interaction(type="chat", timestamp=NOW, summary="hi")),
        adapter.update_sentiment(UNKNOWN, "positive"),
    ):
        with pytest.raises(CustomerNotFound) as info:
            await write
        assert str(UNKNOWN.id) in str(info.value) and UNKNOWN.email not in str(info.value)
    assert not [r for r in org.data_requests() if r.method != "GET"]


# Mapping ---------------------------------------------------------------------------------------------


async def test_stage_values_pass_through_case_insensitively_and_others_are_unmapped(org: Org) -> None:
    org.fake.add_contact(
        "risky@example.com",
        {"LastName": "Risky", "Lifecycle_Stage__c": "AT-RISK", "AI_Sentiment__c": "Meh", "Fearvana_Tags__c": "a;b;a"},
    )
    org.fake.add_contact("odd@example.com", {"LastName": "Odd", "Lifecycle_Stage__c": "Customer - Direct"})
    adapter = org.adapter()
    risky = await adapter.get_crm_context(_customer("risky@example.com"))
    odd = await adapter.get_crm_context(_customer("odd@example.com"))
    assert risky is not None and (risky.lifecycle_stage, risky.sentiment, risky.tags) == ("at-risk", None, ["a", "b"])
    assert risky.unmapped_fields == {"sentiment": "Meh"}
    assert odd is not None and odd.lifecycle_stage is None
    assert odd.unmapped_fields == {"lifecycleStage": "Customer - Direct"}
    assert odd.open_tickets == 0 and odd.tickets == []


async def test_a_configured_stage_field_and_map_replace_the_defaults(org: Org) -> None:
    org.fake.add_contact("mapped@example.com", {"LastName": "Mapped", "Customer_Stage__c": "Customer - Direct"})
    fields = CrmFieldMap(
        stage_property="Customer_Stage__c",
        stage_map={"customer - direct": "active"},
        tags_property=None,
        sentiment_property=None,
    )
    ctx = await org.adapter(field_map=fields).get_crm_context(_customer("mapped@example.com"))
    assert ctx is not None and ctx.lifecycle_stage == "active" and ctx.unmapped_fields == {}
    assert org.soql()[0].startswith(
        "SELECT Id, Email, FirstName, LastName, LastActivityDate, Customer_Stage__c FROM Contact"
    )


async def test_field_names_must_be_api_names(org: Org) -> None:
    with pytest.raises(ConfigurationError, match="API names"):
        org.adapter(field_map=CrmFieldMap(stage_property="Stage'; DELETE", stage_map={}))


def test_defaults() -> None:
    assert (
        CrmFieldMap(
            stage_property="Lifecycle_Stage__c",
            stage_map={},
            status_property=None,
            tags_property="Fearvana_Tags__c",
            sentiment_property="AI_Sentiment__c",
        )
        == SALESFORCE_FIELDS
    )
    assert SalesforceCRMAdapter.name == "salesforce" and SalesforceCRMAdapter.kind == "crm"
    assert "tickets" in SalesforceCRMAdapter.capabilities
    assert soql_datetime(datetime(2026, 11, 23, 8, 0, 0, 1, tzinfo=UTC)) == "2026-11-23T08:00:01Z"


# Errors ----------------------------------------------------------------------------------------------


async def test_quota_is_exhausted_with_no_reset_time(org: Org) -> None:
    adapter = org.adapter()
    org.fake.fail_next("quota")
    with pytest.raises(QuotaExhausted) as info:
        await adapter.get_crm_context(KNOWN)
    assert info.value.resets_at is None and not info.value.retryable
    assert "rolling 24-hour" in str(info.value) and "no reset time" in str(info.value)
    assert info.value.operation == "get_crm_context" and KNOWN.email not in str(info.value)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("unavailable", ProviderUnavailable),
        ("malformed", ProviderResponseInvalid),
        ("auth", ProviderAuthError),
        ("rate_limited", RateLimited),  # 403 REQUEST_LIMIT_EXCEEDED "ConcurrentRequests ..." + Retry-After: 2
    ],
)
async def test_faults_map_to_the_error_tree(org: Org, fault: Any, error: type[Exception]) -> None:
    adapter = org.adapter()
    org.fake.fail_next(fault)
    with pytest.raises(error) as info:
        await adapter.get_interaction_history(KNOWN)
    assert getattr(info.value, "operation", None) == "get_interaction_history"
    if isinstance(info.value, RateLimited):
        assert info.value.retry_after == 2.0


def _answer_once(status: int, body: object, headers: dict[str, str] | None = None) -> Callable[[ASGIApp], ASGIApp]:
    """Wrap the fake so the next data request gets this exact answer (what the fake cannot render)."""

    def wrap(app: ASGIApp) -> ASGIApp:
        pending = [Response(json.dumps(body), status, headers=headers, media_type="application/json")]

        async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and str(scope["path"]).startswith("/services/data/") and pending:
                await pending.pop()(scope, receive, send)
                return
            await app(scope, receive, send)

        return wrapper

    return wrap


CONCURRENT = [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


@pytest.mark.parametrize(("headers", "retry_after"), [(None, 20.0), ({"Retry-After": "7"}, 7.0)])
async def test_the_concurrent_request_limit_is_a_short_rate_limit(
    headers: dict[str, str] | None, retry_after: float
) -> None:
    fake, client = _org(_answer_once(403, CONCURRENT, headers))
    install_world(fake)
    adapter = SalesforceCRMAdapter(
        http_client=client, clock=FakeClock(NOW), login_url=LOGIN, client_id="test-client", client_secret="test-secret"
    )
    with pytest.raises(RateLimited) as info:
        await adapter.find_contact(KNOWN)
    assert info.value.retry_after == retry_after and info.value.retryable
    assert info.value.operation == "find_contact"
    assert await adapter.find_contact(KNOWN) is not None
    await client.aclose()


async def test_other_403s_are_auth_errors_and_bad_requests_are_rejections() -> None:
    forbidden = [{"message": "Insufficient access", "errorCode": "INSUFFICIENT_ACCESS_OR_READONLY"}]
    fake, client = _org(_answer_once(403, forbidden))
    install_world(fake)
    adapter = SalesforceCRMAdapter(
        http_client=client, clock=FakeClock(NOW), login_url=LOGIN, client_id="test-client", client_secret="test-secret"
    )
    with pytest.raises(ProviderAuthError, match="INSUFFICIENT_ACCESS_OR_READONLY"):
        await adapter.get_open_tickets(KNOWN)
    # A write Salesforce refuses for another reason than a stale id is our mistake, not an outage.
    read_only = CrmFieldMap(stage_property="Lifecycle_Stage__c", stage_map={}, sentiment_property="Name")
    strict = SalesforceCRMAdapter(
        http_client=client,
        clock=FakeClock(NOW),
        login_url=LOGIN,
        client_id="test-client",
        client_secret="test-secret",
        field_map=read_only,
    )
    with pytest.raises(ProviderRejected, match="INVALID_FIELD_FOR_INSERT_UPDATE") as info:
        await strict.update_sentiment(KNOWN, "positive")
    assert not info.value.counts_for_breaker
    await client.aclose()


# Settings --------------------------------------------------------------------------------------------


async def test_from_settings(org: Org) -> None:
    settings = load_settings(
        {
            "CRM_PROVIDER": "salesforce",
            "CRM_SALESFORCE_CLIENT_ID": "test-client",
            "CRM_SALESFORCE_CLIENT_SECRET": "test-secret",
            "CRM_SALESFORCE_LOGIN_URL": LOGIN,
            "CRM_SALESFORCE_API_VERSION": "v60.0",
            "CRM_ENDPOINT": "https://crm-endpoint.test",
            "CRM_TAGS_PROPERTY": "Interests__c",
        },
        read_env_files=False,
    )
    adapter = SalesforceCRMAdapter.from_settings(settings, http_client=org.client, clock=org.clock)
    assert adapter.fields.tags_property == "Interests__c"
    assert adapter.fields.stage_property == "Lifecycle_Stage__c"
    with pytest.raises(ProviderRejected):  # the fake org has no Interests__c field
        await adapter.find_contact(KNOWN)
    (query,) = org.data_requests()
    assert query.path == "/services/data/v60.0/query" and query.headers["host"] == "crm-endpoint.test"


async def test_from_settings_needs_the_client_credentials(org: Org) -> None:
    settings = load_settings({}, read_env_files=False)  # mock CRM: the Salesforce settings are not required
    with pytest.raises(ConfigurationError, match="CRM_SALESFORCE_LOGIN_URL"):
        SalesforceCRMAdapter.from_settings(settings, http_client=org.client, clock=org.clock)
