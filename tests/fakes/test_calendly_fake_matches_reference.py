"""The Calendly fake against Calendly's own published reference, not against our reading of it.

``openapi/calendly-excerpt.json`` is trimmed from Calendly's OpenAPI document (repository/commit in its
``x-source.openapi``) plus developer.calendly.com pages for what that document predates (``x-source.docs``, facts in
``x-docs``) and a few live payloads (``x-observed``). These tests check that every route the fake serves is a
documented path+method and every documented one is served, that the query parameters the fake reads are documented
and the documented ones work, that its status codes are documented ones, and that its answers have the documented
shapes (required fields present, no undocumented fields, enums and formats respected).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from tests.fakes import calendly as calendly_module
from tests.fakes.calendly import (
    ACCESS_TOKEN_SECONDS,
    BOOKING_LIMITS,
    DEFAULT_COUNT,
    MAX_COUNT,
    MAX_RANGE,
    RATE_LIMITS,
    SCOPES,
    TOKENS_PER_MINUTE,
    EventType,
    FakeCalendly,
    iso,
    sign_webhook,
)

EXCERPT_PATH = Path(__file__).parent / "openapi" / "calendly-excerpt.json"
EXCERPT: dict[str, Any] = json.loads(EXCERPT_PATH.read_text(encoding="utf-8"))
SCHEMAS: dict[str, Any] = EXCERPT["components"]["schemas"]
DOCS: dict[str, Any] = EXCERPT["x-docs"]
BASE = "https://api.calendly.com"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
AUTH = {"Authorization": "Bearer test-token"}
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
CALENDLY_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


# --------------------------------------------------------------------------------------------------- a small validator


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with ``$ref`` followed and ``allOf`` merged (properties and required lists united)."""
    while "$ref" in schema:
        node: Any = EXCERPT
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in schema["allOf"]:
            resolved = resolve(part)
            merged["properties"] |= resolved.get("properties", {})
            merged["required"] += resolved.get("required", [])
        return merged
    return schema


def enum_of(schema: dict[str, Any]) -> list[Any] | None:
    """The schema's enum (the published document sometimes spells a one-value enum as a bare string)."""
    enum = schema.get("enum")
    return None if enum is None else (enum if isinstance(enum, list) else [enum])


def validate(schema: dict[str, Any], value: Any, where: str = "$") -> list[str]:
    """Problems of ``value`` against an OpenAPI 3.0 schema: types, nullable, enum, required, formats, oneOf, and no
    keys beyond ``properties`` (unless ``additionalProperties`` allows them)."""
    schema = resolve(schema)
    if value is None:
        return [] if schema.get("nullable") or not schema.get("type") else [f"{where}: null not allowed"]
    if "oneOf" in schema:
        attempts = [validate(branch, value, where) for branch in schema["oneOf"]]
        return [] if any(not a for a in attempts) else [f"{where}: matches no oneOf branch: {attempts}"]
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
    enum = enum_of(schema)
    if enum is not None and value not in enum:
        problems.append(f"{where}: {value!r} not in {enum}")
    fmt = schema.get("format")
    if fmt == "date-time" and not DATE_TIME.fullmatch(value):
        problems.append(f"{where}: {value!r} is not an ISO-8601 date-time")
    if fmt == "uri" and not re.match(r"https?://[^/]+", value):
        problems.append(f"{where}: {value!r} is not a URI")
    if fmt == "email" and "@" not in value:
        problems.append(f"{where}: {value!r} is not an e-mail address")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        problems.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{where}: required field {name!r} missing")
        properties: dict[str, Any] = dict(schema.get("properties", {}))
        deviation = schema.get("x-fake-deviation")
        if deviation:  # a value outside the published enum that the excerpt records as knowingly followed
            widened = dict(resolve(properties[deviation["property"]]))
            widened["enum"] = [*(enum_of(widened) or []), *deviation["also"]]
            properties[deviation["property"]] = widened
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                problems += validate(properties[key], item, f"{where}.{key}")
            elif isinstance(extra, dict):
                problems += validate(extra, item, f"{where}.{key}")
            elif properties and extra is not True:
                problems.append(f"{where}: undocumented field {key!r}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += validate(schema["items"], item, f"{where}[{index}]")
    return problems


def operation(template: str, method: str) -> dict[str, Any]:
    return dict(EXCERPT["paths"][template][method])


def response_schema(template: str, method: str, status: str) -> dict[str, Any]:
    response = resolve(operation(template, method)["responses"][status])
    return dict(next(iter(response["content"].values()))["schema"])


def assert_valid(template: str, method: str, status: str, body: Any) -> None:
    problems = validate(response_schema(template, method, status), body)
    assert not problems, "\n".join(problems)


def parameters(template: str, method: str) -> dict[str, dict[str, Any]]:
    """The documented parameters of an operation (path-level ones included), by name."""
    item = EXCERPT["paths"][template]
    found = [resolve(p) for p in [*item.get("parameters", []), *operation(template, method).get("parameters", [])]]
    return {p["name"]: p for p in found}


# -------------------------------------------------------------------------------------------------------------- routes


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))


def _fake_routes() -> list[tuple[str, str]]:
    routes: list[tuple[str, str]] = []
    for route in FakeCalendly().app.routes:
        assert isinstance(route, Route)
        if route.path == "/{path:path}":
            continue  # the 404 catch-all
        concrete = re.sub(r"\{[^}]+\}", "X", route.path)
        routes += [(method.lower(), concrete) for method in route.methods or () if method != "HEAD"]
    return routes


def _excerpt_operations() -> list[tuple[str, str]]:
    return [(m, t) for t, item in EXCERPT["paths"].items() for m in item if m in {"get", "post", "patch", "delete"}]


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
    assert source["openapi"]["repository"] == "https://github.com/speakeasy-sdks/calendly-python"
    assert source["openapi"]["path"] == "openapi/openapi.yaml"
    assert re.fullmatch(r"[0-9a-f]{40}", source["openapi"]["commit"])
    assert re.fullmatch(r"[0-9a-f]{40}", source["observed"]["commit"])
    pages = {k: v for k, v in source["docs"].items() if isinstance(v, dict)}
    assert pages and all(v["url"].startswith("https://") for v in pages.values())
    for template, item in EXCERPT["paths"].items():
        for method in ("get", "post"):
            named = item.get(method, {}).get("x-source")
            assert named is None or named in pages, (template, method)
    for fact in DOCS.values():
        assert all(part.strip() in {*pages, "openapi"} for part in fact["source"].split(","))


def test_scopes_follow_the_catalogue() -> None:
    catalogue: dict[str, list[str]] = {
        **DOCS["scopes"]["catalogue"],
        **DOCS["scopes"]["assumed_by_the_fake"],
    }
    documented = {endpoint: scope for scope, endpoints in catalogue.items() for endpoint in endpoints}
    by_name = {route.name: route for route in FakeCalendly().app.routes if isinstance(route, Route)}
    for name, scope in SCOPES.items():
        route = by_name[name]
        method = next(iter(m for m in route.methods or () if m != "HEAD"))
        assert documented[f"{method} {route.path}"] == scope, name
    assert DOCS["scopes"]["write_includes_read"] is True


def test_unconfirmed_additions_are_listed_in_the_fakes_docstring() -> None:
    doc = calendly_module.__doc__ or ""
    unconfirmed_section = doc.split("Facts the public sources leave unconfirmed", 1)[1]
    flagged: set[str] = set()

    def walk(node: Any, name: str) -> None:
        if isinstance(node, dict):
            if node.get("x-unconfirmed"):
                flagged.add(name)
            for key, value in node.items():
                walk(value, key if key not in ("properties", "content", "schema", "items") else name)

    walk(EXCERPT["components"], "")
    walk(EXCERPT["paths"], "")
    assert flagged == {"meeting_notes_plain", "meeting_notes_html", "user_name", "event_guests", "201", "401"}
    for name in flagged - {"201", "401"}:
        assert name in unconfirmed_section, name
    assert "201" in unconfirmed_section and "invalid_client" in unconfirmed_section


# ---------------------------------------------------------------------------------------------------------- parameters


def test_every_query_parameter_the_fake_reads_is_documented() -> None:
    source = inspect.getsource(calendly_module)
    read = set(re.findall(r'(?<![a-z_])params(?:\.get\(|\[)"([a-z_]+)"', source))
    read |= set(re.findall(r'"([a-z_]+)" in params', source))
    read |= set(re.findall(r'_enum_param\(request, "([a-z_]+)"', source))
    read |= set(re.findall(r'query_params\.get\("([a-z_]+)"', source))
    documented = {
        name
        for template, item in EXCERPT["paths"].items()
        for method in item
        if method == "get"
        for name, p in parameters(template, method).items()
        if p["in"] == "query"
    }
    assert read, "the scan found nothing: update its patterns"
    assert read - documented == set()
    assert {"count", "page_token", "sort"} <= read


@pytest.fixture
def fake() -> FakeCalendly:
    fake = FakeCalendly(now=NOW)
    fake.set_token_kind("admin")
    coaching = fake.add_event_type("Coaching", 60, slug="coaching", description="Weekly session")
    group = fake.add_event_type("Group", 60, max_invitees=3, locations=[("zoom_conference", None)])
    fake.add_event_type("Paused", 30, active=False, locations=[("physical", "Studio")])
    fake.book(
        coaching,
        datetime(2026, 11, 24, 10, tzinfo=UTC),
        "kim@example.com",
        "Kim Lee",
        notes="Notes",
        guests=["g@example.com"],
        questions_and_answers=[("Goal?", "Sleep")],
        no_show=True,
    )
    group_event, _ = fake.book(group, datetime(2026, 11, 25, 10, tzinfo=UTC), "a@example.com", first_name="A")
    fake.add_invitee(group_event, "b@example.com", status="canceled")
    fake.book(coaching, datetime(2026, 11, 20, 10, tzinfo=UTC), "old@example.com", status="canceled")
    return fake


@pytest.fixture
async def client(fake: FakeCalendly) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=AUTH) as http:
        yield http


def coaching_type(fake: FakeCalendly) -> EventType:
    return next(t for t in (fake.event(e.uuid).event_type for e in fake.events()) if t.name == "Coaching")


def valid_value(fake: FakeCalendly, name: str, schema: dict[str, Any]) -> str:
    """A valid value for a documented query parameter of the fake's world."""
    enum = enum_of(schema)
    if enum:
        return str(enum[0])
    values = {
        "user": f"{BASE}/users/{fake.me.uuid}",
        "organization": f"{BASE}/organizations/{fake.organization.uuid}",
        "invitee_email": "kim@example.com",
        "email": "kim@example.com",
        "sort": str(schema.get("default", "start_time:asc")),
        "min_start_time": "2026-11-01T00:00:00.000000Z",
        "max_start_time": "2026-12-01T00:00:00.000000Z",
        "count": str(MAX_COUNT),
        "event_type": f"{BASE}/event_types/{coaching_type(fake).uuid}",
        "start_time": iso(NOW + timedelta(hours=1)),
        "end_time": iso(NOW + timedelta(days=2)),
        "active": "true",
        "admin_managed": "false",
    }
    return values[name]


LISTS: list[str] = [
    "/event_types",
    "/event_type_available_times",
    "/scheduled_events",
    "/scheduled_events/{uuid}/invitees",
]


def concrete(fake: FakeCalendly, template: str) -> str:
    event = next(e for e in fake.events() if any(i.email == "kim@example.com" for i in e.invitees))
    return template.replace("{uuid}", event.uuid)


@pytest.mark.parametrize("template", LISTS)
async def test_documented_query_parameters_are_accepted_together(
    fake: FakeCalendly, client: httpx.AsyncClient, template: str
) -> None:
    params = {
        name: valid_value(fake, name, resolve(p.get("schema", {})))
        for name, p in parameters(template, "get").items()
        if p["in"] == "query" and name != "page_token"
    }
    response = await client.get(concrete(fake, template), params=params)
    assert response.status_code == 200, (params, response.text)
    assert_valid(template, "get", "200", response.json())
    if template != "/event_type_available_times":
        assert response.json()["collection"], "the combined filters should still find something"


@pytest.mark.parametrize(
    ("template", "name"),
    [
        (t, name)
        for t in LISTS
        for name, p in parameters(t, "get").items()
        if p["in"] == "query" and enum_of(resolve(p.get("schema", {})))
    ],
)
async def test_documented_enums_are_enforced(
    fake: FakeCalendly, client: httpx.AsyncClient, template: str, name: str
) -> None:
    schema = resolve(parameters(template, "get")[name]["schema"])
    base = {"user": f"{BASE}/users/{fake.me.uuid}"} if template in ("/scheduled_events", "/event_types") else {}
    url = concrete(fake, template)
    for value in enum_of(schema) or []:
        assert (await client.get(url, params={**base, name: value})).status_code == 200
    refused = await client.get(url, params={**base, name: "not-a-documented-value"})
    assert refused.status_code == 400
    assert refused.json()["details"][0]["parameter"] == name
    assert_valid(template, "get", "400", refused.json())


async def test_count_follows_the_documented_bounds_and_default(fake: FakeCalendly, client: httpx.AsyncClient) -> None:
    count = resolve(EXCERPT["components"]["parameters"]["Count"])["schema"]
    assert (count["default"], count["minimum"], count["maximum"]) == (DEFAULT_COUNT, 1, MAX_COUNT)
    coaching = coaching_type(fake)
    for day in range(25):
        fake.add_event(coaching, datetime(2026, 10, 1, 9, tzinfo=UTC) + timedelta(days=day))
    user = {"user": f"{BASE}/users/{fake.me.uuid}"}
    default = (await client.get("/scheduled_events", params=user)).json()
    assert len(default["collection"]) == count["default"]
    for value, status in ((count["maximum"], 200), (count["maximum"] + 1, 400), (count["minimum"] - 1, 400)):
        assert (await client.get("/scheduled_events", params={**user, "count": value})).status_code == status


async def test_available_times_range_is_the_documented_week(fake: FakeCalendly, client: httpx.AsyncClient) -> None:
    days = DOCS["available-times"]["max_range_days"]
    assert "1 week (7 days)" in operation("/event_type_available_times", "get")["description"]
    assert timedelta(days=days) == MAX_RANGE
    params = {
        "event_type": f"{BASE}/event_types/{coaching_type(fake).uuid}",
        "start_time": iso(NOW + timedelta(hours=1)),
    }
    week = await client.get(
        "/event_type_available_times", params={**params, "end_time": iso(NOW + timedelta(hours=1, days=days))}
    )
    assert week.status_code == 200
    assert_valid("/event_type_available_times", "get", "200", week.json())
    assert all(CALENDLY_TIME.fullmatch(slot["start_time"]) for slot in week.json()["collection"])
    longer = await client.get(
        "/event_type_available_times",
        params={**params, "end_time": iso(NOW + timedelta(hours=1, days=days, seconds=1))},
    )
    assert longer.status_code == 400
    assert_valid("/event_type_available_times", "get", "400", longer.json())


# -------------------------------------------------------------------------------------------------------------- shapes


async def test_users_me_shape(client: httpx.AsyncClient) -> None:
    body = (await client.get("/users/me")).json()
    assert_valid("/users/me", "get", "200", body)
    assert set(body["resource"]) == set(SCHEMAS["User"]["properties"])


async def test_event_type_shapes(fake: FakeCalendly, client: httpx.AsyncClient) -> None:
    listed = (await client.get("/event_types", params={"user": f"{BASE}/users/{fake.me.uuid}"})).json()
    assert_valid("/event_types", "get", "200", listed)
    assert {t["kind"] for t in listed["collection"]} == {"solo", "group"}
    single = (await client.get(f"/event_types/{coaching_type(fake).uuid}")).json()
    assert_valid("/event_types/{uuid}", "get", "200", single)
    assert set(single["resource"]) == set(SCHEMAS["EventType"]["properties"])


async def test_scheduled_event_shapes(fake: FakeCalendly, client: httpx.AsyncClient) -> None:
    listed = (await client.get("/scheduled_events", params={"user": f"{BASE}/users/{fake.me.uuid}"})).json()
    assert_valid("/scheduled_events", "get", "200", listed)
    assert {e["status"] for e in listed["collection"]} == {"active", "canceled"}
    assert all(CALENDLY_TIME.fullmatch(e["start_time"]) for e in listed["collection"])
    for event in fake.events():
        single = (await client.get(f"/scheduled_events/{event.uuid}")).json()
        assert_valid("/scheduled_events/{uuid}", "get", "200", single)
        invitees = (await client.get(f"/scheduled_events/{event.uuid}/invitees")).json()
        assert_valid("/scheduled_events/{uuid}/invitees", "get", "200", invitees)
        for invitee in invitees["collection"]:
            invitee_uuid = invitee["uri"].rsplit("/", 1)[1]
            one = (await client.get(f"/scheduled_events/{event.uuid}/invitees/{invitee_uuid}")).json()
            assert_valid("/scheduled_events/{event_uuid}/invitees/{invitee_uuid}", "get", "200", one)


async def test_locations_render_documented_types(fake: FakeCalendly, client: httpx.AsyncClient) -> None:
    location_types: set[str] = set()
    for branch in SCHEMAS["Location"]["oneOf"]:
        resolved = resolve(branch)
        location_types |= set(enum_of(resolved["properties"]["type"]) or [])
        location_types |= {ex["type"] for ex in resolved.get("x-examples", {}).values() if "type" in ex}
    listed = (await client.get("/scheduled_events", params={"user": f"{BASE}/users/{fake.me.uuid}"})).json()
    rendered = {e["location"]["type"] for e in listed["collection"]}
    assert rendered == {"google_conference", "zoom"}
    assert rendered <= location_types
    deviation = SCHEMAS["ZoomConference"]["x-fake-deviation"]
    zoom_examples = {ex["type"] for ex in SCHEMAS["ZoomConference"]["x-examples"].values()}
    assert set(deviation["also"]) <= zoom_examples  # the published document's own examples say so
    observed = EXCERPT["x-observed"]["scheduled-event-zoom-location"]["example"]
    assert observed["type"] in deviation["also"]
    zoom = next(e["location"] for e in listed["collection"] if e["location"]["type"] == "zoom")
    assert set(observed) <= set(zoom)


async def test_create_invitee_with_the_documented_example(fake: FakeCalendly, client: httpx.AsyncClient) -> None:
    request_schema = operation("/invitees", "post")["requestBody"]["content"]["application/json"]
    example = dict(request_schema["example"])
    assert not validate(request_schema["schema"], example)
    example["event_type"] = f"{BASE}/event_types/{coaching_type(fake).uuid}"
    example["start_time"] = iso(datetime(2026, 11, 23, 9, tzinfo=UTC))
    assert not validate(request_schema["schema"], example)
    response = await client.post("/invitees", json=example)
    assert response.status_code == 201, response.text
    assert "201" in operation("/invitees", "post")["responses"]
    assert_valid("/invitees", "post", "201", response.json())
    resource = response.json()["resource"]
    assert resource["name"] == example["invitee"]["name"]
    assert resource["timezone"] == example["invitee"]["timezone"]


async def test_cancellation_shape_matches_schema_and_observed_payload(
    fake: FakeCalendly, client: httpx.AsyncClient
) -> None:
    upcoming = next(e for e in fake.events() if e.status == "active" and e.start > NOW)
    response = await client.post(f"/scheduled_events/{upcoming.uuid}/cancellation", json={"reason": "Sick"})
    assert response.status_code == 201
    assert_valid("/scheduled_events/{uuid}/cancellation", "post", "201", response.json())
    observed = EXCERPT["x-observed"]["invitee-canceled-cancellation"]["example"]
    assert set(response.json()["resource"]) == set(observed)


async def test_scheduling_link_shape(fake: FakeCalendly, client: httpx.AsyncClient) -> None:
    schema = operation("/scheduling_links", "post")["requestBody"]["content"]["application/json"]
    example = dict(schema["examples"]["Create Single Use Link"]["value"])
    example["owner"] = f"{BASE}/event_types/{coaching_type(fake).uuid}"
    assert not validate(schema["schema"], example)
    response = await client.post("/scheduling_links", json=example)
    assert response.status_code == 201
    assert_valid("/scheduling_links", "post", "201", response.json())


async def test_memberships_carry_the_observed_fields(fake: FakeCalendly, client: httpx.AsyncClient) -> None:
    observed = EXCERPT["x-observed"]["scheduled-event-membership"]["example"]
    listed = (await client.get("/scheduled_events", params={"user": f"{BASE}/users/{fake.me.uuid}"})).json()
    membership = listed["collection"][0]["event_memberships"][0]
    assert set(observed) <= set(membership)


# --------------------------------------------------------------------------------------------- errors and status codes


async def test_error_bodies_use_the_published_titles_and_messages(
    fake: FakeCalendly, client: httpx.AsyncClient
) -> None:
    unauthenticated = resolve(
        EXCERPT["components"]["responses"]["UNAUTHENTICATED"]["content"]["application/json"]["schema"]
    )
    anonymous = await client.get("/users/me", headers={"Authorization": "Bearer nope"})
    assert anonymous.status_code == 401
    assert not validate(
        EXCERPT["components"]["responses"]["UNAUTHENTICATED"]["content"]["application/json"]["schema"], anonymous.json()
    )
    assert anonymous.json()["message"] in (enum_of(unauthenticated["properties"]["message"]) or [])
    missing = await client.get("/scheduled_events/nope")
    example = EXCERPT["components"]["responses"]["NOT_FOUND"]["content"]["application/json"]["examples"]["example-1"]
    assert {k: missing.json()[k] for k in ("title", "message")} == {
        k: example["value"][k] for k in ("title", "message")
    }
    bad = await client.get("/event_types")
    assert bad.json()["title"] == "Invalid Argument"
    assert bad.json()["message"] == "The supplied parameters are invalid."
    for body in (anonymous.json(), missing.json(), bad.json()):
        assert not validate({"$ref": "#/components/schemas/ErrorResponse"}, body)


def messages(template: str, method: str, status: str) -> list[str]:
    schema = response_schema(template, method, status)
    return enum_of(resolve(schema)["properties"]["message"]) or []


async def test_permission_messages_are_the_published_ones(fake: FakeCalendly, client: httpx.AsyncClient) -> None:
    fake.set_token_kind("user")
    other = fake.add_user("Other", "other@fearvana.test")
    theirs, _ = fake.book(
        fake.add_event_type("Theirs", 30, owner=other), datetime(2026, 11, 26, 9, tzinfo=UTC), "x@e.com"
    )
    org = f"{BASE}/organizations/{fake.organization.uuid}"
    answers = [
        ("/scheduled_events", "get", await client.get("/scheduled_events", params={"organization": org})),
        ("/event_types", "get", await client.get("/event_types", params={"organization": org})),
        ("/scheduled_events/{uuid}", "get", await client.get(f"/scheduled_events/{theirs.uuid}")),
        (
            "/scheduled_events/{uuid}/invitees",
            "get",
            await client.get(f"/scheduled_events/{theirs.uuid}/invitees"),
        ),
        (
            "/scheduled_events/{uuid}/cancellation",
            "post",
            await client.post(f"/scheduled_events/{theirs.uuid}/cancellation"),
        ),
    ]
    fake.set_token_kind("admin")
    fake.add_invitee(theirs, "y@e.com")
    first = await client.post(f"/scheduled_events/{theirs.uuid}/cancellation")
    assert first.status_code == 201
    answers.append(
        (
            "/scheduled_events/{uuid}/cancellation",
            "post",
            await client.post(f"/scheduled_events/{theirs.uuid}/cancellation"),
        )
    )
    past = fake.add_event(coaching_type(fake), NOW - timedelta(days=1))
    answers.append(
        (
            "/scheduled_events/{uuid}/cancellation",
            "post",
            await client.post(f"/scheduled_events/{past.uuid}/cancellation"),
        )
    )
    answers.append(
        (
            "/scheduled_events",
            "get",
            await client.get("/scheduled_events", params={"user": f"{BASE}/users/{other.uuid}"}),
        )
    )
    for template, method, response in answers:
        assert response.status_code == 403, (template, response.text)
        assert response.json()["message"] in messages(template, method, "403"), (template, response.json())
        assert not validate({"$ref": "#/components/schemas/ErrorResponse"}, response.json())


async def test_status_codes_are_documented_for_each_operation(fake: FakeCalendly, client: httpx.AsyncClient) -> None:
    coaching = coaching_type(fake)
    user = {"user": f"{BASE}/users/{fake.me.uuid}"}
    event = fake.events()[-1]
    answers: list[tuple[str, str, httpx.Response]] = [
        ("/users/me", "get", await client.get("/users/me", headers={"Authorization": "Bearer nope"})),
        ("/event_types", "get", await client.get("/event_types")),
        ("/event_types", "get", await client.get("/event_types", params={"user": f"{BASE}/users/nope"})),
        ("/event_types/{uuid}", "get", await client.get("/event_types/nope")),
        ("/event_type_available_times", "get", await client.get("/event_type_available_times")),
        ("/scheduled_events", "get", await client.get("/scheduled_events", params={**user, "count": 0})),
        ("/scheduled_events/{uuid}", "get", await client.get("/scheduled_events/nope")),
        (
            "/scheduled_events/{uuid}/invitees",
            "get",
            await client.get(f"/scheduled_events/{event.uuid}/invitees", params={"count": 0}),
        ),
        (
            "/scheduled_events/{event_uuid}/invitees/{invitee_uuid}",
            "get",
            await client.get(f"/scheduled_events/{event.uuid}/invitees/nope"),
        ),
        ("/scheduled_events/{uuid}/cancellation", "post", await client.post("/scheduled_events/nope/cancellation")),
        ("/scheduling_links", "post", await client.post("/scheduling_links", json={})),
        (
            "/invitees",
            "post",
            await client.post("/invitees", json={"event_type": f"{BASE}/event_types/{coaching.uuid}"}),
        ),
        ("/invitees", "post", await client.post("/invitees", json={"event_type": f"{BASE}/event_types/nope"})),
    ]
    fake.set_plan("free")
    answers.append(("/invitees", "post", await client.post("/invitees", json={})))
    fake.set_plan("paid")
    fake.rate_limit_per_minute = 1
    fake.advance(timedelta(minutes=1))
    await client.get("/users/me")
    answers.append(("/users/me", "get", await client.get("/users/me")))
    for template, method, response in answers:
        documented = operation(template, method)["responses"]
        assert str(response.status_code) in documented, (template, method, response.status_code)
        assert response.status_code >= 400
        assert not validate({"$ref": "#/components/schemas/ErrorResponse"}, response.json()), response.json()


# --------------------------------------------------------------------------------------------- limits, OAuth, webhooks


def test_rate_limit_numbers_are_the_documented_ones() -> None:
    documented = DOCS["rate-limits"]
    assert RATE_LIMITS["paid"] == documented["requests_per_user_per_minute"]["paid"]
    assert RATE_LIMITS["free"] == documented["requests_per_user_per_minute"]["free"]
    assert documented["oauth_tokens_per_user_per_minute"] == TOKENS_PER_MINUTE
    for plan, limits in documented["create_event_invitee"].items():
        assert [list(limit) for limit in BOOKING_LIMITS[plan]] == limits


async def test_every_response_carries_the_documented_headers(fake: FakeCalendly, client: httpx.AsyncClient) -> None:
    documented = DOCS["rate-limits"]["headers_on_every_response"]
    for response in (
        await client.get("/users/me"),
        await client.get("/event_types"),
        await client.get("/nowhere"),
        await client.get("/users/me", headers={"Authorization": "Bearer nope"}),
    ):
        assert all(header in response.headers for header in documented), response.request.url
    fake.rate_limit_per_minute = 1
    fake.advance(timedelta(minutes=1))
    await client.get("/users/me")
    limited = await client.get("/users/me")
    assert limited.status_code == 429
    for header, value in DOCS["rate-limits"]["429_example_headers"].items():
        assert header in limited.headers
        if header == "X-RateLimit-Remaining":
            assert limited.headers[header] == value
    assert 1 <= int(limited.headers["X-RateLimit-Reset"]) <= 60


async def test_token_response_has_the_documented_fields(fake: FakeCalendly, client: httpx.AsyncClient) -> None:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": fake.current_refresh_token(),
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
    }
    request_schema = operation("/oauth/token", "post")["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert not validate(request_schema["schema"], form)
    response = await client.post("/oauth/token", data=form)
    assert response.status_code == 200
    assert_valid("/oauth/token", "post", "200", response.json())
    documented = response_schema("/oauth/token", "post", "200")["properties"]
    assert set(response.json()) == set(documented)
    assert response.json()["expires_in"] == DOCS["oauth"]["access_token_seconds"] == ACCESS_TOKEN_SECONDS
    reused = await client.post("/oauth/token", data=form)
    assert reused.status_code == 400
    assert_valid("/oauth/token", "post", "400", reused.json())


def test_webhook_signature_follows_the_documented_format() -> None:
    fmt = DOCS["webhook-signature"]["format"]
    assert fmt.startswith("t=<unix seconds>,v1=<hex HMAC-SHA256")
    header = sign_webhook("key", b"{}", 1_700_000_000)
    assert re.fullmatch(r"t=1700000000,v1=[0-9a-f]{64}", header)
    assert DOCS["webhook-signature"]["header"] == "Calendly-Webhook-Signature"


def test_plan_gate_message_is_the_documented_one() -> None:
    assert DOCS["plans"]["plan_gated_403_message"] == calendly_module.MSG_UPGRADE
