"""The Salesforce fake against Salesforce's own documentation (there is no OpenAPI for the REST API).

``openapi/salesforce-excerpt.md`` keeps the documentation excerpts the fake follows, quoted with URLs: its
``routes`` block lists the documented ``METHOD URI`` pairs and its ``json``/``text example=<name>`` blocks the
documented bodies and header lines. These tests read that file and hold the fake to it, so the fake does not only
repeat our own reading of the docs.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.fakes.salesforce import ROUTES, FakeSalesforce, id18

EXCERPT = Path(__file__).parent / "openapi" / "salesforce-excerpt.md"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
BLOCK = re.compile(r"^```(\w+)(?: example=([\w-]+))?\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, str | None, str]]:
    return [(m[1], m[2], m[3]) for m in BLOCK.finditer(EXCERPT.read_text(encoding="utf-8"))]


def example(name: str) -> object:
    """A documented example: parsed JSON for ``json`` blocks, the stripped text for ``text`` blocks."""
    for kind, label, body in _blocks():
        if label == name:
            return json.loads(body) if kind == "json" else body.strip()
    raise KeyError(f"no example {name!r} in {EXCERPT.name}")


def documented_routes() -> set[tuple[str, str]]:
    """(METHOD, normalised URI) pairs from the excerpt's ``routes`` blocks."""
    routes = set()
    for kind, _, body in _blocks():
        if kind == "routes":
            for line in body.splitlines():
                method, uri = line.split()
                routes.add((method, _normalise(uri)))
    return routes


DOC_PLACEHOLDERS = {"vXX.X", "sObject", "id", "fieldName", "fieldValue", "queryLocator"}


def _normalise(uri: str) -> str:
    """Path segments with every placeholder (``{x}`` or the docs' names) as ``*``; no query, no trailing slash."""
    path = uri.split("?")[0].rstrip("/")
    segments = ["*" if s in DOC_PLACEHOLDERS or s.startswith("{") else s for s in path.split("/")]
    return "/".join(segments)


@pytest.fixture
def fake() -> FakeSalesforce:
    return FakeSalesforce(now=lambda: NOW, page_size=2)


@pytest.fixture
async def client(fake: FakeSalesforce) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app), base_url="https://org.test") as http:
        token = (
            await http.post(
                "/services/oauth2/token",
                data={"grant_type": "client_credentials", "client_id": "test-client", "client_secret": "test-secret"},
            )
        ).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield http


def test_the_excerpt_names_its_sources_and_says_there_is_no_openapi() -> None:
    text = EXCERPT.read_text(encoding="utf-8")
    assert text.count("source:") >= 5
    assert "No OpenAPI description exists" in text
    assert "https://developer.salesforce.com/docs/" in text


def test_every_route_the_fake_serves_is_documented_with_that_method() -> None:
    documented = documented_routes()
    served = {(method, _normalise(template)) for template, methods, _ in ROUTES for method in methods}
    assert served, "the fake serves no routes?"
    undocumented = served - documented
    assert not undocumented, f"routes the docs excerpt doesn't list: {sorted(undocumented)}"
    assert FakeSalesforce.ROUTES == ROUTES


def test_the_fakes_id_checksum_reproduces_the_documented_ids() -> None:
    documented = [
        "001D000000IqhSLIAZ",  # create-success
        "001D000000IRFmaIAH",  # query-done
        "001D000000IomazIAB",
        "a00D0000008pQSNIA2",  # record-with-datetimes
        "005D0000001QX8WIAW",
    ]
    for full in documented:
        assert id18(full[:15]) == full


async def test_token_response_has_the_documented_members(client: httpx.AsyncClient) -> None:
    documented = example("token-response")
    assert isinstance(documented, dict)
    response = await client.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "test-client", "client_secret": "test-secret"},
    )
    assert response.status_code == 200
    body = response.json()
    for key, value in documented.items():
        assert key in body
        assert type(body[key]) is type(value), key
    assert body["token_type"] == documented["token_type"] == "Bearer"
    assert body["issued_at"].isdigit() and documented["issued_at"].isdigit()
    assert re.fullmatch(r"https?://[^/]+/id/[0-9A-Za-z]+/[0-9A-Za-z]+", body["id"])
    assert re.fullmatch(r"https?://[^/]+/id/[0-9A-Za-z]+/[0-9A-Za-z]+", documented["id"])


async def test_versions_match_the_documented_list_and_labels(fake: FakeSalesforce) -> None:
    documented = example("versions")
    labels = example("version-labels")
    assert isinstance(documented, list) and isinstance(labels, dict)
    newest = FakeSalesforce(api_version="v66.0")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=newest.app), base_url="https://org.test") as http:
        response = await http.get("/services/data/")  # documented: no authentication
    assert response.status_code == 200
    served = response.json()
    assert served[: len(documented)] == documented
    by_version = {item["version"]: item["label"] for item in served}
    for version, label in labels.items():
        assert by_version[version] == label
    assert all(set(item) == {"label", "url", "version"} for item in served)


async def test_limits_have_the_documented_shape(client: httpx.AsyncClient) -> None:
    documented = example("limits")
    assert isinstance(documented, dict)
    body = (await client.get("/services/data/v62.0/limits/")).json()
    for name, pair in documented.items():
        assert set(body[name]) == set(pair) == {"Max", "Remaining"}
        assert all(isinstance(v, int) for v in body[name].values())


async def test_limit_info_header_has_the_documented_form(client: httpx.AsyncClient) -> None:
    documented = example("limit-info-header")
    assert isinstance(documented, str)
    name, _, value = documented.partition(": ")
    form = r"api-usage=\d+/\d+"
    assert re.fullmatch(form, value)
    response = await client.get("/services/data/v62.0/limits")
    assert re.fullmatch(form, response.headers[name])


async def test_query_responses_have_the_documented_members(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    done = example("query-done")
    first = example("query-first-batch")
    assert isinstance(done, dict) and isinstance(first, dict)
    for i in range(3):
        fake.add_contact(f"c{i}@example.com", {"LastName": f"C{i}"})

    paged = (await client.get("/services/data/v62.0/query", params={"q": "SELECT Name FROM Contact"})).json()
    assert set(paged) == set(first)
    assert paged["done"] is first["done"] is False
    url_form = r"/services/data/v\d+\.\d/query/01g[0-9A-Za-z]{15}-\d+"
    assert re.fullmatch(url_form, paged["nextRecordsUrl"])
    assert re.fullmatch(url_form, str(example("next-records-url")))
    assert re.fullmatch(url_form, first["nextRecordsUrl"])

    last = (await client.get(paged["nextRecordsUrl"])).json()
    assert set(last) == set(done)
    assert last["done"] is done["done"] is True
    record = last["records"][0]
    documented_record = done["records"][0]
    assert next(iter(record)) == next(iter(documented_record)) == "attributes"
    assert set(record["attributes"]) == set(documented_record["attributes"]) == {"type", "url"}
    record_url = r"/services/data/v\d+\.\d/sobjects/\w+/[0-9A-Za-z]{18}"
    assert re.fullmatch(record_url, record["attributes"]["url"])
    assert re.fullmatch(record_url, documented_record["attributes"]["url"])


async def test_query_options_header_as_documented_is_accepted(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    documented = example("query-options-header")
    assert isinstance(documented, str)
    name, _, value = documented.partition(": ")
    for i in range(3):
        fake.add_contact(f"c{i}@example.com", {"LastName": f"C{i}"})
    body = (
        await client.get("/services/data/v62.0/query", params={"q": "SELECT Id FROM Contact"}, headers={name: value})
    ).json()
    assert body["done"] is True and len(body["records"]) == 3


async def test_aggregate_rows_have_the_documented_shape(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    documented = example("query-aggregate")
    assert isinstance(documented, dict)
    fake.add_contact("a@example.com", {"LastName": "A"})
    body = (await client.get("/services/data/v62.0/query", params={"q": "SELECT COUNT(Id) FROM Contact"})).json()
    assert set(body) == set(documented)
    assert body["records"][0]["attributes"] == documented["records"][0]["attributes"] == {"type": "AggregateResult"}
    assert "expr0" in body["records"][0]


async def test_records_use_the_documented_datetime_format(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    documented = example("record-with-datetimes")
    assert isinstance(documented, dict)
    contact = fake.add_contact("a@example.com", {"LastName": "A"})
    body = (await client.get(f"/services/data/v62.0/sobjects/Contact/{contact}")).json()
    form = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000"
    for name in ("CreatedDate", "LastModifiedDate"):
        assert re.fullmatch(form, documented[name])
        assert re.fullmatch(form, body[name])
    assert documented["LastActivityDate"] is None and body["LastActivityDate"] is None
    assert set(body["attributes"]) == set(documented["attributes"])


async def test_create_answers_the_documented_body(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    documented = example("create-success")
    assert isinstance(documented, dict)
    contact = fake.add_contact("a@example.com", {"LastName": "A"})
    response = await client.post("/services/data/v62.0/sobjects/Task/", json={"WhoId": contact, "Subject": "Call"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == set(documented)
    assert body["errors"] == documented["errors"] == []
    assert body["success"] is documented["success"] is True
    assert len(body["id"]) == len(str(documented["id"])) == 18


async def test_id_in_a_create_body_is_the_documented_error(client: httpx.AsyncClient) -> None:
    documented = example("create-error-id")
    response = await client.post(
        "/services/data/v62.0/sobjects/Task/", json={"id": "001D000000IqhSLIAZ", "Subject": "Express Donuts and Pies"}
    )
    assert response.status_code == 400
    assert response.json() == documented


async def test_update_answers_no_content(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    contact = fake.add_contact("a@example.com", {"LastName": "A"})
    response = await client.patch(f"/services/data/v62.0/sobjects/Contact/{contact}", json={"FirstName": "Ann"})
    assert response.status_code == 204
    assert response.content == b""


async def test_external_id_answers_have_the_documented_shapes(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    several = example("external-id-multiple")
    missing_field = example("external-id-field-missing")
    assert isinstance(several, list) and isinstance(missing_field, list)
    fake.add_contact("a@example.com", {"LastName": "A", "Legacy_Id__c": "L-1"})
    fake.add_contact("b@example.com", {"LastName": "B", "Legacy_Id__c": "L-1"})

    response = await client.get("/services/data/v62.0/sobjects/Contact/Legacy_Id__c/L-1")
    assert response.status_code == 300
    urls = response.json()
    url_form = r"/services/data/v\d+\.\d/sobjects/\w+/\w+"
    assert len(urls) == 2 and all(isinstance(u, str) and re.fullmatch(url_form, u) for u in urls)
    assert all(re.fullmatch(url_form, u) for u in several)

    response = await client.get("/services/data/v62.0/sobjects/Contact/23foo/1")
    assert response.status_code == 404
    item = response.json()[0]
    assert set(item) == set(missing_field[0])
    assert item["errorCode"] == missing_field[0]["errorCode"] == "NOT_FOUND"
    assert item["message"] == str(missing_field[0]["message"])


async def test_an_invalid_session_is_the_documented_401(fake: FakeSalesforce) -> None:
    documented = example("invalid-session")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app), base_url="https://org.test") as http:
        response = await http.get("/services/data/v62.0/limits", headers={"Authorization": "Bearer expired"})
    assert response.status_code == 401
    assert response.json() == documented


async def test_quota_is_the_documented_403(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    documented = example("request-limit-exceeded")
    fake.fail_next("quota")
    response = await client.get("/services/data/v62.0/limits")
    assert response.status_code == 403
    assert response.json() == documented
    assert "retry-after" not in response.headers


async def test_rate_limited_is_the_documented_concurrent_limit_403(
    fake: FakeSalesforce, client: httpx.AsyncClient
) -> None:
    documented = example("concurrent-limit")
    fake.fail_next("rate_limited")
    response = await client.get("/services/data/v62.0/query", params={"q": "SELECT Id FROM Contact"})
    assert response.status_code == 403
    assert response.json() == documented
