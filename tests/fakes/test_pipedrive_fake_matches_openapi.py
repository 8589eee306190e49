"""FakePipedrive against the vendor's own published text (tests/fakes/openapi/pipedrive-excerpt.yaml).

Not our reading of the docs: the excerpt is trimmed from Pipedrive's OpenAPI descriptions and docs pages (sources in its
header). These tests check that every route the fake serves is a published path and method, that every query
parameter it honours is a published one, that its responses have the published properties with the published types
and value formats, and that its error bodies, status codes and rate-limit headers are the documented ones.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs; it comes with schemathesis (dev)

from tests.fakes.pipedrive import ROUTES, FakePipedrive, FakeRoute

EXCERPT = Path(__file__).parent / "openapi" / "pipedrive-excerpt.yaml"
SPEC: dict[str, Any] = yaml.safe_load(EXCERPT.read_text(encoding="utf-8"))
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

# Properties of a published item schema the fake does not render, and why.
UNMODELED: dict[str, set[str]] = {
    # only with include_fields=attendees (checked separately); video-call links and outcomes are not modelled
    "ActivityItem": {
        "attendees",
        "conference_meeting_client",
        "conference_meeting_url",
        "conference_meeting_id",
        "outcome",
    },
    # "included if contact sync is enabled for the company" — the fake's company has no contact sync
    "PersonItem": {"postal_address", "notes", "im", "birthday", "job_title"},
}
# Properties the fake renders as null although the description does not mark them nullable: unset links and optional
# texts (Pipedrive sends null for them; the description's nullability is incomplete). Module docstring of the fake.
NULL_BY_DECISION = {
    "org_id",
    "due_date",
    "public_description",
    "priority",
    "note",
    "deal",
    "lead_id",
    "deal_id",
    "organization",
    "project_id",
    "project",
    "task_id",
    "task",
    "icon_url",
}
# In a published example although not among the schema's properties.
EXAMPLE_ONLY = {"pinned_to_lead_flag"}
# Described, but the docs say when it is absent: "If more items can be fetched, the next_start field … will also be
# returned" (docs.pagination in the excerpt).
OPTIONAL_BY_DOCS = {"next_start"}
TIME_KEYS = ("add_time", "update_time", "due_date", "due_time", "duration", "marked_as_done_time")


def spec_for(route_path: str) -> tuple[dict[str, Any], str]:
    """The OpenAPI document (v1 or v2) a fake path belongs to, and the path as that document spells it."""
    if route_path.startswith("/api/v2/"):
        return SPEC["openapi_v2"], route_path.removeprefix("/api/v2")
    for prefix in ("/api/v1/", "/v1/"):
        if route_path.startswith(prefix):
            return SPEC["openapi_v1"], route_path.removeprefix(prefix[:-1])
    raise AssertionError(f"{route_path} is neither a v1 nor a v2 path")


def operation(route: FakeRoute) -> dict[str, Any]:
    document, path = spec_for(route.path)
    found: dict[str, Any] = document["paths"][path][route.method.lower()]
    return found


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """``schema`` with ``$ref`` followed and ``allOf`` merged into one object schema; and the ref name if any."""
    name = None
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["x-schemas"][name]
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}}
        for part in schema["allOf"]:
            part_schema, _ = resolve(part, document)
            merged["properties"].update(part_schema.get("properties", {}))
            if part_schema.get("type") not in (None, "object"):
                return part_schema, name
        return merged, name
    return schema, name


TYPE_CHECKS = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def check(value: Any, schema: dict[str, Any], document: dict[str, Any], path: str, problems: list[str]) -> None:
    """Append to ``problems`` every way ``value`` departs from ``schema`` (types, missing and unknown properties)."""
    schema, name = resolve(schema, document)
    key = path.rsplit(".", 1)[-1].removesuffix("[]")
    if value is None:
        if not schema.get("nullable") and key not in NULL_BY_DECISION:
            problems.append(f"{path}: null, not nullable in the description")
        return
    if "oneOf" in schema:
        if not any(TYPE_CHECKS[branch["type"]](value) for branch in schema["oneOf"]):
            problems.append(f"{path}: {value!r} matches no oneOf branch")
        return
    expected = schema.get("type") or ("object" if "properties" in schema else None)
    if expected is not None and not TYPE_CHECKS[expected](value):
        problems.append(f"{path}: {value!r} is not {expected}")
        return
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if expected == "array" and "items" in schema:
        for item in value:
            check(item, schema["items"], document, f"{path}[]", problems)
    if expected == "object" and "properties" in schema:
        properties = schema["properties"]
        unknown = sorted(value.keys() - properties.keys() - EXAMPLE_ONLY)
        missing = sorted(properties.keys() - value.keys() - UNMODELED.get(name or "", set()) - OPTIONAL_BY_DOCS)
        problems.extend(f"{path}.{k}: not in the description" for k in unknown)
        problems.extend(f"{path}.{k}: described but missing" for k in missing)
        for k in value.keys() & properties.keys():
            check(value[k], properties[k], document, f"{path}.{k}", problems)


def response_schema(route: FakeRoute, status: str = "200") -> dict[str, Any]:
    schema: dict[str, Any] = operation(route)["responses"][status]["content"]["application/json"]["schema"]
    return schema


def route(method: str, path: str) -> FakeRoute:
    return next(r for r in ROUTES if r.method == method and r.path == path)


def shape(text: str) -> str:
    """A value's format with the digits blanked out: ``2021-01-01T00:00:00Z`` → ``9999-99-99T99:99:99Z``."""
    return re.sub(r"\d", "9", text)


def assert_formats_match_example(item: dict[str, Any], example: dict[str, Any]) -> None:
    for key in TIME_KEYS:
        if isinstance(item.get(key), str) and isinstance(example.get(key), str):
            assert shape(item[key]) == shape(example[key]), (key, item[key], example[key])


@pytest.fixture
def fake() -> FakePipedrive:
    fake = FakePipedrive(now=lambda: NOW, page_size=10)
    sentiment = fake.add_person_field("Sentiment")
    tier = fake.add_person_field("Tier", field_type="enum", options=["Gold", "Silver"])
    person = fake.add_person("jane@example.com", name="Jane Doe", custom_fields={sentiment: "positive", tier: 1})
    fake.add_activity(
        person,
        {
            "subject": "Intro call",
            "type": "call",
            "due_date": "2026-03-01",
            "due_time": "10:00",
            "duration": "00:30",
            "done": True,
        },
    )
    fake.add_note(person, "<p>Met at the gym</p>", datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    return fake


@pytest.fixture
async def client(fake: FakePipedrive) -> AsyncIterator[httpx.AsyncClient]:
    header = SPEC["openapi_v2"]["components"]["securitySchemes"]["api_key"]["name"]
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://pipedrive.test", headers={header: "test-token"}
    ) as c:
        yield c


# ------------------------------------------------------------------------------------------------ routes and params


@pytest.mark.parametrize("fake_route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_is_a_published_path_and_method(fake_route: FakeRoute) -> None:
    document, path = spec_for(fake_route.path)
    assert path in document["paths"], f"{path} is not in the published description"
    assert fake_route.method.lower() in document["paths"][path], f"{fake_route.method} {path} is not published"


@pytest.mark.parametrize("fake_route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_honoured_query_parameter_is_published(fake_route: FakeRoute) -> None:
    published = {p["name"] for p in operation(fake_route).get("parameters", []) if p["in"] == "query"}
    assert fake_route.query_params <= published, sorted(fake_route.query_params - published)


def test_the_security_scheme_header_is_the_one_the_fake_checks() -> None:
    for document in (SPEC["openapi_v1"], SPEC["openapi_v2"]):
        assert document["components"]["securitySchemes"]["api_key"] == {
            "type": "apiKey",
            "name": "x-api-token",
            "in": "header",
        }


def test_write_operations_answer_the_published_status() -> None:
    assert set(operation(route("POST", "/api/v2/activities"))["responses"]) == {"200"}
    assert set(operation(route("PATCH", "/api/v2/persons/{id}"))["responses"]) == {"200"}
    assert set(operation(route("POST", "/v1/notes"))["responses"]) == {"200"}


# ----------------------------------------------------------------------------------------------- response shapes


async def test_person_search_matches_the_description(client: httpx.AsyncClient) -> None:
    fake_route = route("GET", "/api/v2/persons/search")
    response = await client.get(
        "/api/v2/persons/search", params={"term": "jane@example.com", "fields": "email", "exact_match": "true"}
    )
    assert response.status_code == 200
    problems: list[str] = []
    check(response.json(), response_schema(fake_route), SPEC["openapi_v2"], "$", problems)
    assert problems == []
    example_item = operation(fake_route)["responses"]["200"]["content"]["application/json"]["example"]["data"]
    assert set(response.json()["data"]["items"][0]["item"]) == set(example_item["items"][0]["item"])


async def test_get_person_matches_the_description(client: httpx.AsyncClient) -> None:
    fake_route = route("GET", "/api/v2/persons/{id}")
    response = await client.get("/api/v2/persons/1")
    assert response.status_code == 200
    problems: list[str] = []
    check(response.json(), response_schema(fake_route), SPEC["openapi_v2"], "$", problems)
    assert problems == []
    example = operation(fake_route)["responses"]["200"]["content"]["application/json"]["example"]["data"]
    assert_formats_match_example(response.json()["data"], example)
    assert set(response.json()["data"]["emails"][0]) == set(example["emails"][0])


async def test_get_person_include_fields_are_published_names(client: httpx.AsyncClient) -> None:
    fake_route = route("GET", "/api/v2/persons/{id}")
    parameter = next(p for p in operation(fake_route)["parameters"] if p["name"] == "include_fields")
    published = parameter["schema"]["items"]["enum"]
    response = await client.get("/api/v2/persons/1", params={"include_fields": ",".join(published)})
    assert response.status_code == 200
    assert set(published) <= set(response.json()["data"])


async def test_patch_person_matches_the_description(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    custom_fields = fake.person(1)["custom_fields"]
    assert isinstance(custom_fields, dict)
    key = next(iter(custom_fields))
    response = await client.patch("/api/v2/persons/1", json={"custom_fields": {key: "negative"}})
    assert response.status_code == 200
    problems: list[str] = []
    check(response.json(), response_schema(route("PATCH", "/api/v2/persons/{id}")), SPEC["openapi_v2"], "$", problems)
    assert problems == []


async def test_patch_person_body_fields_are_published(client: httpx.AsyncClient) -> None:
    body_schema = operation(route("PATCH", "/api/v2/persons/{id}"))["requestBody"]["content"]["application/json"]
    published = set(body_schema["schema"]["properties"])
    for field in ("name", "emails", "phones", "label_ids", "visible_to", "owner_id", "custom_fields"):
        assert field in published
    response = await client.patch("/api/v2/persons/1", json={"not_a_field": 1})
    assert response.status_code == 400


async def test_activities_list_matches_the_description(client: httpx.AsyncClient) -> None:
    fake_route = route("GET", "/api/v2/activities")
    response = await client.get(
        "/api/v2/activities", params={"person_id": 1, "sort_by": "due_date", "sort_direction": "desc"}
    )
    assert response.status_code == 200
    problems: list[str] = []
    check(response.json(), response_schema(fake_route), SPEC["openapi_v2"], "$", problems)
    assert problems == []
    example = operation(fake_route)["responses"]["200"]["content"]["application/json"]["example"]
    assert_formats_match_example(response.json()["data"][0], example["data"][0])
    assert set(response.json()["additional_data"]) == set(example["additional_data"])


async def test_activities_include_attendees_when_asked(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v2/activities", params={"include_fields": "attendees"})
    assert response.json()["data"][0]["attendees"] == []


async def test_create_activity_matches_the_description(client: httpx.AsyncClient) -> None:
    fake_route = route("POST", "/api/v2/activities")
    body = {
        "subject": "Follow-up",
        "type": "meeting",
        "due_date": "2026-03-10",
        "due_time": "15:00",
        "duration": "01:00",
        "done": False,
        "participants": [{"person_id": 1, "primary": True}],
        "note": "<b>x</b>",
    }
    published = set(operation(fake_route)["requestBody"]["content"]["application/json"]["schema"]["properties"])
    assert set(body) <= published
    response = await client.post("/api/v2/activities", json=body)
    assert response.status_code == 200
    problems: list[str] = []
    check(response.json(), response_schema(fake_route), SPEC["openapi_v2"], "$", problems)
    assert problems == []
    list_response = operation(route("GET", "/api/v2/activities"))["responses"]["200"]
    example = list_response["content"]["application/json"]["example"]["data"][0]
    assert_formats_match_example(response.json()["data"], example)
    assert response.json()["data"]["person_id"] == 1


async def test_get_activity_matches_the_description(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v2/activities/1")
    problems: list[str] = []
    check(response.json(), response_schema(route("GET", "/api/v2/activities/{id}")), SPEC["openapi_v2"], "$", problems)
    assert problems == []


async def test_person_fields_match_the_description(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v2/personFields")
    assert response.status_code == 200
    problems: list[str] = []
    check(response.json(), response_schema(route("GET", "/api/v2/personFields")), SPEC["openapi_v2"], "$", problems)
    assert problems == []
    custom = [f for f in response.json()["data"] if f["is_custom_field"]]
    assert custom and all(re.fullmatch(r"[0-9a-f]{40}", f["field_code"]) for f in custom)


async def test_notes_list_matches_the_description(client: httpx.AsyncClient) -> None:
    fake_route = route("GET", "/v1/notes")
    response = await client.get("/v1/notes", params={"person_id": 1, "sort": "add_time DESC"})
    assert response.status_code == 200
    problems: list[str] = []
    check(response.json(), response_schema(fake_route), SPEC["openapi_v1"], "$", problems)
    assert problems == []
    example = operation(fake_route)["responses"]["200"]["content"]["application/json"]["example"]
    assert_formats_match_example(response.json()["data"][0], example["data"][0])
    pagination_keys = set(
        response_schema(fake_route)["properties"]["additional_data"]["properties"]["pagination"]["properties"]
    )
    assert set(response.json()["additional_data"]["pagination"]) <= pagination_keys


async def test_create_note_matches_the_description(client: httpx.AsyncClient) -> None:
    fake_route = route("POST", "/v1/notes")
    body_schema = operation(fake_route)["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema["allOf"][0]["required"] == ["content"]
    response = await client.post(
        "/v1/notes",
        json={"content": "<p>hi</p>", "person_id": 1, "add_time": "2026-03-02 08:00:00", "pinned_to_person_flag": 1},
    )
    assert response.status_code == 200
    problems: list[str] = []
    check(response.json(), response_schema(fake_route), SPEC["openapi_v1"], "$", problems)
    assert problems == []
    missing = await client.post("/v1/notes", json={"person_id": 1})
    assert missing.status_code == 400


async def test_users_me_matches_the_description(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/users/me")
    problems: list[str] = []
    check(response.json(), response_schema(route("GET", "/v1/users/me")), SPEC["openapi_v1"], "$", problems)
    assert problems == []


# ------------------------------------------------------------------------------------- errors, statuses, headers


async def test_401_carries_the_published_example(client: httpx.AsyncClient) -> None:
    example = operation(route("GET", "/v1/users/me"))["responses"]["401"]["content"]["application/json"]["example"]
    response = await client.get("/v1/users/me", headers={"x-api-token": "wrong"})
    assert response.status_code == 401
    assert example.items() <= response.json().items()


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("GET", "/api/v2/persons/999", None, 404),
        ("GET", "/api/v2/persons/search?term=x", None, 400),
        ("POST", "/api/v2/activities", {"type": "no-such-type"}, 400),
        ("POST", "/v1/notes", {"content": "x"}, 400),
        ("PATCH", "/api/v2/persons/1", {"birthday": "2000-01-01"}, 403),
        ("DELETE", "/api/v2/persons/1", None, 405),
        ("GET", "/no/such/path", None, 404),
    ],
)
async def test_error_bodies_follow_the_documented_schema(
    client: httpx.AsyncClient, method: str, url: str, body: dict[str, Any] | None, status: int
) -> None:
    documented = SPEC["docs"]["responses"]["error_response_example"]
    response = await client.request(method, url, json=body)
    assert response.status_code == status
    assert response.status_code in SPEC["docs"]["http_status_codes"]["codes"]
    assert set(response.json()) == set(documented)
    assert response.json()["success"] is False
    assert response.json()["data"] is None and response.json()["additional_data"] is None


async def test_the_v2_error_example_has_the_same_keys(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v2/activities/999")
    assert set(response.json()) == set(SPEC["openapi_v2"]["x-error-example"]["404"])
    assert set(response.json()) == set(SPEC["openapi_v1"]["x-error-example"]["403"])


async def test_unavailable_is_the_documented_error_example(client: httpx.AsyncClient, fake: FakePipedrive) -> None:
    fake.fail_next("unavailable")
    response = await client.get("/v1/users/me")
    assert response.status_code == 503
    assert response.json() == SPEC["docs"]["responses"]["error_response_example"]


async def test_documented_rate_limit_headers_are_on_every_response(
    client: httpx.AsyncClient, fake: FakePipedrive
) -> None:
    documented = set(SPEC["docs"]["rate_limiting"]["headers"])
    normal = await client.get("/v1/users/me")
    fake.fail_next("rate_limited")
    limited = await client.get("/v1/users/me")
    fake.fail_next("quota")
    exhausted = await client.get("/v1/users/me")
    for response in (normal, limited, exhausted):
        assert documented <= set(response.headers), response.status_code
    assert limited.status_code == exhausted.status_code == 429
    assert 429 in SPEC["docs"]["http_status_codes"]["codes"]
    assert int(normal.headers["x-ratelimit-limit"]) in SPEC["docs"]["rate_limiting"]["burst_limits_api_token"].values()


async def test_cursor_pagination_follows_the_docs(fake: FakePipedrive) -> None:
    fake.page_size = 1
    for n in range(3):
        fake.add_person(f"p{n}@example.com")
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pipedrive.test") as client:
        seen: list[int] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"term": "example.com", "api_token": "test-token"}
            if cursor:
                params["cursor"] = cursor
            body = (await client.get("/api/v2/persons/search", params=params)).json()
            seen.extend(i["item"]["id"] for i in body["data"]["items"])
            cursor = body["additional_data"]["next_cursor"]
            if cursor is None:
                break
    assert seen == [1, 2, 3, 4]
