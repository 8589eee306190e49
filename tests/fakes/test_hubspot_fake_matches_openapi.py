"""The HubSpot fake against HubSpot's own published description, not against our reading of it.

``openapi/hubspot-excerpt.json`` is trimmed from HubSpot's OpenAPI documents (repository, paths and commits in its
``x-source``) plus error bodies quoted from public issue threads (``x-observed``). These tests check that every
route the fake serves is a documented path+method, that every documented path in the excerpt is served, and that
the fake's answers have the documented shapes (required fields present, no undocumented top-level fields).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from tests.fakes.hubspot import ASSOCIATION_TYPE_IDS, FILTER_OPERATORS, SEARCH_MAX_LIMIT, FakeHubSpot

EXCERPT_PATH = Path(__file__).parent / "openapi" / "hubspot-excerpt.json"
EXCERPT: dict[str, Any] = json.loads(EXCERPT_PATH.read_text(encoding="utf-8"))
SCHEMAS: dict[str, Any] = EXCERPT["components"]["schemas"]
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
AUTH = {"Authorization": "Bearer test-token"}
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# ------------------------------------------------------------------------------------------------ a small validator


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = EXCERPT
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _observed_error_extras() -> set[str]:
    """Top-level keys real HubSpot error bodies carry that the ``Error`` schema does not list (e.g. ``status``)."""
    documented = set(SCHEMAS["Error"]["properties"])
    extras: set[str] = set()
    for entry in EXCERPT["x-observed"].values():
        example = entry.get("example") if isinstance(entry, dict) else None
        if isinstance(example, dict) and "category" in example:
            extras |= set(example) - documented
    return extras


def validate(schema: dict[str, Any], value: Any, where: str = "$", *, strict: bool = True) -> list[str]:
    """Problems of ``value`` against an OpenAPI 3.0 schema (types, nullable, enum, required, date-time; strict:
    no keys beyond ``properties`` unless ``additionalProperties`` allows them)."""
    schema = _resolve(schema)
    if value is None:
        return [] if schema.get("nullable") or not schema.get("type") else [f"{where}: null not allowed"]
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if kind in checks and not checks[kind](value):
        return [f"{where}: expected {kind}, got {type(value).__name__} {value!r}"]
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} not in {schema['enum']}")
    if schema.get("format") == "date-time" and not DATE_TIME.fullmatch(value):
        problems.append(f"{where}: {value!r} is not an ISO-8601 date-time")
    if schema.get("format") == "uuid" and not UUID.fullmatch(value):
        problems.append(f"{where}: {value!r} is not a uuid")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{where}: required field {name!r} missing")
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        allowed_extras = _observed_error_extras() if schema is SCHEMAS["Error"] else set()
        for key, item in value.items():
            if key in properties:
                problems += validate(properties[key], item, f"{where}.{key}", strict=strict)
            elif isinstance(extra, dict):
                problems += validate(extra, item, f"{where}.{key}", strict=strict)
            elif strict and properties and extra is not True and key not in allowed_extras:
                problems.append(f"{where}: undocumented field {key!r}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += validate(schema["items"], item, f"{where}[{index}]", strict=strict)
    return problems


def response_schema(template: str, method: str, status: str) -> dict[str, Any]:
    responses = EXCERPT["paths"][template][method]["responses"]
    response = _resolve(responses[status] if status in responses else responses["default"])
    content = response["content"]
    return dict(next(iter(content.values()))["schema"])


def assert_valid(template: str, method: str, status: str, body: Any) -> None:
    problems = validate(response_schema(template, method, status), body)
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------------ routes


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))


def _fake_routes() -> list[tuple[str, str]]:
    routes: list[tuple[str, str]] = []
    for route in FakeHubSpot().app.routes:
        assert isinstance(route, Route)
        if route.path == "/{path:path}":
            continue  # the 404 catch-all
        concrete = re.sub(r"\{[^}]+\}", "X", route.path)
        routes += [(method.lower(), concrete) for method in route.methods or () if method != "HEAD"]
    return routes


def _excerpt_operations() -> list[tuple[str, str]]:
    methods = {"get", "post", "patch", "put", "delete"}
    return [(m, t) for t, item in EXCERPT["paths"].items() for m in item if m in methods]


def test_every_route_the_fake_serves_is_documented() -> None:
    operations = _excerpt_operations()
    undocumented = [
        (method, path)
        for method, path in _fake_routes()
        if not any(m == method and _template_regex(t).fullmatch(path) for m, t in operations)
    ]
    assert undocumented == []


def test_every_documented_operation_in_the_excerpt_is_served() -> None:
    served = _fake_routes()
    missing = [
        (m, t)
        for m, t in _excerpt_operations()
        if not any(method == m and _template_regex(t).fullmatch(path) for method, path in served)
    ]
    assert missing == []


def test_the_excerpt_names_its_sources() -> None:
    source = EXCERPT["x-source"]
    assert source["repository"] == "https://github.com/HubSpot/HubSpot-public-api-spec-collection"
    for entry in source["files"]:
        assert entry["path"].startswith("PublicApiSpecs/CRM/")
        assert re.fullmatch(r"[0-9a-f]{40}", entry["commit"])


# ------------------------------------------------------------------------------------------------ shapes


@pytest.fixture
def fake() -> FakeHubSpot:
    fake = FakeHubSpot(now=lambda: NOW)
    contact = fake.add_contact("kim@example.com", {"firstname": "Kim", "lifecyclestage": "customer"})
    fake.add_contact("other@example.com")
    fake.add_ticket(contact, subject="Billing", open=True, priority="HIGH")
    fake.add_ticket(contact, subject="Old", open=False)
    for day in (1, 2, 3):
        fake.add_engagement(contact, "notes", {"hs_timestamp": f"2026-11-0{day}T12:00:00Z", "hs_note_body": "n"})
    return fake


@pytest.fixture
async def client(fake: FakeHubSpot) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.hubapi.com", headers=AUTH) as http:
        yield http


def contact_id(fake: FakeHubSpot) -> str:
    found = fake._find_by("contacts", "email", "kim@example.com")
    assert found is not None
    return found.id


@pytest.mark.parametrize(
    ("template", "url"),
    [
        ("/crm/v3/objects/contacts/{contactId}", "/crm/v3/objects/contacts/{id}?properties=email&associations=notes"),
        ("/crm/objects/2026-03/{objectType}/{objectId}", "/crm/objects/2026-03/contacts/{id}"),
    ],
)
async def test_get_contact_shape(fake: FakeHubSpot, client: httpx.AsyncClient, template: str, url: str) -> None:
    response = await client.get(url.format(id=contact_id(fake)))
    assert response.status_code == 200
    assert_valid(template, "get", "200", response.json())


@pytest.mark.parametrize(
    ("template", "url"),
    [
        ("/crm/v3/objects/contacts/search", "/crm/v3/objects/contacts/search"),
        ("/crm/v3/objects/tickets/search", "/crm/v3/objects/tickets/search"),
        ("/crm/v3/objects/notes/search", "/crm/v3/objects/notes/search"),
        ("/crm/objects/2026-03/{objectType}/search", "/crm/objects/2026-03/notes/search"),
    ],
)
async def test_search_shape(client: httpx.AsyncClient, template: str, url: str) -> None:
    response = await client.post(url, json={"limit": 1, "sorts": [{"propertyName": "hs_object_id"}]})
    assert response.status_code == 200
    body = response.json()
    assert_valid(template, "post", "200", body)
    assert "after" in body["paging"]["next"]


async def test_search_limit_is_the_documented_maximum(client: httpx.AsyncClient) -> None:
    description = SCHEMAS["PublicObjectSearchRequest"]["properties"]["limit"]["description"]
    documented = int(re.search(r"up to (\d+)", description).group(1))  # type: ignore[union-attr]
    assert documented == SEARCH_MAX_LIMIT
    ok = await client.post("/crm/v3/objects/contacts/search", json={"limit": documented})
    too_many = await client.post("/crm/v3/objects/contacts/search", json={"limit": documented + 1})
    assert ok.status_code == 200
    assert too_many.status_code == 400
    assert_valid("/crm/v3/objects/contacts/search", "post", "default", too_many.json())


def test_filter_operators_are_exactly_the_documented_ones() -> None:
    assert set(SCHEMAS["Filter"]["properties"]["operator"]["enum"]) == FILTER_OPERATORS


async def test_search_accepts_the_specs_own_string_sorts(client: httpx.AsyncClient) -> None:
    assert SCHEMAS["PublicObjectSearchRequest"]["properties"]["sorts"]["items"] == {"type": "string"}
    body = {"sorts": ["-hs_timestamp"], "limit": 3, "properties": ["hs_timestamp"]}
    response = await client.post("/crm/v3/objects/notes/search", json=body)
    stamps = [r["properties"]["hs_timestamp"] for r in response.json()["results"]]
    assert stamps == ["2026-11-03T12:00:00.000Z", "2026-11-02T12:00:00.000Z"]


async def test_default_properties_follow_the_documented_table(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    table = EXCERPT["info"]["description"]
    for object_type, always in [
        ("contacts", {"createdate", "lastmodifieddate", "hs_object_id"}),
        ("tickets", {"createdate", "hs_lastmodifieddate", "hs_object_id"}),
    ]:
        row = re.search(rf"\| `{object_type}` \| (.+?) \|", table)
        assert row is not None
        documented = set(re.findall(r"`([a-z_]+)`", row.group(1)))
        first = (await client.post(f"/crm/v3/objects/{object_type}/search", json={"limit": 1})).json()["results"][0]
        assert set(first["properties"]) == documented | always


async def test_patch_contact_shape_with_the_specs_example(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    example_input = SCHEMAS["SimplePublicObjectInput"].get("example") or {
        "properties": SCHEMAS["SimplePublicObject"]["example"]["properties"]
    }
    fake.define_property("contacts", "property_checkbox", type="bool", field_type="booleancheckbox")
    fake.define_property("contacts", "property_date", type="date", field_type="date")
    fake.define_property(
        "contacts", "property_dropdown", type="enumeration", field_type="select", options=[("choice_b", "B")]
    )
    fake.define_property(
        "contacts",
        "property_multiple_checkboxes",
        type="enumeration",
        field_type="checkbox",
        options=[("chocolate", "Chocolate"), ("strawberry", "Strawberry")],
    )
    fake.define_property("contacts", "property_number", type="number", field_type="number")
    fake.define_property(
        "contacts", "property_radio", type="enumeration", field_type="radio", options=[("option_1", "1")]
    )
    fake.define_property("contacts", "property_string")
    response = await client.patch(f"/crm/v3/objects/contacts/{contact_id(fake)}", json=example_input)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid("/crm/v3/objects/contacts/{contactId}", "patch", "200", body)
    expected = SCHEMAS["SimplePublicObject"]["example"]["properties"]
    assert {k: body["properties"][k] for k in expected} == expected


@pytest.mark.parametrize(
    ("template", "url"),
    [
        ("/crm/v3/objects/notes", "/crm/v3/objects/notes"),
        ("/crm/objects/2026-03/{objectType}", "/crm/objects/2026-03/calls"),
    ],
)
async def test_create_answers_201_with_the_object(
    fake: FakeHubSpot, client: httpx.AsyncClient, template: str, url: str
) -> None:
    operation = EXCERPT["paths"][template]["post"]
    assert "201" in operation["x-fake-deviation"]  # the published 200 + CreatedResponse… is knowingly not followed
    published = response_schema(template, "post", "200")
    assert published == {"$ref": "#/components/schemas/CreatedResponseSimplePublicObject"}
    type_id = 202 if url.endswith("notes") else 194
    payload = {
        "properties": {"hs_timestamp": "2026-11-20T08:00:00Z"},
        "associations": [
            {
                "to": {"id": contact_id(fake)},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
            }
        ],
    }
    assert not validate({"$ref": "#/components/schemas/SimplePublicObjectInputForCreate"}, payload)
    response = await client.post(url, json=payload)
    assert response.status_code == 201
    entity = SCHEMAS["CreatedResponseSimplePublicObject"]["properties"]["entity"]
    problems = validate(entity, response.json())
    assert not problems, problems


async def test_create_rejects_categories_outside_the_documented_enum(
    fake: FakeHubSpot, client: httpx.AsyncClient
) -> None:
    documented = SCHEMAS["AssociationSpec"]["properties"]["associationCategory"]["enum"]
    assert "HUBSPOT_DEFINED" in documented
    payload = {
        "properties": {"hs_timestamp": "2026-11-20T08:00:00Z"},
        "associations": [
            {"to": {"id": contact_id(fake)}, "types": [{"associationCategory": "HUBSPOT", "associationTypeId": 202}]}
        ],
    }
    response = await client.post("/crm/v3/objects/notes", json=payload)
    assert response.status_code == 400
    assert_valid("/crm/v3/objects/notes", "post", "default", response.json())


@pytest.mark.parametrize("template", ["/crm/v3/pipelines/{objectType}", "/crm/pipelines/2026-03/{objectType}"])
async def test_pipelines_shape_and_ticket_states(client: httpx.AsyncClient, template: str) -> None:
    response = await client.get(template.replace("{objectType}", "tickets"))
    body = response.json()
    assert_valid(template, "get", "200", body)
    description = SCHEMAS["PipelineStage"]["properties"]["metadata"]["description"]
    documented = set(re.findall(r"`([A-Z]+)`", description.split("ticketState", 1)[1]))
    assert documented == {"OPEN", "CLOSED"}
    assert {s["metadata"]["ticketState"] for p in body["results"] for s in p["stages"]} == documented


@pytest.mark.parametrize(
    "template",
    ["/crm/v3/properties/{objectType}/{propertyName}", "/crm/properties/2026-03/{objectType}/{propertyName}"],
)
async def test_property_shape(client: httpx.AsyncClient, template: str) -> None:
    url = template.replace("{objectType}", "contacts").replace("{propertyName}", "lifecyclestage")
    body = (await client.get(url)).json()
    assert_valid(template, "get", "200", body)
    assert all(not validate({"$ref": "#/components/schemas/Option"}, option) for option in body["options"])


@pytest.mark.parametrize(
    "template",
    [
        "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
        "/crm/objects/2026-03/{objectType}/{objectId}/associations/{toObjectType}",
    ],
)
async def test_v4_associations_shape(fake: FakeHubSpot, client: httpx.AsyncClient, template: str) -> None:
    url = (
        template.replace("{objectType}", "contacts")
        .replace("{objectId}", contact_id(fake))
        .replace("{toObjectType}", "notes")
    )
    body = (await client.get(url)).json()
    assert_valid(template, "get", "200", body)
    assert body["paging"]["next"]["after"]


@pytest.mark.parametrize(
    ("template", "url"),
    [
        ("/crm/v3/objects/contacts", "/crm/v3/objects/contacts?limit=1&properties=email"),
        ("/crm/v3/objects/notes", "/crm/v3/objects/notes?associations=contacts"),
        ("/crm/objects/2026-03/{objectType}", "/crm/objects/2026-03/tickets?limit=1"),
    ],
)
async def test_list_shape(client: httpx.AsyncClient, template: str, url: str) -> None:
    response = await client.get(url)
    assert response.status_code == 200
    body = response.json()
    assert_valid(template, "get", "200", body)
    assert body["paging"]["next"]["after"]


async def test_batch_read_shape(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    notes = [i for _, i, _ in fake.engagements(contact_id(fake))]
    payload = {
        "inputs": [{"id": notes[0]}, {"id": "404404"}],
        "properties": ["hs_note_body"],
        "propertiesWithHistory": [],
    }
    assert not validate({"$ref": "#/components/schemas/BatchReadInputSimplePublicObjectId"}, payload)
    response = await client.post("/crm/v3/objects/notes/batch/read", json=payload)
    assert response.status_code == 207
    assert_valid("/crm/v3/objects/notes/batch/read", "post", "200", response.json())


# ------------------------------------------------------------------------------------------------ observed bodies


def observed(name: str) -> dict[str, Any]:
    example: dict[str, Any] = EXCERPT["x-observed"][name]["example"]
    return example


async def test_error_bodies_match_the_observed_ones(fake: FakeHubSpot, client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/crm/v3/pipelines/tickets", headers={"Authorization": "Bearer thisisatesttoken"})
    missing = await client.post("/crm/v3/objects/notes", json={"properties": {"hs_note_body": "x"}})
    not_numeric = await client.get("/crm/v3/objects/contacts/nobody@example.com")
    fake.fail_next("auth")
    expired = await client.get("/crm/v3/pipelines/tickets")
    cases = [
        (anonymous, 401, "401-missing-token", ("message", "category")),
        (missing, 400, "400-missing-hs_timestamp", ("message", "category", "context")),
        (not_numeric, 404, "404-object-not-found", ("message", "category")),
        (expired, 401, "401-expired-token", ("category",)),
    ]
    for response, status, name, same in cases:
        example = observed(name)
        body = response.json()
        assert response.status_code == status
        assert set(body) == set(example), name
        assert {k: body[k] for k in same} == {k: example[k] for k in same}, name
        assert set(body.get("context", {})) == set(example.get("context", {})), name
        assert not validate({"$ref": "#/components/schemas/Error"}, body), name
        assert not validate({"$ref": "#/components/schemas/Error"}, example), name


async def test_rate_limit_body_and_headers_match_the_observed_ones(
    fake: FakeHubSpot, client: httpx.AsyncClient
) -> None:
    normal = await client.get("/crm/v3/pipelines/tickets")
    for header in EXCERPT["x-observed"]["rate-limit-headers"]["headers"]:
        assert header in normal.headers
    example = observed("429-ten-secondly")
    fake.fail_next("rate_limited")
    limited = await client.get("/crm/v3/pipelines/tickets")
    body = limited.json()
    assert limited.status_code == 429
    assert set(body) == set(example)
    same = ("status", "message", "errorType", "policyName")
    assert {k: body[k] for k in same} == {k: example[k] for k in same}


def test_association_type_ids_match_the_observed_table() -> None:
    table = EXCERPT["x-observed"]["association-type-ids"]
    for kind, type_id in table["activity_to_contact"].items():
        assert ASSOCIATION_TYPE_IDS[(kind, "contacts")] == type_id
    for kind, type_id in table["contact_to_activity"].items():
        assert ASSOCIATION_TYPE_IDS[("contacts", kind)] == type_id
    assert ASSOCIATION_TYPE_IDS[("tickets", "contacts")] == table["ticket_to_contact"]
    assert ASSOCIATION_TYPE_IDS[("contacts", "tickets")] == table["contact_to_ticket"]
