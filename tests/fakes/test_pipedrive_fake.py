"""FakePipedrive: each route works as documented, paging works, every fault renders as specified, auth is enforced."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fakes import pipedrive as pipedrive_module
from tests.fakes.faults import FAULT_NAMES, RETRY_AFTER_SECONDS, FaultName
from tests.fakes.pipedrive import ERROR_INFO, ROUTES, FakePipedrive
from tests.fakes.server import serve

TOKEN = "test-token"
T0 = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)


class Clock:
    """A settable clock for the fake."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakePipedrive:
    return FakePipedrive(token=TOKEN, now=clock)


@pytest.fixture
async def client(fake: FakePipedrive) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pd.test", headers={"x-api-token": TOKEN}) as c:
        yield c


def error(message: str, **extra: Any) -> dict[str, Any]:
    return {
        "success": False,
        "error": message,
        **extra,
        "error_info": ERROR_INFO,
        "data": None,
        "additional_data": None,
    }


async def collect_v2(client: httpx.AsyncClient, url: str, params: dict[str, Any]) -> tuple[list[Any], int]:
    """Every item of a v2 cursor-paged list, and how many pages it took."""
    items: list[Any] = []
    pages = 0
    cursor = None
    while True:
        response = await client.get(url, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        data = body["data"]["items"] if isinstance(body["data"], dict) else body["data"]
        items.extend(data)
        pages += 1
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return items, pages


# ------------------------------------------------------------------------------------------------------------ auth


@pytest.mark.parametrize("fake_route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_every_route_enforces_auth(fake: FakePipedrive, fake_route: Any) -> None:
    fake.add_person("a@example.com")
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pd.test") as anonymous:
        path = fake_route.path.replace("{id}", "1")
        for headers in ({}, {"x-api-token": "wrong"}, {"authorization": "Bearer wrong"}):
            response = await anonymous.request(fake_route.method, path, headers=headers)
            assert response.status_code == 401
            assert response.json() == error("unauthorized access", errorCode=401)


@pytest.mark.parametrize(
    ("headers", "params"),
    [({"x-api-token": TOKEN}, {}), ({}, {"api_token": TOKEN}), ({"authorization": f"Bearer {TOKEN}"}, {})],
    ids=["x-api-token header", "api_token query", "oauth bearer"],
)
async def test_the_documented_credentials_are_accepted(
    fake: FakePipedrive, headers: dict[str, str], params: dict[str, str]
) -> None:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pd.test") as anonymous:
        response = await anonymous.get("/v1/users/me", headers=headers, params=params)
    assert response.status_code == 200
    assert response.json()["data"]["is_you"] is True


# --------------------------------------------------------------------------------------------------------- persons


async def test_search_by_email_exact_match_is_case_insensitive(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    jane = fake.add_person("Jane.Doe@Example.com", name="Jane Doe")
    fake.add_person("jane.doe@example.org", name="Jane Other")
    response = await client.get(
        "/api/v2/persons/search",
        params={"term": "jane.doe@example.com", "fields": "email", "exact_match": "true", "limit": 1},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["additional_data"] == {"next_cursor": None}
    [hit] = body["data"]["items"]
    assert hit["result_score"] == 1.0
    assert hit["item"] == {
        "id": jane,
        "type": "person",
        "name": "Jane Doe",
        "phones": [],
        "emails": ["Jane.Doe@Example.com"],
        "visible_to": 3,
        "owner": {"id": 1},
        "organization": None,
        "custom_fields": [],
        "notes": [],
    }


async def test_search_by_custom_field_finds_the_external_id(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    key = fake.add_person_field("External id")
    person = fake.add_person("x@example.com", custom_fields={key: "CUST-42"})
    fake.add_person("y@example.com", custom_fields={key: "CUST-421"})
    response = await client.get(
        "/api/v2/persons/search", params={"term": "cust-42", "fields": "custom_fields", "exact_match": "true"}
    )
    assert [i["item"]["id"] for i in response.json()["data"]["items"]] == [person]
    assert response.json()["data"]["items"][0]["item"]["custom_fields"] == ["CUST-42"]


async def test_search_without_exact_match_finds_substrings_best_first(
    client: httpx.AsyncClient, fake: FakePipedrive
) -> None:
    fake.add_person("ann@example.com", name="Ann Smith")
    exact = fake.add_person("smith@example.com", name="Smith")
    response = await client.get("/api/v2/persons/search", params={"term": "smith", "fields": "name"})
    items = response.json()["data"]["items"]
    assert [i["item"]["id"] for i in items] == [exact, 1]
    assert items[0]["result_score"] > items[1]["result_score"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"term": "a"}, 400),  # < 2 characters
        ({"term": "a", "exact_match": "true"}, 200),  # 1 is enough with exact_match
        ({}, 400),  # term is required
        ({"term": "ab", "fields": "email,address"}, 400),  # address is not a person search field
        ({"term": "ab", "limit": 501}, 400),
        ({"term": "ab", "limit": 0}, 400),
        ({"term": "ab", "cursor": "not-a-cursor"}, 400),
        ({"term": "ab", "exact_match": "maybe"}, 400),
    ],
)
async def test_search_validates_like_pipedrive(client: httpx.AsyncClient, params: dict[str, Any], status: int) -> None:
    response = await client.get("/api/v2/persons/search", params=params)
    assert response.status_code == status
    if status == 400:
        assert response.json()["success"] is False
        assert set(response.json()) == {"success", "error", "error_info", "data", "additional_data"}


async def test_search_pages_with_the_fake_page_size(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    ids = [fake.add_person(f"user{n}@example.com") for n in range(5)]
    items, pages = await collect_v2(client, "/api/v2/persons/search", {"term": "example.com", "fields": "email"})
    assert [i["item"]["id"] for i in items] == ids
    assert pages == 3  # page_size 2
    items, pages = await collect_v2(client, "/api/v2/persons/search", {"term": "example.com", "limit": 1})
    assert len(items) == 5 and pages == 5  # the request's smaller limit wins


async def test_get_person_renders_the_v2_person(client: httpx.AsyncClient, fake: FakePipedrive, clock: Clock) -> None:
    sentiment = fake.add_person_field("Sentiment")
    vip = fake.add_label("VIP")
    person = fake.add_person("jane@example.com", name="Jane Q Doe", custom_fields={"ext": "E1"}, label_ids=[vip])
    response = await client.get(f"/api/v2/persons/{person}")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": {
            "id": person,
            "name": "Jane Q Doe",
            "first_name": "Jane",
            "last_name": "Q Doe",
            "owner_id": 1,
            "org_id": None,
            "add_time": "2026-05-01T09:30:00Z",
            "update_time": "2026-05-01T09:30:00Z",
            "emails": [{"value": "jane@example.com", "primary": True, "label": "work"}],
            "phones": [],
            "is_deleted": False,
            "visible_to": 3,
            "label_ids": [vip],
            "picture_id": None,
            "custom_fields": {sentiment: None, "ext": "E1"},
        },
    }
    assert fake.person(person) == response.json()["data"]
    labelled = await client.get(f"/api/v2/persons/{person}", params={"include_labels": "true", "custom_fields": "ext"})
    assert labelled.json()["data"]["labels"] == [{"id": vip, "label": "VIP"}]
    assert labelled.json()["data"]["custom_fields"] == {"ext": "E1"}


async def test_get_person_include_fields_summarise_activities_and_notes(
    client: httpx.AsyncClient, fake: FakePipedrive
) -> None:
    person = fake.add_person("a@example.com")
    fake.add_activity(person, {"type": "call", "due_date": "2026-04-01", "done": True})
    last = fake.add_activity(person, {"type": "meeting", "due_date": "2026-04-20", "due_time": "09:00", "done": True})
    fake.add_activity(person, {"type": "task", "due_date": "2026-06-01"})
    upcoming = fake.add_activity(person, {"type": "task", "due_date": "2026-05-10"})
    fake.add_note(person, "n", T0)
    include = (
        "last_activity_id,next_activity_id,activities_count,done_activities_count,notes_count,last_incoming_mail_time"
    )
    data = (await client.get(f"/api/v2/persons/{person}", params={"include_fields": include})).json()["data"]
    assert data["last_activity_id"] == last
    assert data["next_activity_id"] == upcoming
    assert (data["activities_count"], data["done_activities_count"], data["notes_count"]) == (4, 2, 1)
    assert data["last_incoming_mail_time"] is None


async def test_option_labels_replace_option_ids_when_asked(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    tier = fake.add_person_field("Tier", field_type="enum", options=["Gold", "Silver"])
    fields, _ = await collect_v2(client, "/api/v2/personFields", {})
    gold = next(f for f in fields if f["field_code"] == tier)["options"][0]["id"]
    person = fake.add_person("a@example.com", custom_fields={tier: gold})
    plain = await client.get(f"/api/v2/persons/{person}")
    assert plain.json()["data"]["custom_fields"][tier] == gold
    labelled = await client.get(f"/api/v2/persons/{person}", params={"include_option_labels": "true"})
    assert labelled.json()["data"]["custom_fields"][tier] == {"id": gold, "label": "Gold"}


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/api/v2/persons/999", {}, 404, "Person not found"),
        ("/api/v2/persons/abc", {}, 400, None),
        ("/api/v2/persons/1", {"include_fields": "favourite_colour"}, 400, None),
        ("/api/v2/persons/1", {"custom_fields": ",".join(f"k{n}" for n in range(16))}, 400, None),
    ],
)
async def test_get_person_errors(
    client: httpx.AsyncClient,
    fake: FakePipedrive,
    path: str,
    params: dict[str, str],
    status: int,
    message: str | None,
) -> None:
    fake.add_person("a@example.com")
    response = await client.get(path, params=params)
    assert response.status_code == status
    if message:
        assert response.json() == error(message)


async def test_patch_person_sets_and_clears_custom_fields(
    client: httpx.AsyncClient, fake: FakePipedrive, clock: Clock
) -> None:
    sentiment = fake.add_person_field("Sentiment")
    person = fake.add_person("a@example.com", name="Al", custom_fields={sentiment: "neutral"})
    clock.now = T0 + timedelta(hours=1)
    response = await client.patch(f"/api/v2/persons/{person}", json={"custom_fields": {sentiment: "positive"}})
    assert response.status_code == 200
    assert response.json()["data"]["custom_fields"][sentiment] == "positive"
    assert response.json()["data"]["update_time"] == "2026-05-01T10:30:00Z"
    assert response.json()["data"]["add_time"] == "2026-05-01T09:30:00Z"
    cleared = await client.patch(f"/api/v2/persons/{person}", json={"custom_fields": {sentiment: None}})
    assert cleared.json()["data"]["custom_fields"][sentiment] is None
    renamed = await client.patch(
        f"/api/v2/persons/{person}", json={"name": "Al Bundy", "label_ids": [3], "emails": [{"value": "b@x.com"}]}
    )
    data = renamed.json()["data"]
    assert (data["first_name"], data["last_name"], data["label_ids"]) == ("Al", "Bundy", [3])
    assert data["emails"] == [{"value": "b@x.com", "primary": False, "label": "work"}]
    assert fake.person(person)["name"] == "Al Bundy"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"custom_fields": {"unknown-key": "x"}}, 400),
        ({"custom_fields": {"SENTIMENT": []}}, 400),  # "sending an empty array [] is not supported"
        ({"custom_fields": "positive"}, 400),
        ({"job_title": "CEO"}, 403),  # contact-sync field
        ({"postal_address": {"value": "x"}}, 403),
        ({"favourite_colour": "red"}, 400),
        ({}, 400),
        ({"name": ""}, 400),
        ({"visible_to": 2}, 400),
        ({"emails": "a@b.c"}, 400),
    ],
)
async def test_patch_person_validates_like_pipedrive(
    client: httpx.AsyncClient, fake: FakePipedrive, body: dict[str, Any], status: int
) -> None:
    key = fake.add_person_field("Sentiment")
    person = fake.add_person("a@example.com", custom_fields={key: "neutral"})
    body = json.loads(json.dumps(body).replace("SENTIMENT", key))
    response = await client.patch(f"/api/v2/persons/{person}", json=body)
    assert response.status_code == status
    assert response.json()["success"] is False
    assert fake.person(person)["custom_fields"] == {key: "neutral"}


async def test_patch_unknown_person_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch("/api/v2/persons/7", json={"name": "x"})
    assert response.status_code == 404
    assert response.json() == error("Person not found")


async def test_patch_person_rejects_a_malformed_body(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    person = fake.add_person("a@example.com")
    bad = await client.patch(f"/api/v2/persons/{person}", content=b"{not json")
    assert bad.status_code == 400
    array = await client.patch(f"/api/v2/persons/{person}", json=[1, 2])
    assert array.status_code == 400


async def test_person_fields_list_built_ins_customs_and_labels(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    key = fake.add_person_field("Sentiment")
    assert len(key) == 40
    explicit = fake.add_person_field("External id", key="ext_id_key")
    vip = fake.add_label("VIP")
    fields, pages = await collect_v2(client, "/api/v2/personFields", {})
    assert pages > 1
    by_code = {f["field_code"]: f for f in fields}
    assert by_code[key]["field_name"] == "Sentiment"
    assert by_code[key]["is_custom_field"] is True and by_code[key]["options"] is None
    assert explicit in by_code
    assert by_code["name"]["is_custom_field"] is False
    assert [(o["id"], o["label"]) for o in by_code["label_ids"]["options"]] == [(vip, "VIP")]


# ------------------------------------------------------------------------------------------------------ activities


async def test_create_activity_with_a_primary_participant(
    client: httpx.AsyncClient, fake: FakePipedrive, clock: Clock
) -> None:
    person = fake.add_person("a@example.com")
    body = {
        "subject": "Coaching session",
        "type": "meeting",
        "due_date": "2026-05-02",
        "due_time": "14:30",
        "duration": "01:00",
        "done": True,
        "participants": [{"person_id": person, "primary": True}],
        "note": "<p>Went well</p>",
    }
    response = await client.post("/api/v2/activities", json=body)
    assert response.status_code == 200  # the description says 200, not 201
    data = response.json()["data"]
    assert data["person_id"] == person
    assert (data["due_time"], data["duration"]) == ("14:30:00", "01:00:00")
    assert data["marked_as_done_time"] == "2026-05-01T09:30:00Z"
    assert data["add_time"] == data["update_time"] == "2026-05-01T09:30:00Z"
    assert data["participants"] == [{"person_id": person, "primary": True}]
    assert fake.activities(person) == [data]
    assert (await client.get(f"/api/v2/activities/{data['id']}")).json() == {"success": True, "data": data}


async def test_create_activity_defaults_type_and_subject(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    person = fake.add_person("a@example.com")
    response = await client.post("/api/v2/activities", json={"participants": [{"person_id": person, "primary": True}]})
    data = response.json()["data"]
    assert (data["type"], data["subject"], data["done"], data["marked_as_done_time"]) == ("call", "Call", False, None)
    fake.add_activity_type("coaching", "Coaching")
    custom = await client.post("/api/v2/activities", json={"type": "coaching"})
    assert custom.status_code == 200
    assert custom.json()["data"]["subject"] == "Coaching"
    assert custom.json()["data"]["person_id"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"person_id": 1},  # "person_id is not accepted directly"
        {"type": "carrier-pigeon"},
        {"due_date": "02/05/2026"},
        {"due_date": "2026-02-30"},
        {"due_time": "25:00"},
        {"duration": "1h"},
        {"done": "yes"},
        {"participants": [{"person_id": 999, "primary": True}]},
        {"participants": [{"person_id": 1, "primary": True}, {"person_id": 1, "primary": True}]},
        {"participants": {"person_id": 1}},
        {"subject": 5},
        {"colour": "red"},
    ],
)
async def test_create_activity_validates_like_pipedrive(
    client: httpx.AsyncClient, fake: FakePipedrive, body: dict[str, Any]
) -> None:
    fake.add_person("a@example.com")
    response = await client.post("/api/v2/activities", json=body)
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert fake.activities(1) == []


async def test_list_activities_filters_sorts_and_pages(
    client: httpx.AsyncClient, fake: FakePipedrive, clock: Clock
) -> None:
    person = fake.add_person("a@example.com")
    other = fake.add_person("b@example.com")
    dates = ["2026-04-03", "2026-04-01", "2026-04-05", "2026-04-02", "2026-04-04"]
    ids = []
    for n, due in enumerate(dates):
        clock.now = T0 + timedelta(minutes=n)
        ids.append(fake.add_activity(person, {"type": "call", "due_date": due, "done": n % 2 == 0}))
    fake.add_activity(other, {"type": "call", "due_date": "2026-04-09"})
    items, pages = await collect_v2(
        client, "/api/v2/activities", {"person_id": person, "sort_by": "due_date", "sort_direction": "desc"}
    )
    assert [a["due_date"] for a in items] == sorted(dates, reverse=True)
    assert pages == 3
    default, _ = await collect_v2(client, "/api/v2/activities", {"person_id": person})
    assert [a["id"] for a in default] == ids  # sort_by=id asc by default
    done, _ = await collect_v2(client, "/api/v2/activities", {"person_id": person, "done": "false"})
    assert [a["id"] for a in done] == [ids[1], ids[3]]
    since, _ = await collect_v2(client, "/api/v2/activities", {"updated_since": "2026-05-01T09:33:00Z"})
    assert [a["id"] for a in since] == [ids[3], ids[4], ids[4] + 1]
    both, _ = await collect_v2(client, "/api/v2/activities", {"ids": f"{ids[0]},{ids[2]}"})
    assert [a["id"] for a in both] == [ids[0], ids[2]]


@pytest.mark.parametrize(
    "params",
    [{"sort_by": "subject"}, {"sort_direction": "down"}, {"limit": 1000}, {"done": "perhaps"}, {"person_id": "x"}],
)
async def test_list_activities_validates_parameters(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    response = await client.get("/api/v2/activities", params=params)
    assert response.status_code == 400


async def test_get_activity_unknown_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v2/activities/42")
    assert response.status_code == 404
    assert response.json() == error("Activity not found")


def test_add_activity_world_method_checks_its_input(fake: FakePipedrive) -> None:
    person = fake.add_person("a@example.com")
    with pytest.raises(KeyError):
        fake.add_activity(999, {"type": "call"})
    with pytest.raises(ValueError, match="type"):
        fake.add_activity(person, {"type": "nope"})
    activity_id = fake.add_activity(
        person, {"type": "call", "done": True, "add_time": datetime(2026, 1, 1, 8, 0), "marked_as_done_time": T0}
    )
    [activity] = fake.activities(person)
    assert activity["id"] == activity_id
    assert activity["add_time"] == "2026-01-01T08:00:00Z"  # naive = UTC
    assert activity["marked_as_done_time"] == "2026-05-01T09:30:00Z"


# ----------------------------------------------------------------------------------------------------------- notes


async def test_create_note_and_list_it_newest_first(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    person = fake.add_person("a@example.com", name="Ann")
    old = fake.add_note(person, "<p>old</p>", datetime(2026, 1, 1, tzinfo=UTC))
    response = await client.post(
        "/v1/notes",
        json={
            "content": "<p>new</p>",
            "person_id": person,
            "add_time": "2026-04-30 18:00:00",
            "pinned_to_person_flag": 1,
        },
    )
    assert response.status_code == 200
    note = response.json()["data"]
    assert (note["content"], note["person_id"], note["add_time"]) == ("<p>new</p>", person, "2026-04-30 18:00:00")
    assert note["update_time"] == "2026-05-01 09:30:00"
    assert note["pinned_to_person_flag"] is True
    assert note["person"] == {"name": "Ann"}
    listed = await client.get("/v1/notes", params={"person_id": person, "sort": "add_time DESC"})
    assert [n["id"] for n in listed.json()["data"]] == [note["id"], old]
    assert listed.json()["additional_data"] == {
        "pagination": {"start": 0, "limit": 2, "more_items_in_collection": False}
    }
    assert fake.notes(person) == [*reversed(listed.json()["data"])]


async def test_create_note_accepts_a_form_body_and_the_api_v1_prefix(
    client: httpx.AsyncClient, fake: FakePipedrive
) -> None:
    person = fake.add_person("a@example.com")
    response = await client.post("/api/v1/notes", data={"content": "hello", "person_id": str(person)})
    assert response.status_code == 200
    assert response.json()["data"]["add_time"] == "2026-05-01 09:30:00"


@pytest.mark.parametrize(
    "body",
    [
        {"person_id": 1},
        {"content": "", "person_id": 1},
        {"content": "x"},
        {"content": "x", "person_id": 999},
        {"content": "x", "deal_id": 5},
        {"content": "x", "person_id": 1, "add_time": "2026-04-30T18:00:00Z"},
        {"content": "x", "person_id": 1, "add_time": "2026-02-30 10:00:00"},
        {"content": "x", "person_id": 1, "pinned_to_person_flag": 2},
        {"content": "x", "person_id": "one"},
    ],
)
async def test_create_note_validates_like_pipedrive(
    client: httpx.AsyncClient, fake: FakePipedrive, body: dict[str, Any]
) -> None:
    fake.add_person("a@example.com")
    response = await client.post("/v1/notes", json=body)
    assert response.status_code == 400
    assert set(response.json()) == {"success", "error", "error_info", "data", "additional_data"}
    assert fake.notes(1) == []


async def test_list_notes_pages_with_start_and_limit(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    person = fake.add_person("a@example.com")
    ids = [fake.add_note(person, f"n{n}", T0 + timedelta(days=n)) for n in range(5)]
    seen: list[int] = []
    start = 0
    pages = []
    while True:
        body = (await client.get("/v1/notes", params={"person_id": person, "start": start, "limit": 100})).json()
        seen.extend(n["id"] for n in body["data"])
        pagination = body["additional_data"]["pagination"]
        pages.append(pagination)
        if not pagination["more_items_in_collection"]:
            assert "next_start" not in pagination
            break
        start = pagination["next_start"]
    assert seen == ids
    assert pages[0] == {"start": 0, "limit": 2, "more_items_in_collection": True, "next_start": 2}
    assert len(pages) == 3


async def test_list_notes_filters_by_dates_and_returns_null_when_empty(
    client: httpx.AsyncClient, fake: FakePipedrive
) -> None:
    person = fake.add_person("a@example.com")
    fake.add_note(person, "a", datetime(2026, 4, 1, 23, 59, tzinfo=UTC))
    inside = fake.add_note(person, "b", datetime(2026, 4, 2, 0, 0, tzinfo=UTC))
    window = await client.get("/v1/notes", params={"start_date": "2026-04-02", "end_date": "2026-04-02"})
    assert [n["id"] for n in window.json()["data"]] == [inside]
    empty = await client.get("/v1/notes", params={"person_id": 999})
    assert empty.json() == {
        "success": True,
        "data": None,
        "additional_data": {"pagination": {"start": 0, "limit": 2, "more_items_in_collection": False}},
    }
    assert (await client.get("/v1/notes", params={"sort": "colour ASC"})).status_code == 400


# ---------------------------------------------------------------------------------------------- users, routing


async def test_users_me_for_pings(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/users/me")
    assert response.status_code == 200
    assert response.json()["data"]["company_domain"] == "fakecompany"


async def test_unknown_path_is_404_and_wrong_method_405(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/personFields")
    assert missing.status_code == 404
    assert missing.json() == error("Resource unavailable")
    wrong = await client.delete("/api/v2/activities")
    assert wrong.status_code == 405
    assert wrong.json() == error("Method not allowed")


# --------------------------------------------------------------------------------------------- rate-limit headers


async def test_normal_responses_carry_the_rate_limit_headers(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    person = fake.add_person("a@example.com")
    read = await client.get("/v1/users/me")
    assert {k: read.headers[k] for k in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")} == {
        "x-ratelimit-limit": "40",
        "x-ratelimit-remaining": "39",
        "x-ratelimit-reset": "2",
    }
    assert read.headers["x-daily-requests-left"] == "10000"
    write = await client.post("/v1/notes", json={"content": "x", "person_id": person})
    assert write.headers["x-daily-requests-left"] == "9999"
    rejected = await client.post("/v1/notes", json={"person_id": person})
    assert rejected.headers["x-daily-requests-left"] == "9999"
    assert fake.daily_requests_left == 9999


# ---------------------------------------------------------------------------------------------------------- faults


async def test_unavailable_is_503_with_the_documented_body(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    fake.fail_next("unavailable")
    response = await client.get("/v1/users/me")
    assert response.status_code == 503
    assert response.json() == {
        "success": False,
        "error": "Requested service is not available",
        "error_info": "Please check developers.pipedrive.com",
        "data": None,
        "additional_data": None,
    }


async def test_rate_limited_is_a_burst_429_with_retry_after(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    fake.fail_next("rate_limited")
    response = await client.get("/v1/users/me")
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-reset"] == "2"
    assert response.headers["x-ratelimit-limit"] == "40"
    assert response.json() == error("Request over limit", errorCode=429)


async def test_quota_is_a_daily_budget_429_without_retry_after(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    fake.fail_next("quota")
    response = await client.get("/v1/users/me")
    assert response.status_code == 429
    assert "retry-after" not in response.headers
    assert response.headers["x-daily-requests-left"] == "0"
    assert response.headers["x-ratelimit-remaining"] != "0"
    assert response.json() == error("Daily request budget exceeded", errorCode=429)


async def test_auth_fault_is_the_401_even_with_a_good_token(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    fake.fail_next("auth")
    response = await client.get("/v1/users/me")
    assert response.status_code == 401
    assert response.json() == error("unauthorized access", errorCode=401)


async def test_malformed_is_200_json_that_does_not_parse(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    fake.fail_next("malformed")
    response = await client.get("/v1/users/me")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


async def test_slow_waits_then_answers_normally(
    client: httpx.AsyncClient, fake: FakePipedrive, monkeypatch: pytest.MonkeyPatch
) -> None:
    waited: list[bool] = []

    async def fake_slow() -> None:
        waited.append(True)

    monkeypatch.setattr(pipedrive_module, "slow", fake_slow)
    fake.fail_next("slow")
    response = await client.get("/v1/users/me")
    assert waited == [True]
    assert response.status_code == 200
    assert response.json()["success"] is True


async def test_faults_honour_times_and_path_contains(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    fake.add_person("a@example.com")
    fake.fail_next("unavailable", times=2, path_contains="/notes")
    assert (await client.get("/api/v2/persons/1")).status_code == 200
    assert (await client.get("/v1/notes")).status_code == 503
    assert (await client.get("/v1/notes")).status_code == 503
    assert (await client.get("/v1/notes")).status_code == 200


@pytest.mark.parametrize("fault", FAULT_NAMES)
async def test_every_fault_is_recorded_and_then_cleared(
    client: httpx.AsyncClient, fake: FakePipedrive, fault: FaultName, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_wait() -> None:
        return None

    monkeypatch.setattr(pipedrive_module, "slow", no_wait)
    fake.fail_next(fault)
    first = await client.get("/v1/users/me")
    second = await client.get("/v1/users/me")
    assert second.status_code == 200
    assert len(fake.requests) == 2
    assert first.status_code == {"unavailable": 503, "rate_limited": 429, "quota": 429, "auth": 401}.get(fault, 200)


# ----------------------------------------------------------------------------------------------- control surface


async def test_requests_are_recorded(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    person = fake.add_person("a@example.com")
    await client.patch(f"/api/v2/persons/{person}", json={"name": "B"}, params={"x": "1"})
    [recorded] = fake.requests
    assert (recorded.method, recorded.path, recorded.query) == ("PATCH", f"/api/v2/persons/{person}", "x=1")
    assert recorded.headers["x-api-token"] == TOKEN
    assert json.loads(recorded.body) == {"name": "B"}


async def test_reset_forgets_everything(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    person = fake.add_person("a@example.com")
    fake.add_note(person, "x", T0)
    await client.post("/v1/notes", json={"content": "y", "person_id": person})
    fake.fail_next("unavailable")
    fake.reset()
    assert fake.requests == []
    assert fake.daily_requests_left == 10000
    assert (await client.get("/api/v2/persons/1")).status_code == 404
    assert fake.add_person("b@example.com") == 1  # ids start again


def test_page_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="page_size"):
        FakePipedrive(page_size=0)


def test_default_clock_is_aware_utc() -> None:
    fake = FakePipedrive()
    person = fake.add_person("a@example.com")
    added = datetime.strptime(str(fake.person(person)["add_time"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(added - datetime.now(UTC)) < timedelta(minutes=1)


def test_serves_over_real_http(fake: FakePipedrive) -> None:
    fake.add_person("a@example.com")
    with serve(fake.app) as base_url:
        response = httpx.get(f"{base_url}/api/v2/persons/1", headers={"x-api-token": TOKEN})
    assert response.status_code == 200
    assert response.json()["data"]["emails"][0]["value"] == "a@example.com"
