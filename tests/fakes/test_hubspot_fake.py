"""Fast tests of the HubSpot fake: every route as documented, paging, every fault, auth."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fakes import faults
from tests.fakes.hubspot import CLOSED_STAGE_IDS, LIFECYCLE_STAGES, OPEN_STAGE_IDS, FakeHubSpot
from tests.fakes.server import serve

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
AUTH = {"Authorization": "Bearer test-token"}
V3 = "/crm/v3/objects"
DV = "/crm/objects/2026-03"


@pytest.fixture
def fake() -> FakeHubSpot:
    return FakeHubSpot(now=lambda: NOW)


@pytest.fixture
async def client(fake: FakeHubSpot) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.hubapi.com", headers=AUTH) as http:
        yield http


def seed(fake: FakeHubSpot) -> str:
    contact = fake.add_contact(
        "Kim@Example.com",
        {"firstname": "Kim", "lastname": "Known", "lifecyclestage": "customer", "fearvana_sentiment": "positive"},
    )
    fake.add_contact("other@example.com", {"firstname": "Ola"})
    return contact


def assert_error(response: httpx.Response, status: int, category: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert body["correlationId"]
    assert body["message"]
    return body


def problems(body: dict[str, Any]) -> list[dict[str, Any]]:
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix)
    parsed: list[dict[str, Any]] = json.loads(body["message"][len(prefix) :])
    return parsed


def note_for(contact_id: str, stamp: str, **props: str) -> dict[str, Any]:
    return {
        "properties": {"hs_timestamp": stamp, **props},
        "associations": [
            {"to": {"id": contact_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}
        ],
    }


# ------------------------------------------------------------------------------------------------ auth


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "test-token"}, {"Authorization": "Basic dGVzdA=="}],
)
async def test_every_route_needs_the_bearer_token(fake: FakeHubSpot, headers: dict[str, str]) -> None:
    contact = seed(fake)
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.hubapi.com") as anonymous:
        for method, path in [
            ("GET", f"{V3}/contacts/{contact}"),
            ("GET", f"{DV}/contacts/{contact}"),
            ("POST", f"{V3}/contacts/search"),
            ("GET", "/crm/v3/pipelines/tickets"),
            ("GET", "/no/such/route"),
        ]:
            response = await anonymous.request(method, path, headers=headers, json={})
            body = assert_error(response, 401, "INVALID_AUTHENTICATION")
            assert body["message"].startswith("Authentication credentials not found.")
    assert len(fake.requests) == 5


async def test_faults_wait_for_an_authenticated_request(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    fake.fail_next("unavailable")
    assert (await client.get(f"{V3}/contacts/{contact}", headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await client.get(f"{V3}/contacts/{contact}")).status_code == 503


# ------------------------------------------------------------------------------------------------ contacts


async def test_get_contact_by_id_returns_the_default_properties(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    response = await client.get(f"{V3}/contacts/{contact}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == contact
    assert body["archived"] is False
    assert body["createdAt"] == body["updatedAt"] == "2026-11-23T08:00:00.000Z"
    assert body["properties"] == {
        "createdate": "2026-11-23T08:00:00.000Z",
        "email": "kim@example.com",
        "firstname": "Kim",
        "hs_object_id": contact,
        "lastmodifieddate": "2026-11-23T08:00:00.000Z",
        "lastname": "Known",
    }


@pytest.mark.parametrize("prefix", [V3, DV])
@pytest.mark.parametrize(
    "query",
    [
        "idProperty=email&properties=email,lifecyclestage,notes_last_updated,fearvana_sentiment,nosuchprop",
        "idProperty=email&properties=email&properties=lifecyclestage&properties=notes_last_updated"
        "&properties=fearvana_sentiment&properties=nosuchprop",
    ],
)
async def test_get_contact_by_email_with_chosen_properties(
    fake: FakeHubSpot, client: httpx.AsyncClient, prefix: str, query: str
) -> None:
    contact = seed(fake)
    response = await client.get(f"{prefix}/contacts/KIM%40example.com?{query}")
    assert response.status_code == 200
    props = response.json()["properties"]
    assert response.json()["id"] == contact
    assert props == {
        "createdate": "2026-11-23T08:00:00.000Z",
        "email": "kim@example.com",
        "fearvana_sentiment": "positive",
        "hs_object_id": contact,
        "lastmodifieddate": "2026-11-23T08:00:00.000Z",
        "lifecyclestage": "customer",
        "notes_last_updated": None,
    }
    assert all(value is None or isinstance(value, str) for value in props.values())


async def test_unknown_contacts_are_404(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    seed(fake)
    assert_error(await client.get(f"{V3}/contacts/nobody@example.com?idProperty=email"), 404, "OBJECT_NOT_FOUND")
    assert_error(await client.get(f"{V3}/contacts/999999"), 404, "OBJECT_NOT_FOUND")
    body = assert_error(await client.get(f"{V3}/contacts/nobody@example.com"), 404, "OBJECT_NOT_FOUND")
    assert body["message"] == "Object not found.  objectId are usually numeric."
    assert_error(await client.get(f"{V3}/contacts/Kim?idProperty=firstname"), 400, "VALIDATION_ERROR")


async def test_get_contact_with_associations(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    ticket = fake.add_ticket(contact, subject="Billing", open=True)
    note = fake.add_engagement(contact, "notes", {"hs_note_body": "hello"})
    body = (await client.get(f"{V3}/contacts/{contact}?associations=tickets,notes,deals")).json()
    assert body["associations"] == {
        "tickets": {"results": [{"id": ticket, "type": "contact_to_ticket"}]},
        "notes": {"results": [{"id": note, "type": "contact_to_note"}]},
    }


@pytest.mark.parametrize("prefix", [V3, DV])
async def test_patch_contact_updates_properties(fake: FakeHubSpot, client: httpx.AsyncClient, prefix: str) -> None:
    contact = seed(fake)
    fake.define_property(
        "contacts",
        "fearvana_tags",
        type="enumeration",
        field_type="checkbox",
        options=[("newsletter", "Newsletter"), ("vip", "VIP")],
    )
    later = NOW + timedelta(minutes=5)
    fake._clock = lambda: later
    response = await client.patch(
        f"{prefix}/contacts/{contact}",
        json={"properties": {"fearvana_sentiment": "negative", "fearvana_tags": "newsletter;vip", "firstname": ""}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == contact
    assert body["updatedAt"] == "2026-11-23T08:05:00.000Z"
    assert body["properties"]["fearvana_sentiment"] == "negative"
    assert body["properties"]["firstname"] is None
    assert fake.contact(contact)["fearvana_tags"] == "newsletter;vip"
    assert fake.contact(contact)["lastmodifieddate"] == "2026-11-23T08:05:00.000Z"


async def test_patch_contact_by_email(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    response = await client.patch(
        f"{V3}/contacts/kim@example.com?idProperty=email", json={"properties": {"lifecyclestage": "evangelist"}}
    )
    assert response.status_code == 200
    assert fake.contact(contact)["lifecyclestage"] == "evangelist"


async def test_patch_contact_rejects_what_hubspot_rejects(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    url = f"{V3}/contacts/{contact}"
    body = assert_error(await client.patch(url, json={"properties": {"nosuch": "x"}}), 400, "VALIDATION_ERROR")
    assert [p["error"] for p in problems(body)] == ["PROPERTY_DOESNT_EXIST"]
    body = assert_error(
        await client.patch(url, json={"properties": {"notes_last_updated": "2026-01-01T00:00:00Z"}}),
        400,
        "VALIDATION_ERROR",
    )
    assert [p["error"] for p in problems(body)] == ["READ_ONLY_VALUE"]
    body = assert_error(
        await client.patch(url, json={"properties": {"lifecyclestage": "churned"}}), 400, "VALIDATION_ERROR"
    )
    assert [(p["error"], p["name"]) for p in problems(body)] == [("INVALID_OPTION", "lifecyclestage")]
    assert_error(await client.patch(url, json={"lifecyclestage": "lead"}), 400, "VALIDATION_ERROR")
    assert_error(await client.patch(url, content=b"{not json"), 400, "VALIDATION_ERROR")
    assert_error(await client.patch(f"{V3}/contacts/424242", json={"properties": {}}), 404, "OBJECT_NOT_FOUND")
    assert fake.contact(contact)["lifecyclestage"] == "customer"


# ------------------------------------------------------------------------------------------------ search


@pytest.mark.parametrize("prefix", [V3, DV])
async def test_contact_search_ors_groups_and_ands_filters(
    fake: FakeHubSpot, client: httpx.AsyncClient, prefix: str
) -> None:
    contact = seed(fake)
    alias = fake.add_contact("kim.work@example.com", {"hs_additional_emails": "kim@home.example", "firstname": "K"})
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "email", "operator": "EQ", "value": "kim@home.example"}]},
            {"filters": [{"propertyName": "hs_additional_emails", "operator": "EQ", "value": "KIM@home.example"}]},
        ],
        "properties": ["email", "firstname"],
        "limit": 1,
    }
    response = await client.post(f"{prefix}/contacts/search", json=body)
    assert response.status_code == 200
    data = response.json()
    assert data["total"] == 1
    assert "paging" not in data
    assert data["results"][0]["id"] == alias
    assert set(data["results"][0]["properties"]) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
    }
    both = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@example.com"},
                    {"propertyName": "firstname", "operator": "IN", "values": ["kim", "ola"]},
                ]
            }
        ]
    }
    found = (await client.post(f"{prefix}/contacts/search", json=both)).json()
    assert found["total"] == 2
    assert [r["id"] for r in found["results"]] == [contact, str(int(contact) + 1)]


async def test_search_pages_with_offset_cursors(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    ids = [fake.add_contact(f"c{i}@example.com", {"firstname": f"C{i}"}) for i in range(5)]
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        body: dict[str, Any] = {"limit": 100, "sorts": [{"propertyName": "email", "direction": "DESCENDING"}]}
        if after:
            body["after"] = after
        data = (await client.post(f"{V3}/contacts/search", json=body)).json()
        pages += 1
        assert data["total"] == 5
        assert len(data["results"]) <= fake.page_size
        seen += [r["id"] for r in data["results"]]
        after = data.get("paging", {}).get("next", {}).get("after")
        if after is None:
            break
        assert after == str(len(seen))
    assert pages == 3
    assert seen == list(reversed(ids))
    one = (await client.post(f"{V3}/contacts/search", json={"limit": 1})).json()
    assert len(one["results"]) == 1
    assert one["paging"] == {"next": {"after": "1"}}
    assert (await client.post(f"{V3}/contacts/search", json={})).json()["total"] == 5


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 201},
        {"limit": "ten"},
        {"after": "x"},
        {"after": "9950", "limit": 100},
        {"filterGroups": [{"filters": []}] * 6},
        {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "x"}] * 11}]},
        {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "x"}] * 9}] * 3},
        {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}]},
        {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "IN", "value": "x"}]}]},
        {"filterGroups": [{"filters": [{"operator": "EQ", "value": "x"}]}]},
        {"filterGroups": [{"nofilters": []}]},
        {"sorts": [{"propertyName": "email"}, {"propertyName": "firstname"}]},
        {"sorts": [{"propertyName": "email", "direction": "DOWN"}]},
        {"properties": "email"},
    ],
)
async def test_search_validates_like_hubspot(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    assert_error(await client.post(f"{V3}/contacts/search", json=body), 400, "VALIDATION_ERROR")


async def test_search_accepts_the_specs_string_sorts_and_datetime_filters(
    fake: FakeHubSpot, client: httpx.AsyncClient
) -> None:
    early = fake.add_contact("a@example.com", {"notes_last_updated": "2026-11-01T00:00:00Z"})
    late = fake.add_contact("b@example.com", {"notes_last_updated": "1795305600000"})  # 2026-11-22T00:00Z
    fake.add_contact("c@example.com")
    data = (await client.post(f"{V3}/contacts/search", json={"sorts": ["-notes_last_updated"], "limit": 10})).json()
    assert [r["id"] for r in data["results"][:2]] == [late, early]  # nulls last
    ranged = {
        "filterGroups": [
            {"filters": [{"propertyName": "notes_last_updated", "operator": "GTE", "value": "2026-11-15T00:00:00Z"}]}
        ]
    }
    assert [r["id"] for r in (await client.post(f"{V3}/contacts/search", json=ranged)).json()["results"]] == [late]
    missing = {"filterGroups": [{"filters": [{"propertyName": "notes_last_updated", "operator": "NOT_HAS_PROPERTY"}]}]}
    assert (await client.post(f"{V3}/contacts/search", json=missing)).json()["total"] == 1


@pytest.mark.parametrize("prefix", [V3, DV])
async def test_open_tickets_count_by_association_and_stage(
    fake: FakeHubSpot, client: httpx.AsyncClient, prefix: str
) -> None:
    contact = seed(fake)
    other = str(int(contact) + 1)
    fake.add_ticket(contact, subject="Billing question", open=True, priority="HIGH", created_at=NOW - timedelta(days=1))
    fake.add_ticket(contact, subject="Sync problem", open=True, priority="LOW", pipeline="73212345")
    fake.add_ticket(contact, subject="Old closed issue", open=False)
    fake.add_ticket(other, subject="Not theirs", open=True)
    pipelines = (await client.get("/crm/v3/pipelines/tickets")).json()["results"]
    open_ids = [s["id"] for p in pipelines for s in p["stages"] if s["metadata"]["ticketState"] == "OPEN"]
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "associations.contact", "operator": "EQ", "value": contact},
                    {"propertyName": "hs_pipeline_stage", "operator": "IN", "values": open_ids},
                ]
            }
        ],
        "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
        "properties": ["subject", "hs_ticket_priority", "hs_pipeline_stage", "createdate"],
        "limit": 1,
    }
    data = (await client.post(f"{prefix}/tickets/search", json=body)).json()
    assert data["total"] == 2
    assert data["results"][0]["properties"]["subject"] == "Billing question"
    assert data["results"][0]["properties"]["createdate"] == "2026-11-22T08:00:00.000Z"
    assert data["results"][0]["properties"]["hs_ticket_priority"] == "HIGH"
    assert data["paging"] == {"next": {"after": "1"}}
    default = (await client.post(f"{prefix}/tickets/search", json={"limit": 1})).json()["results"][0]["properties"]
    assert set(default) == {
        "content",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hs_ticket_category",
        "hs_ticket_priority",
        "subject",
    }


# ------------------------------------------------------------------------------------------------ pipelines, properties


@pytest.mark.parametrize(
    "path", ["/crm/v3/pipelines/tickets", "/crm/pipelines/2026-03/tickets", "/crm/v3/pipelines/0-5"]
)
async def test_ticket_pipelines_list_stage_states(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    pipelines = response.json()["results"]
    assert [p["id"] for p in pipelines] == ["0", "73212345"]
    stages = [s for p in pipelines for s in p["stages"]]
    assert {s["id"] for s in stages if s["metadata"]["ticketState"] == "OPEN"} == set(OPEN_STAGE_IDS)
    assert {s["id"] for s in stages if s["metadata"]["ticketState"] == "CLOSED"} == set(CLOSED_STAGE_IDS)
    assert all({"id", "label", "displayOrder", "metadata"} <= set(s) for s in stages)
    assert_error(await client.get("/crm/v3/pipelines/widgets"), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "path", ["/crm/v3/properties/contacts/lifecyclestage", "/crm/properties/2026-03/0-1/lifecyclestage"]
)
async def test_lifecycle_stage_property_lists_its_options(
    fake: FakeHubSpot, client: httpx.AsyncClient, path: str
) -> None:
    body = (await client.get(path)).json()
    assert body["name"] == "lifecyclestage"
    assert body["type"] == "enumeration"
    assert [(o["value"], o["label"]) for o in body["options"]] == list(LIFECYCLE_STAGES)
    assert len(body["options"]) == 8
    fake.set_lifecycle_stages([("lead", "Lead"), ("customer", "Customer"), ("1234567", "Churned")])
    assert [o["value"] for o in (await client.get(path)).json()["options"]] == ["lead", "customer", "1234567"]
    assert_error(await client.get("/crm/v3/properties/contacts/nosuch"), 404, "OBJECT_NOT_FOUND")


# ------------------------------------------------------------------------------------------------ engagements


@pytest.mark.parametrize(
    ("kind", "type_id", "props", "contacted"),
    [
        ("notes", 202, {"hs_note_body": "Session note"}, False),
        (
            "calls",
            194,
            {"hs_call_title": "Check-in", "hs_call_direction": "OUTBOUND", "hs_call_duration": "60000"},
            True,
        ),
        ("emails", 198, {"hs_email_subject": "Hi", "hs_email_direction": "EMAIL", "hs_email_status": "SENT"}, True),
        ("meetings", 200, {"hs_meeting_title": "Coaching", "hs_meeting_outcome": "COMPLETED"}, True),
    ],
)
@pytest.mark.parametrize("prefix", [V3, DV])
async def test_create_engagement_associated_with_a_contact(
    fake: FakeHubSpot,
    client: httpx.AsyncClient,
    prefix: str,
    kind: str,
    type_id: int,
    props: dict[str, str],
    contacted: bool,
) -> None:
    contact = seed(fake)
    fake.add_engagement(contact, "notes", {"hs_timestamp": "2026-11-10T09:00:00Z"})
    payload = {
        "properties": {"hs_timestamp": "2026-11-20T10:30:00+01:00", **props},
        "associations": [
            {"to": {"id": contact}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}
        ],
    }
    response = await client.post(f"{prefix}/{kind}", json=payload)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["properties"]["hs_timestamp"] == "2026-11-20T09:30:00.000Z"
    assert body["properties"]["hs_object_id"] == body["id"]
    assert set(props) <= set(body["properties"])
    assert (kind, body["id"]) in [(k, i) for k, i, _ in fake.engagements(contact)]
    assert fake.contact(contact)["notes_last_updated"] == "2026-11-20T09:30:00.000Z"
    assert fake.contact(contact)["notes_last_contacted"] == ("2026-11-20T09:30:00.000Z" if contacted else None)


async def test_last_activity_only_moves_forward(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    assert (await client.post(f"{V3}/notes", json=note_for(contact, "1795305600000"))).status_code == 201
    assert (await client.post(f"{V3}/notes", json=note_for(contact, "2026-01-01T00:00:00Z"))).status_code == 201
    assert fake.contact(contact)["notes_last_updated"] == "2026-11-22T00:00:00.000Z"


async def test_create_engagement_without_associations_is_allowed(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    response = await client.post(f"{V3}/notes", json={"properties": {"hs_timestamp": "2026-11-20T08:00:00Z"}})
    assert response.status_code == 201


async def test_create_engagement_rejects_what_hubspot_rejects(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    body = assert_error(
        await client.post(f"{V3}/notes", json={"properties": {"hs_note_body": "no time"}}), 400, "VALIDATION_ERROR"
    )
    assert body["message"] == "Error creating NOTE.  Some required properties were not set."
    assert body["context"] == {"properties": ["hs_timestamp"]}
    bad_type = note_for(contact, "2026-11-20T08:00:00Z")
    bad_type["associations"][0]["types"][0]["associationTypeId"] = 194
    assert_error(await client.post(f"{V3}/notes", json=bad_type), 400, "VALIDATION_ERROR")
    user_defined = note_for(contact, "2026-11-20T08:00:00Z")
    user_defined["associations"][0]["types"][0]["associationCategory"] = "USER_DEFINED"
    assert_error(await client.post(f"{V3}/notes", json=user_defined), 400, "VALIDATION_ERROR")
    assert_error(
        await client.post(f"{V3}/notes", json=note_for("999999", "2026-11-20T08:00:00Z")), 400, "VALIDATION_ERROR"
    )
    assert_error(await client.post(f"{V3}/notes", json=note_for(contact, "yesterday")), 400, "VALIDATION_ERROR")
    wrong_enum = {"properties": {"hs_timestamp": "2026-11-20T08:00:00Z", "hs_call_direction": "OUT"}}
    body = assert_error(await client.post(f"{V3}/calls", json=wrong_enum), 400, "VALIDATION_ERROR")
    assert problems(body)[0]["error"] == "INVALID_OPTION"
    unknown = {"properties": {"hs_timestamp": "2026-11-20T08:00:00Z", "sentiment": "positive"}}
    assert_error(await client.post(f"{V3}/meetings", json=unknown), 400, "VALIDATION_ERROR")
    assert_error(await client.post(f"{V3}/emails", json={"associations": []}), 400, "VALIDATION_ERROR")
    assert fake.engagements(contact) == []


@pytest.mark.parametrize("prefix", [V3, DV])
async def test_engagement_history_search_sorted_newest_first(
    fake: FakeHubSpot, client: httpx.AsyncClient, prefix: str
) -> None:
    contact = seed(fake)
    other = str(int(contact) + 1)
    for day in (3, 1, 2):
        fake.add_engagement(contact, "notes", {"hs_timestamp": f"2026-11-0{day}T12:00:00Z", "hs_note_body": f"d{day}"})
    fake.add_engagement(other, "notes", {"hs_timestamp": "2026-11-05T12:00:00Z", "hs_note_body": "not theirs"})
    body = {
        "filterGroups": [{"filters": [{"propertyName": "associations.contact", "operator": "EQ", "value": contact}]}],
        "sorts": [{"propertyName": "hs_timestamp", "direction": "DESCENDING"}],
        "properties": ["hs_note_body", "hs_timestamp"],
        "limit": 10,
    }
    first = (await client.post(f"{prefix}/notes/search", json=body)).json()
    assert first["total"] == 3
    assert [r["properties"]["hs_note_body"] for r in first["results"]] == ["d3", "d2"]
    second = (
        await client.post(f"{prefix}/notes/search", json={**body, "after": first["paging"]["next"]["after"]})
    ).json()
    assert [r["properties"]["hs_note_body"] for r in second["results"]] == ["d1"]
    assert "paging" not in second
    assert (await client.post(f"{prefix}/calls/search", json=body)).json() == {"total": 0, "results": []}


async def test_get_engagement_and_ticket_by_id(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    note = fake.add_engagement(contact, "notes", {"hs_note_body": "x"})
    ticket = fake.add_ticket(contact, subject="T", open=True)
    assert (await client.get(f"{V3}/notes/{note}?properties=hs_note_body")).json()["properties"]["hs_note_body"] == "x"
    assert (await client.get(f"{DV}/tickets/{ticket}")).json()["properties"]["subject"] == "T"
    assert_error(await client.get(f"{V3}/calls/{note}"), 404, "OBJECT_NOT_FOUND")


@pytest.mark.parametrize("prefix", [V3, DV])
async def test_list_objects_pages_with_opaque_cursors(
    fake: FakeHubSpot, client: httpx.AsyncClient, prefix: str
) -> None:
    ids = [fake.add_contact(f"c{i}@example.com") for i in range(3)]
    first = (await client.get(f"{prefix}/contacts", params={"limit": 10, "properties": "email"})).json()
    assert [r["id"] for r in first["results"]] == ids[:2]
    assert first["results"][0]["properties"]["email"] == "c0@example.com"
    after = first["paging"]["next"]["after"]
    assert not after.isdigit()
    assert first["paging"]["next"]["link"].endswith(f"?after={after}")
    second = (await client.get(f"{prefix}/contacts", params={"after": after})).json()
    assert [r["id"] for r in second["results"]] == ids[2:]
    assert "paging" not in second
    assert (await client.get(f"{prefix}/contacts", params={"limit": 1})).json()["results"][0]["id"] == ids[0]
    assert_error(await client.get(f"{prefix}/contacts", params={"limit": 101}), 400, "VALIDATION_ERROR")
    assert (await client.get(f"{prefix}/notes")).json() == {"results": []}


# ------------------------------------------------------------------------------------------------ associations, batch


@pytest.mark.parametrize(
    "base", ["/crm/v4/objects/contacts/{id}/associations/notes", "/crm/objects/2026-03/0-1/{id}/associations/0-46"]
)
async def test_v4_association_listing_pages(fake: FakeHubSpot, client: httpx.AsyncClient, base: str) -> None:
    contact = seed(fake)
    notes = [fake.add_engagement(contact, "notes", {"hs_note_body": str(i)}) for i in range(3)]
    url = base.format(id=contact)
    first = (await client.get(url)).json()
    assert first["results"] == [
        {"toObjectId": int(n), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 201, "label": None}]}
        for n in notes[:2]
    ]
    after = first["paging"]["next"]["after"]
    second = (await client.get(url, params={"after": after})).json()
    assert [r["toObjectId"] for r in second["results"]] == [int(notes[2])]
    assert "paging" not in second
    assert len((await client.get(url, params={"limit": 1})).json()["results"]) == 1
    assert_error(await client.get(url, params={"limit": 501}), 400, "VALIDATION_ERROR")
    assert_error(await client.get(url, params={"after": "%%%"}), 400, "VALIDATION_ERROR")
    back = (await client.get(f"/crm/v4/objects/notes/{notes[0]}/associations/contacts")).json()
    assert back["results"][0]["associationTypes"][0]["typeId"] == 202
    assert (await client.get("/crm/v4/objects/contacts/999999/associations/notes")).json() == {"results": []}


async def test_batch_read_returns_207_when_some_ids_are_missing(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    note = fake.add_engagement(contact, "notes", {"hs_note_body": "x"})
    ok = await client.post(f"{V3}/notes/batch/read", json={"inputs": [{"id": note}], "properties": ["hs_note_body"]})
    assert ok.status_code == 200
    assert ok.json()["status"] == "COMPLETE"
    assert ok.json()["results"][0]["properties"]["hs_note_body"] == "x"
    partial = await client.post(f"{DV}/notes/batch/read", json={"inputs": [{"id": note}, {"id": "404404"}]})
    assert partial.status_code == 207
    assert partial.json()["errors"][0]["context"] == {"ids": ["404404"]}
    too_many = {"inputs": [{"id": str(i)} for i in range(101)]}
    assert_error(await client.post(f"{V3}/notes/batch/read", json=too_many), 400, "VALIDATION_ERROR")


# ------------------------------------------------------------------------------------------------ faults, headers


async def test_normal_responses_carry_rate_limit_headers(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    first = await client.get(f"{V3}/contacts/{contact}")
    second = await client.get(f"{V3}/contacts/{contact}")
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "250000"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert (
        int(second.headers["X-HubSpot-RateLimit-Remaining"]) == int(first.headers["X-HubSpot-RateLimit-Remaining"]) - 1
    )
    assert int(second.headers["X-HubSpot-RateLimit-Daily-Remaining"]) < 250_000
    search = await client.post(f"{V3}/contacts/search", json={})
    assert "X-HubSpot-RateLimit-Daily-Remaining" in search.headers
    assert "X-HubSpot-RateLimit-Remaining" not in search.headers  # search is exempt from the ten-secondly limit
    error = await client.get(f"{V3}/contacts/404404")
    assert "X-HubSpot-RateLimit-Remaining" in error.headers


async def test_unavailable_fault(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    fake.fail_next("unavailable")
    assert_error(await client.get(f"{V3}/contacts/{contact}"), 503, "SERVICE_UNAVAILABLE")
    assert (await client.get(f"{V3}/contacts/{contact}")).status_code == 200


async def test_rate_limited_fault(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    fake.fail_next("rate_limited")
    response = await client.get(f"{V3}/contacts/{contact}")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == str(faults.RETRY_AFTER_SECONDS) == "2"
    assert response.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert response.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    body = response.json()
    assert body["status"] == "error"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["correlationId"]
    assert "groupName" in body


async def test_rate_limited_fault_on_search_is_the_secondly_policy(
    fake: FakeHubSpot, client: httpx.AsyncClient
) -> None:
    fake.fail_next("rate_limited", path_contains="/search")
    response = await client.post(f"{V3}/notes/search", json={})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["policyName"] == "SECONDLY"


async def test_quota_fault(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    fake.fail_next("quota")
    response = await client.get("/crm/v3/pipelines/tickets")
    assert response.status_code == 429
    assert response.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    assert "Retry-After" not in response.headers
    assert response.json()["policyName"] == "DAILY"
    assert response.json()["errorType"] == "RATE_LIMIT"


async def test_auth_fault_is_an_expired_token(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    fake.fail_next("auth")
    body = assert_error(await client.get("/crm/v3/pipelines/tickets"), 401, "EXPIRED_AUTHENTICATION")
    assert body["message"].startswith("The OAuth token used to make this call expired")
    assert body["context"] == {"expire time": ["2026-11-23T07:59:59.000Z"]}


async def test_malformed_fault(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    fake.fail_next("malformed")
    response = await client.post(f"{V3}/contacts/search", json={})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


async def test_slow_fault_answers_normally_after_the_delay(
    fake: FakeHubSpot, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faults, "SLOW_SECONDS", 0.05)
    contact = seed(fake)
    fake.fail_next("slow")
    started = time.monotonic()
    response = await client.get(f"{V3}/contacts/{contact}")
    assert time.monotonic() - started >= 0.05
    assert response.status_code == 200
    assert response.json()["id"] == contact


async def test_faults_count_and_match_paths(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    fake.fail_next("unavailable", times=2, path_contains="/tickets/search")
    assert (await client.get(f"{V3}/contacts/{contact}")).status_code == 200
    assert (await client.post(f"{V3}/tickets/search", json={})).status_code == 503
    assert (await client.post(f"{DV}/tickets/search", json={})).status_code == 503
    assert (await client.post(f"{V3}/tickets/search", json={})).status_code == 200


async def test_unknown_routes_and_methods_are_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/crm/v3/objects/deals/1/nope"), 404, "OBJECT_NOT_FOUND")
    assert_error(await client.delete(f"{V3}/contacts/1"), 404, "OBJECT_NOT_FOUND")
    assert_error(await client.get("/contacts/v1/lists"), 404, "OBJECT_NOT_FOUND")


# ------------------------------------------------------------------------------------------------ control API


async def test_requests_are_recorded(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    await client.patch(f"{V3}/contacts/{contact}?idProperty=hs_object_id", json={"properties": {"firstname": "K"}})
    (recorded,) = fake.requests
    assert recorded.method == "PATCH"
    assert recorded.path == f"{V3}/contacts/{contact}"
    assert recorded.query == "idProperty=hs_object_id"
    assert recorded.headers["authorization"] == "Bearer test-token"
    assert json.loads(recorded.body) == {"properties": {"firstname": "K"}}


async def test_reset_forgets_everything(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    contact = seed(fake)
    fake.define_property("contacts", "custom_x")
    fake.fail_next("unavailable")
    await client.get("/crm/v3/pipelines/tickets")
    fake.reset()
    assert fake.requests == []
    with pytest.raises(KeyError):
        fake.contact(contact)
    assert (await client.get("/crm/v3/pipelines/tickets")).status_code == 200
    assert_error(await client.get("/crm/v3/properties/contacts/custom_x"), 404, "OBJECT_NOT_FOUND")


def test_world_methods_use_vendor_native_values(fake: FakeHubSpot) -> None:
    contact = fake.add_contact("kim@example.com", {"lifecyclestage": "customer", "notes_last_updated": "1795305600000"})
    assert fake.contact(contact)["notes_last_updated"] == "2026-11-22T00:00:00.000Z"
    with pytest.raises(ValueError, match="exists already"):
        fake.add_contact("KIM@example.com")
    with pytest.raises(ValueError, match="INVALID|allowed options"):
        fake.add_contact("x@example.com", {"lifecyclestage": "active"})
    with pytest.raises(ValueError, match="allowed options"):
        fake.add_ticket(contact, subject="s", open=True, priority="high")
    with pytest.raises(KeyError):
        fake.add_ticket("999", subject="s", open=True)
    with pytest.raises(ValueError, match="unknown engagement kind"):
        fake.add_engagement(contact, "tasks", {})  # type: ignore[arg-type]
    closed = fake.add_ticket(contact, subject="done", open=False)
    assert dict(fake.tickets(contact))[closed]["hs_pipeline_stage"] == "4"
    meeting = fake.add_engagement(contact, "meetings", {"hs_meeting_title": "Session"})
    note = fake.add_engagement(contact, "notes", {"hs_timestamp": "2026-11-25T00:00:00Z"})
    assert [(k, i) for k, i, _ in fake.engagements(contact)] == [("meetings", meeting), ("notes", note)]
    assert fake.engagements(contact)[0][2]["hs_timestamp"] == "2026-11-23T08:00:00.000Z"
    assert fake.contact(contact)["notes_last_updated"] == "2026-11-25T00:00:00.000Z"
    assert fake.contact(contact)["notes_last_contacted"] == "2026-11-23T08:00:00.000Z"


def test_naive_clock_values_are_treated_as_utc() -> None:
    fake = FakeHubSpot(now=lambda: datetime(2026, 11, 23, 8, 0))  # naive on purpose
    assert fake.now() == NOW
    contact = fake.add_contact("kim@example.com")
    assert fake.contact(contact)["createdate"] == "2026-11-23T08:00:00.000Z"


async def test_serves_over_real_http() -> None:
    fake = FakeHubSpot(now=lambda: NOW)
    contact = fake.add_contact("kim@example.com")
    with serve(fake.app) as base_url:
        async with httpx.AsyncClient(base_url=base_url, headers=AUTH) as http:
            response = await http.get(f"{V3}/contacts/kim@example.com", params={"idProperty": "email"})
    assert response.status_code == 200
    assert response.json()["id"] == contact
