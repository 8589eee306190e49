"""The Salesforce fake behaves as documented: OAuth, SOQL, paging, sObject writes, external ids, faults, auth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import jwt
import pytest

import tests.fakes.salesforce as salesforce_module
from tests.fakes.faults import RETRY_AFTER_SECONDS, FaultName
from tests.fakes.salesforce import ROUTES, FakeSalesforce, id18
from tests.fakes.server import serve

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
V = "/services/data/v62.0"
CREDENTIALS = {"grant_type": "client_credentials", "client_id": "test-client", "client_secret": "test-secret"}


@pytest.fixture
def fake() -> FakeSalesforce:
    return FakeSalesforce(now=lambda: NOW)


@pytest.fixture
async def anonymous(fake: FakeSalesforce) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app), base_url="https://acme.test") as http:
        yield http


@pytest.fixture
async def client(anonymous: httpx.AsyncClient) -> httpx.AsyncClient:
    token = (await anonymous.post("/services/oauth2/token", data=CREDENTIALS)).json()["access_token"]
    anonymous.headers["Authorization"] = f"Bearer {token}"
    return anonymous


async def soql(client: httpx.AsyncClient, query: str, **headers: str) -> httpx.Response:
    return await client.get(f"{V}/query", params={"q": query}, headers=headers)


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) <= {"message", "errorCode", "fields"}
    return str(body[0]["errorCode"])


# ---------------------------------------------------------------------------------------------------- OAuth


async def test_client_credentials_mint_a_token_for_the_instance(
    fake: FakeSalesforce, anonymous: httpx.AsyncClient
) -> None:
    response = await anonymous.post("/services/oauth2/token", data=CREDENTIALS)
    assert response.status_code == 200
    body = response.json()
    assert body["access_token"] == "test-token"  # the first token issued is the constructor's
    assert body["instance_url"] == "https://acme.test"
    assert body["token_type"] == "Bearer"
    assert body["issued_at"] == str(int(NOW.timestamp() * 1000))
    expected = hmac.new(b"test-secret", (body["id"] + body["issued_at"]).encode(), hashlib.sha256).digest()
    assert base64.b64decode(body["signature"]) == expected
    assert fake.tokens_issued == 1
    second = (await anonymous.post("/services/oauth2/token", data=CREDENTIALS)).json()["access_token"]
    assert second != "test-token" and fake.tokens_issued == 2


async def test_client_credentials_may_come_as_basic_auth(anonymous: httpx.AsyncClient) -> None:
    basic = base64.b64encode(b"test-client:test-secret").decode()
    response = await anonymous.post(
        "/services/oauth2/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({**CREDENTIALS, "client_secret": "wrong"}, "invalid_client"),
        ({**CREDENTIALS, "client_id": "someone-else"}, "invalid_client_id"),
        ({**CREDENTIALS, "grant_type": "password"}, "unsupported_grant_type"),
        ({}, "unsupported_grant_type"),
    ],
)
async def test_bad_token_requests_are_oauth_errors(
    fake: FakeSalesforce, anonymous: httpx.AsyncClient, form: dict[str, str], error: str
) -> None:
    response = await anonymous.post("/services/oauth2/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert "error_description" in response.json()
    assert fake.tokens_issued == 0


async def test_wrong_client_secret_says_invalid_client_credentials(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post("/services/oauth2/token", data={**CREDENTIALS, "client_secret": "nope"})
    assert response.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}


async def test_jwt_bearer_flow_checks_the_issuer(anonymous: httpx.AsyncClient) -> None:
    def assertion(iss: str) -> str:
        claims = {"iss": iss, "sub": "integration@acme.test", "aud": "https://login.salesforce.com", "exp": 2**31}
        return jwt.encode(claims, "not-verified-by-the-fake-" * 2, algorithm="HS256")

    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    ok = await anonymous.post(
        "/services/oauth2/token", data={"grant_type": grant, "assertion": assertion("test-client")}
    )
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
    bad = await anonymous.post("/services/oauth2/token", data={"grant_type": grant, "assertion": assertion("other")})
    assert bad.status_code == 400
    garbage = await anonymous.post("/services/oauth2/token", data={"grant_type": grant, "assertion": "x.y.z"})
    assert garbage.json()["error"] == "invalid_grant"


# ---------------------------------------------------------------------------------------------------- auth


def _route_examples() -> list[tuple[str, str]]:
    examples = {
        "limits": [("GET", f"{V}/limits")],
        "query": [("GET", f"{V}/query?q=SELECT+Id+FROM+Contact")],
        "query_more": [("GET", f"{V}/query/01gAAAAAAAAAAAAAAA-2")],
        "create": [("POST", f"{V}/sobjects/Task")],
        "row": [("GET", f"{V}/sobjects/Contact/003000000000001"), ("PATCH", f"{V}/sobjects/Contact/003000000000001")],
        "by_external_id": [("GET", f"{V}/sobjects/Contact/Email/a@example.com")],
    }
    names = {name for _, _, name in ROUTES} - {"token", "versions"}
    assert names == set(examples), "a new route needs an auth example here"
    return [pair for name in sorted(examples) for pair in examples[name]]


@pytest.mark.parametrize(("method", "path"), _route_examples())
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic dGVzdDp0ZXN0"])
async def test_every_data_route_needs_a_minted_token(
    anonymous: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await anonymous.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


async def test_the_constructor_token_is_not_valid_until_minted(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get(f"{V}/limits", headers={"Authorization": "Bearer test-token"})
    assert response.status_code == 401


async def test_revoked_tokens_are_refused(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{V}/limits")).status_code == 200
    fake.revoke_tokens()
    assert (await client.get(f"{V}/limits")).status_code == 401


async def test_issue_token_skips_the_http_round_trip(fake: FakeSalesforce, anonymous: httpx.AsyncClient) -> None:
    token = fake.issue_token()
    response = await anonymous.get(f"{V}/limits", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert fake.tokens_issued == 1


# ---------------------------------------------------------------------------------------------------- versions, limits


async def test_versions_need_no_token_and_end_at_the_configured_version(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/services/data/")
    assert response.status_code == 200
    versions = response.json()
    assert versions[-1] == {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}
    assert versions[0]["version"] == "31.0"


async def test_latest_alias_and_unknown_versions(client: httpx.AsyncClient) -> None:
    assert (await client.get("/services/data/latest/limits")).status_code == 200
    assert (await client.get("/services/data/v66.0/limits")).status_code == 200
    missing = await client.get("/services/data/v9.0/limits")
    assert missing.status_code == 404 and error_code(missing) == "NOT_FOUND"


async def test_limits_and_limit_info_count_api_calls(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    first = await client.get(f"{V}/limits")
    second = await client.get(f"{V}/limits/")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/15000"
    assert second.headers["Sforce-Limit-Info"] == "api-usage=2/15000"
    assert second.json()["DailyApiRequests"] == {"Max": 15000, "Remaining": 14998}
    assert fake.api_usage == 2
    versions = await client.get("/services/data")
    assert "Sforce-Limit-Info" in versions.headers and fake.api_usage == 2  # the versions list doesn't count


# ---------------------------------------------------------------------------------------------------- SOQL


@pytest.fixture
def world(fake: FakeSalesforce) -> dict[str, str]:
    known = fake.add_contact(
        "known@example.com",
        {"FirstName": "Kim", "LastName": "Known", "Lifecycle_Stage__c": "active", "AI_Sentiment__c": "positive"},
    )
    other = fake.add_contact("other@example.com", {"LastName": "O'Brien"})
    fake.add_case(known, subject="Billing question", closed=False, priority="High", created_at=NOW - timedelta(days=1))
    fake.add_case(known, subject="Sync problem", closed=False, priority="Low", created_at=NOW - timedelta(days=2))
    fake.add_case(known, subject="Old closed issue", closed=True)
    fake.add_case(other, subject="Other's issue", closed=False)
    fake.add_task(
        known,
        {
            "Subject": "Intro call",
            "TaskSubtype": "Call",
            "Status": "Completed",
            "ActivityDate": date(2026, 11, 20),
            "CreatedDate": NOW - timedelta(days=3),
            "Description": "Talked about goals",
        },
    )
    fake.add_task(known, {"Subject": "Follow up", "CreatedDate": NOW - timedelta(days=1)})
    return {"known": known, "other": other}


async def test_find_contact_by_email_is_case_insensitive(world: dict[str, str], client: httpx.AsyncClient) -> None:
    response = await soql(
        client,
        "SELECT Id, Email, FirstName, LastName, AccountId, LastActivityDate, LastModifiedDate, Lifecycle_Stage__c "
        "FROM Contact WHERE Email = 'KNOWN@Example.com' LIMIT 2",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["totalSize"] == 1 and body["done"] is True and "nextRecordsUrl" not in body
    record = body["records"][0]
    assert record["attributes"] == {"type": "Contact", "url": f"{V}/sobjects/Contact/{world['known']}"}
    assert list(record)[1:] == [
        "Id",
        "Email",
        "FirstName",
        "LastName",
        "AccountId",
        "LastActivityDate",
        "LastModifiedDate",
        "Lifecycle_Stage__c",
    ]
    assert record["LastActivityDate"] == "2026-11-20"
    assert record["LastModifiedDate"] == "2026-11-23T08:00:00.000+0000"
    assert record["Lifecycle_Stage__c"] == "active"


async def test_keywords_and_field_names_are_case_insensitive(world: dict[str, str], client: httpx.AsyncClient) -> None:
    body = (await soql(client, "select id, EMAIL from contact where lastname = 'known' order by email asc")).json()
    assert [r["Email"] for r in body["records"]] == ["known@example.com"]
    assert set(body["records"][0]) == {"attributes", "Id", "Email"}  # canonical names in the answer


async def test_count_open_cases(world: dict[str, str], client: httpx.AsyncClient) -> None:
    body = (
        await soql(client, f"SELECT COUNT() FROM Case WHERE ContactId = '{world['known']}' AND IsClosed = false")
    ).json()
    assert body == {"totalSize": 2, "done": True, "records": []}


async def test_count_accepts_a_15_character_id(world: dict[str, str], client: httpx.AsyncClient) -> None:
    body = (await soql(client, f"SELECT COUNT() FROM Case WHERE ContactId = '{world['known'][:15]}'")).json()
    assert body["totalSize"] == 3


async def test_history_query_orders_and_limits(world: dict[str, str], client: httpx.AsyncClient) -> None:
    body = (
        await soql(
            client,
            "SELECT Id, Subject, Description, TaskSubtype, CallType, ActivityDate, CreatedDate, Status FROM Task "
            f"WHERE WhoId = '{world['known']}' ORDER BY CreatedDate DESC LIMIT 50",
        )
    ).json()
    assert [r["Subject"] for r in body["records"]] == ["Follow up", "Intro call"]
    assert body["records"][0]["Status"] == "Not Started"  # Salesforce's default
    assert body["records"][0]["TaskSubtype"] == "Task"
    assert body["records"][1]["Description"] == "Talked about goals"


async def test_paging_follows_next_records_url(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    for i in range(5):
        fake.add_contact(f"p{i}@example.com", {"LastName": f"P{i}"})
    seen: list[str] = []
    response = await soql(client, "SELECT LastName FROM Contact ORDER BY LastName")
    pages = 0
    while True:
        body = response.json()
        pages += 1
        assert body["totalSize"] == 5
        seen += [r["LastName"] for r in body["records"]]
        if body["done"]:
            assert "nextRecordsUrl" not in body
            break
        assert len(body["records"]) == 2
        response = await client.get(body["nextRecordsUrl"])
    assert pages == 3
    assert seen == [f"P{i}" for i in range(5)]


async def test_batch_size_header_and_limit_shape_pages(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    for i in range(5):
        fake.add_contact(f"p{i}@example.com", {"LastName": f"P{i}"})
    one = (await soql(client, "SELECT Id FROM Contact", **{"Sforce-Query-Options": "batchSize=1"})).json()
    assert len(one["records"]) == 1 and one["nextRecordsUrl"].endswith("-1")
    many = (await soql(client, "SELECT Id FROM Contact", **{"Sforce-Query-Options": "batchSize=200"})).json()
    assert len(many["records"]) == 5 and many["done"] is True
    limited = (await soql(client, "SELECT Id FROM Contact LIMIT 3 OFFSET 1")).json()
    assert limited["totalSize"] == 3  # rows the query returns, after LIMIT
    assert len(limited["records"]) == 2 and limited["done"] is False


async def test_an_unknown_query_locator_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{V}/query/01gAAAAAAAAAAAAAAA-2")
    assert response.status_code == 400 and error_code(response) == "INVALID_QUERY_LOCATOR"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("LastName = 'O\\'Brien'", ["other@example.com"]),
        ("LastName != 'Known'", ["other@example.com"]),
        ("LastName <> 'Known'", ["other@example.com"]),
        ("Email IN ('known@example.com', 'nobody@example.com')", ["known@example.com"]),
        ("Email NOT IN ('known@example.com')", ["other@example.com"]),
        ("Email LIKE 'KNOWN%'", ["known@example.com"]),
        ("Email LIKE '_ther@%'", ["other@example.com"]),
        ("FirstName = null", ["other@example.com"]),
        ("FirstName != null", ["known@example.com"]),
        ("FirstName != 'Kim'", ["other@example.com"]),  # != matches nulls in SOQL
        (
            "(LastName = 'Known' OR LastName = 'O\\'Brien') AND Email LIKE '%example.com'",
            ["known@example.com", "other@example.com"],
        ),
        ("NOT LastName = 'Known'", ["other@example.com"]),
        ("LastActivityDate = 2026-11-20", ["known@example.com"]),
        ("LastActivityDate > 2026-11-20", []),
        ("LastActivityDate = LAST_N_DAYS:7", ["known@example.com"]),
        ("LastActivityDate = TODAY", []),
        ("CreatedDate = TODAY", ["known@example.com", "other@example.com"]),
        ("CreatedDate >= 2026-11-23T08:00:00Z", ["known@example.com", "other@example.com"]),
        ("CreatedDate > 2026-11-23T09:00:00+02:00", ["known@example.com", "other@example.com"]),
        ("CreatedDate < 2026-11-23T08:00:00.000Z", []),
        ("AI_Sentiment__c = 'positive'", ["known@example.com"]),
    ],
)
async def test_where_conditions(
    world: dict[str, str], client: httpx.AsyncClient, where: str, expected: list[str]
) -> None:
    response = await soql(client, f"SELECT Email FROM Contact WHERE {where} ORDER BY Email")
    assert response.status_code == 200, response.text
    assert [r["Email"] for r in response.json()["records"]] == expected


async def test_string_escapes(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    fake.add_contact("a@example.com", {"LastName": "back\\slash", "FirstName": "line\nbreak"})
    body = (
        await soql(client, "SELECT Id FROM Contact WHERE LastName = 'back\\\\slash' AND FirstName = 'line\\nbreak'")
    ).json()
    assert body["totalSize"] == 1
    unicode = (await soql(client, "SELECT Id FROM Contact WHERE LastName = 'back\\u005cslash'")).json()
    assert unicode["totalSize"] == 1


async def test_order_by_nulls_and_direction(world: dict[str, str], client: httpx.AsyncClient) -> None:
    first = (await soql(client, "SELECT Email FROM Contact ORDER BY FirstName")).json()
    assert [r["Email"] for r in first["records"]] == ["other@example.com", "known@example.com"]  # nulls first
    last = (await soql(client, "SELECT Email FROM Contact ORDER BY FirstName DESC NULLS LAST")).json()
    assert [r["Email"] for r in last["records"]] == ["known@example.com", "other@example.com"]


async def test_count_of_a_field_is_an_aggregate_row(world: dict[str, str], client: httpx.AsyncClient) -> None:
    body = (await soql(client, "SELECT COUNT(FirstName) FROM Contact")).json()
    assert body == {"totalSize": 1, "done": True, "records": [{"attributes": {"type": "AggregateResult"}, "expr0": 1}]}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("SELECT Id, Foo FROM Contact", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE Foo__c = 'x'", "INVALID_FIELD"),
        ("SELECT Id FROM Lead", "INVALID_TYPE"),
        ("SELECT Id FROM Contact WHERE", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE Email = 'x' AND LastName = 'y' OR FirstName = 'z'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE Email = 'unterminated", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE Email = 'bad\\escape'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE Email = 'under\\_score'", "MALFORMED_QUERY"),
        ("SELECT Id, Id FROM Contact", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact LIMIT x", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact GROUP BY Email", "MALFORMED_QUERY"),
        ("SELECT Id, (SELECT Id FROM Tasks) FROM Contact", "MALFORMED_QUERY"),
        ("SELECT Account.Name FROM Contact", "INVALID_FIELD"),
        ("SELECT Id FROM Task WHERE Description = 'x'", "INVALID_FIELD"),  # long text can't be filtered
        ("SELECT Id FROM Task ORDER BY Description", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE Email = 5", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Case WHERE IsClosed = 'false'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Task WHERE CreatedDate > 2026-11-01", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Task WHERE ActivityDate > 2026-11-01T00:00:00Z", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Contact WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR"),
    ],
)
async def test_bad_soql_is_refused_like_salesforce(client: httpx.AsyncClient, query: str, code: str) -> None:
    response = await soql(client, query)
    assert response.status_code == 400
    assert error_code(response) == code


async def test_soql_errors_point_at_the_problem(client: httpx.AsyncClient) -> None:
    message = (await soql(client, "SELECT Id, Foo FROM Contact")).json()[0]["message"]
    assert "ERROR at Row:1:Column:12" in message
    assert "No such column 'Foo' on entity 'Contact'" in message


async def test_a_query_needs_q(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{V}/query")
    assert response.status_code == 400 and error_code(response) == "MALFORMED_QUERY"


# ---------------------------------------------------------------------------------------------------- writes


async def test_create_a_completed_task_logs_the_interaction(
    fake: FakeSalesforce, world: dict[str, str], client: httpx.AsyncClient
) -> None:
    response = await client.post(
        f"{V}/sobjects/Task",
        json={
            "WhoId": world["other"],
            "Subject": "Coaching call",
            "Description": "x" * 32000,
            "Status": "Completed",
            "ActivityDate": "2026-11-23",
            "TaskSubtype": "Call",
            "Type": "Call",
            "CallType": "Outbound",
            "CallDurationInSeconds": 900,
            "CallDisposition": "Reached",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True and body["errors"] == []
    assert body["id"].startswith("00T") and id18(body["id"][:15]) == body["id"]
    task = fake.record("Task", body["id"])
    assert task["IsClosed"] is True and task["CallDurationInSeconds"] == 900
    assert task["CreatedDate"] == NOW and task["WhoId"] == world["other"]
    assert fake.record("Contact", world["other"])["LastActivityDate"] == date(2026, 11, 23)


async def test_an_open_task_does_not_move_last_activity(
    fake: FakeSalesforce, world: dict[str, str], client: httpx.AsyncClient
) -> None:
    response = await client.post(f"{V}/sobjects/Task", json={"WhoId": world["other"], "Subject": "Later"})
    assert response.status_code == 201
    assert fake.record("Contact", world["other"])["LastActivityDate"] is None


async def test_a_closed_task_without_a_date_counts_as_today(
    fake: FakeSalesforce, world: dict[str, str], client: httpx.AsyncClient
) -> None:
    await client.post(f"{V}/sobjects/Task", json={"WhoId": world["other"], "Status": "Completed"})
    assert fake.record("Contact", world["other"])["LastActivityDate"] == NOW.date()


async def test_last_activity_never_moves_backwards(
    fake: FakeSalesforce, world: dict[str, str], client: httpx.AsyncClient
) -> None:
    await client.post(
        f"{V}/sobjects/Task", json={"WhoId": world["known"], "Status": "Completed", "ActivityDate": "2026-01-01"}
    )
    assert fake.record("Contact", world["known"])["LastActivityDate"] == date(2026, 11, 20)


@pytest.mark.parametrize(
    ("event", "end", "duration"),
    [
        (
            {"StartDateTime": "2026-11-24T09:00:00.000+0000", "DurationInMinutes": 60},
            "2026-11-24T10:00:00.000+0000",
            60,
        ),
        (
            {"StartDateTime": "2026-11-24T09:00:00Z", "EndDateTime": "2026-11-24T09:45:00Z"},
            "2026-11-24T09:45:00.000+0000",
            45,
        ),
        (
            {"ActivityDateTime": "2026-11-24T10:00:00+01:00", "DurationInMinutes": 30},
            "2026-11-24T09:30:00.000+0000",
            30,
        ),
    ],
)
async def test_create_an_event(
    fake: FakeSalesforce,
    world: dict[str, str],
    client: httpx.AsyncClient,
    event: dict[str, object],
    end: str,
    duration: int,
) -> None:
    response = await client.post(f"{V}/sobjects/Event", json={"WhoId": world["other"], "Subject": "Session", **event})
    assert response.status_code == 201, response.text
    new_id = response.json()["id"]
    assert new_id.startswith("00U")
    got = (await client.get(f"{V}/sobjects/Event/{new_id}")).json()
    assert got["EndDateTime"] == end and got["DurationInMinutes"] == duration
    assert got["ActivityDate"] == "2026-11-24"
    assert fake.record("Contact", world["other"])["LastActivityDate"] == date(2026, 11, 24)  # future events count


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"Subject": "No time"}, "REQUIRED_FIELD_MISSING", ["StartDateTime"]),
        ({"StartDateTime": "2026-11-24T09:00:00Z"}, "REQUIRED_FIELD_MISSING", ["DurationInMinutes"]),
        (
            {"StartDateTime": "2026-11-24T09:00:00Z", "EndDateTime": "2026-11-24T08:00:00Z"},
            "FIELD_INTEGRITY_EXCEPTION",
            ["EndDateTime"],
        ),
        (
            {"StartDateTime": "2026-11-24T09:00:00Z", "EndDateTime": "2026-11-24T10:00:00Z", "DurationInMinutes": 30},
            "FIELD_INTEGRITY_EXCEPTION",
            ["DurationInMinutes"],
        ),
        ({"StartDateTime": "2026-11-24", "DurationInMinutes": 30}, "JSON_PARSER_ERROR", None),
    ],
)
async def test_event_validation(
    client: httpx.AsyncClient, body: dict[str, object], code: str, fields: list[str] | None
) -> None:
    response = await client.post(f"{V}/sobjects/Event", json=body)
    assert response.status_code == 400
    assert error_code(response) == code
    assert response.json()[0].get("fields") == fields


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"Subject": "x", "Bogus__c": 1}, "INVALID_FIELD"),
        ({"Subject": "x", "IsClosed": True}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"Subject": "x", "CreatedDate": "2026-11-23T08:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"Status": "Done-ish"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"CallType": "Sideways"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"TaskSubtype": "Meeting"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"WhoId": "not-an-id"}, "MALFORMED_ID"),
        ({"WhoId": "001D000000IqhSLIAZ"}, "FIELD_INTEGRITY_EXCEPTION"),
        ({"WhoId": "0035g00000ZZZZZAAA"}, "INVALID_CROSS_REFERENCE_KEY"),
        ({"Description": "x" * 32001}, "STRING_TOO_LONG"),
        ({"Subject": "x" * 256}, "STRING_TOO_LONG"),
        ({"ActivityDate": "23/11/2026"}, "JSON_PARSER_ERROR"),
        ({"CallDurationInSeconds": "ten"}, "JSON_PARSER_ERROR"),
        ({"CallDurationInSeconds": 1.5}, "JSON_PARSER_ERROR"),
    ],
)
async def test_task_validation(client: httpx.AsyncClient, body: dict[str, object], code: str) -> None:
    response = await client.post(f"{V}/sobjects/Task", json=body)
    assert response.status_code == 400, response.text
    assert error_code(response) == code


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b""])
async def test_bodies_must_be_json_objects(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post(f"{V}/sobjects/Task", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and error_code(response) == "JSON_PARSER_ERROR"


async def test_create_a_contact_needs_a_last_name(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    missing = await client.post(f"{V}/sobjects/Contact", json={"Email": "new@example.com"})
    assert missing.status_code == 400 and error_code(missing) == "REQUIRED_FIELD_MISSING"
    bad_email = await client.post(f"{V}/sobjects/Contact", json={"LastName": "N", "Email": "not-an-email"})
    assert error_code(bad_email) == "INVALID_EMAIL_ADDRESS"
    created = await client.post(f"{V}/sobjects/contact/", json={"LastName": "New", "FirstName": "Nia"})
    assert created.status_code == 201
    assert fake.record("Contact", created.json()["id"])["Name"] == "Nia New"


async def test_unknown_sobjects_are_not_found(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{V}/sobjects/Widget__c", json={})
    assert response.status_code == 404 and error_code(response) == "NOT_FOUND"


async def test_get_and_patch_a_contact(fake: FakeSalesforce, world: dict[str, str], client: httpx.AsyncClient) -> None:
    url = f"{V}/sobjects/Contact/{world['known']}"
    got = await client.get(url)
    assert got.status_code == 200
    assert got.json()["AI_Sentiment__c"] == "positive" and got.json()["Name"] == "Kim Known"
    patched = await client.patch(url, json={"AI_Sentiment__c": "negative", "firstname": "Kimberly"})
    assert patched.status_code == 204 and patched.content == b""
    assert "Sforce-Limit-Info" in patched.headers
    record = fake.record("Contact", world["known"])
    assert record["AI_Sentiment__c"] == "negative" and record["Name"] == "Kimberly Known"
    narrowed = (await client.get(url, params={"fields": "Email,ai_sentiment__c"})).json()
    assert set(narrowed) == {"attributes", "Email", "AI_Sentiment__c"}


async def test_fifteen_character_ids_work_in_urls(world: dict[str, str], client: httpx.AsyncClient) -> None:
    response = await client.get(f"{V}/sobjects/Contact/{world['known'][:15]}")
    assert response.status_code == 200 and response.json()["Id"] == world["known"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"Undefined_Field__c": "x"}, "INVALID_FIELD"),
        ({"LastActivityDate": "2026-11-23"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"Name": "Full Name"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"Id": "0035g00000ZZZZZAAA"}, "INVALID_FIELD"),
    ],
)
async def test_patch_validation(
    world: dict[str, str], client: httpx.AsyncClient, body: dict[str, object], code: str
) -> None:
    response = await client.patch(f"{V}/sobjects/Contact/{world['known']}", json=body)
    assert response.status_code == 400 and error_code(response) == code


async def test_task_subtype_is_create_only(
    fake: FakeSalesforce, world: dict[str, str], client: httpx.AsyncClient
) -> None:
    task = (await client.post(f"{V}/sobjects/Task", json={"WhoId": world["other"], "TaskSubtype": "Call"})).json()["id"]
    response = await client.patch(f"{V}/sobjects/Task/{task}", json={"TaskSubtype": "Email"})
    assert response.status_code == 400 and error_code(response) == "INVALID_FIELD_FOR_INSERT_UPDATE"
    closing = await client.patch(f"{V}/sobjects/Task/{task}", json={"Status": "Completed"})
    assert closing.status_code == 204
    assert fake.record("Task", task)["IsClosed"] is True
    assert fake.record("Contact", world["other"])["LastActivityDate"] == NOW.date()


async def test_closing_a_case_sets_closed_date(
    fake: FakeSalesforce, world: dict[str, str], client: httpx.AsyncClient
) -> None:
    case = fake.add_case(world["other"], subject="Open", closed=False, created_at=NOW - timedelta(days=5))
    assert fake.record("Case", case)["ClosedDate"] is None
    assert (await client.patch(f"{V}/sobjects/Case/{case}", json={"Status": "Closed"})).status_code == 204
    assert fake.record("Case", case)["IsClosed"] is True and fake.record("Case", case)["ClosedDate"] == NOW


@pytest.mark.parametrize(
    ("record_id", "status", "code"),
    [
        ("0035g00000ZZZZZAAA", 404, "NOT_FOUND"),
        ("describe", 404, "NOT_FOUND"),
        ("00T5g00000ZZZZZAAA", 400, "MALFORMED_ID"),
    ],
)
async def test_missing_rows(client: httpx.AsyncClient, record_id: str, status: int, code: str) -> None:
    for method in ("GET", "PATCH"):
        response = await client.request(method, f"{V}/sobjects/Contact/{record_id}", json={})
        assert response.status_code == status and error_code(response) == code


# ---------------------------------------------------------------------------------------------------- external ids


async def test_external_id_lookup(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    one = fake.add_contact("a@example.com", {"LastName": "A", "Fearvana_Id__c": "F-1"})
    fake.add_contact("b@example.com", {"LastName": "B", "Fearvana_Id__c": "F-2"})
    fake.add_contact("c@example.com", {"LastName": "C", "Fearvana_Id__c": "f-2"})
    found = await client.get(f"{V}/sobjects/Contact/Fearvana_Id__c/F-1")
    assert found.status_code == 200 and found.json()["Id"] == one
    several = await client.get(f"{V}/sobjects/Contact/Fearvana_Id__c/F-2")
    assert several.status_code == 300 and len(several.json()) == 2
    missing = await client.get(f"{V}/sobjects/Contact/Fearvana_Id__c/F-9")
    assert missing.status_code == 404 and error_code(missing) == "NOT_FOUND"
    by_email = await client.get(f"{V}/sobjects/Contact/Email/A@EXAMPLE.COM")
    assert by_email.status_code == 200 and by_email.json()["Id"] == one
    by_id = await client.get(f"{V}/sobjects/Contact/Id/{one}")
    assert by_id.status_code == 200


async def test_only_external_id_fields_can_be_looked_up(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    fake.define_field("Contact", "Nickname__c", external_id=False)
    fake.add_contact("a@example.com", {"LastName": "A", "Nickname__c": "Al"})
    for name in ("Nickname__c", "LastName"):
        response = await client.get(f"{V}/sobjects/Contact/{name}/Al")
        assert response.status_code == 404
        assert "Provided external ID field does not exist or is not accessible" in response.json()[0]["message"]


# ---------------------------------------------------------------------------------------------------- faults


async def test_unavailable(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    fake.fail_next("unavailable")
    response = await client.get(f"{V}/limits")
    assert response.status_code == 503
    assert error_code(response) == "SERVER_UNAVAILABLE"
    assert "retry-after" not in response.headers
    assert (await client.get(f"{V}/limits")).status_code == 200


async def test_rate_limited_is_the_concurrent_request_limit(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    fake.fail_next("rate_limited")
    response = await client.get(f"{V}/limits")
    assert response.status_code == 403
    assert response.json() == [
        {
            "message": "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
            "errorCode": "REQUEST_LIMIT_EXCEEDED",
        }
    ]
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS) == "2"
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")
    assert (await client.get(f"{V}/limits")).status_code == 200


async def test_quota_is_request_limit_exceeded(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    fake.fail_next("quota")
    response = await soql(client, "SELECT Id FROM Contact")
    assert response.status_code == 403
    assert response.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert response.headers["Sforce-Limit-Info"] == "api-usage=15000/15000"
    assert "retry-after" not in response.headers


async def test_auth_fault_revokes_tokens_and_fails_the_next_mint_once(
    fake: FakeSalesforce, client: httpx.AsyncClient
) -> None:
    fake.fail_next("auth")
    first = await client.get(f"{V}/limits")
    assert first.status_code == 401 and error_code(first) == "INVALID_SESSION_ID"
    still = await client.get(f"{V}/limits")
    assert still.status_code == 401  # the token was revoked
    refused = await client.post("/services/oauth2/token", data=CREDENTIALS)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client"
    minted = await client.post("/services/oauth2/token", data=CREDENTIALS)
    assert minted.status_code == 200
    client.headers["Authorization"] = f"Bearer {minted.json()['access_token']}"
    assert (await client.get(f"{V}/limits")).status_code == 200


async def test_malformed_is_invalid_json_labelled_json(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    fake.fail_next("malformed")
    response = await soql(client, "SELECT Id FROM Contact")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


async def test_slow_waits_then_answers(
    fake: FakeSalesforce, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    waited: list[bool] = []

    async def instant() -> None:
        waited.append(True)

    monkeypatch.setattr(salesforce_module, "slow", instant)
    fake.fail_next("slow")
    response = await client.get(f"{V}/limits")
    assert waited == [True]
    assert response.status_code == 200


async def test_faults_honour_times_and_path_contains(fake: FakeSalesforce, client: httpx.AsyncClient) -> None:
    fake.fail_next("unavailable", times=2, path_contains="/query")
    assert (await client.get(f"{V}/limits")).status_code == 200
    assert (await soql(client, "SELECT Id FROM Contact")).status_code == 503
    assert (await soql(client, "SELECT Id FROM Contact")).status_code == 503
    assert (await soql(client, "SELECT Id FROM Contact")).status_code == 200


async def test_unfiltered_faults_skip_the_token_endpoint(fake: FakeSalesforce, anonymous: httpx.AsyncClient) -> None:
    fake.fail_next("unavailable")
    minted = await anonymous.post("/services/oauth2/token", data=CREDENTIALS)
    assert minted.status_code == 200
    headers = {"Authorization": f"Bearer {minted.json()['access_token']}"}
    assert (await anonymous.get(f"{V}/limits", headers=headers)).status_code == 503


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        ("unavailable", 503, "temporarily_unavailable"),
        ("rate_limited", 503, "rate_limit_exceeded"),
        ("quota", 400, "rate_limit_exceeded"),
        ("auth", 400, "invalid_client"),
    ],
)
async def test_token_endpoint_faults_when_targeted(
    fake: FakeSalesforce, anonymous: httpx.AsyncClient, fault: FaultName, status: int, error: str
) -> None:
    fake.fail_next(fault, path_contains="/oauth2/token")
    response = await anonymous.post("/services/oauth2/token", data=CREDENTIALS)
    assert response.status_code == status and response.json()["error"] == error
    assert (await anonymous.post("/services/oauth2/token", data=CREDENTIALS)).status_code == 200


# ---------------------------------------------------------------------------------------------------- plumbing


async def test_unknown_routes_and_methods(client: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    unknown = await client.get(f"{V}/composite")
    assert unknown.status_code == 404 and error_code(unknown) == "NOT_FOUND"
    elsewhere = await anonymous.get("/nowhere")
    assert elsewhere.status_code == 404 and error_code(elsewhere) == "NOT_FOUND"
    delete = await client.delete(f"{V}/sobjects/Contact/0035g00000ZZZZZAAA")
    assert delete.status_code == 405 and error_code(delete) == "METHOD_NOT_ALLOWED"


async def test_requests_are_recorded_and_reset_forgets_everything(
    fake: FakeSalesforce, world: dict[str, str], client: httpx.AsyncClient
) -> None:
    await client.patch(f"{V}/sobjects/Contact/{world['known']}", json={"FirstName": "K"})
    last = fake.requests[-1]
    assert last.method == "PATCH" and last.path.endswith(world["known"])
    assert json.loads(last.body) == {"FirstName": "K"}
    assert last.headers["authorization"].startswith("Bearer ")
    fake.fail_next("unavailable")
    fake.reset()
    assert fake.requests == [] and fake.records("Contact") == [] and fake.tokens_issued == 0
    assert (await client.get(f"{V}/limits")).status_code == 401  # tokens forgotten too
    with pytest.raises(KeyError):
        fake.record("Contact", world["known"])


# ---------------------------------------------------------------------------------------------------- world


def test_world_values_are_typed_and_utc(fake: FakeSalesforce) -> None:
    contact = fake.add_contact("a@example.com", {"LastName": "A", "Score__c": 3, "Vip__c": True})
    event = fake.add_event(
        contact,
        {"StartDateTime": datetime(2026, 11, 24, 10, 0, tzinfo=UTC) + timedelta(hours=1), "DurationInMinutes": 30},
    )
    record = fake.record("Event", event)
    assert record["EndDateTime"] == datetime(2026, 11, 24, 11, 30, tzinfo=UTC)
    assert all(v.tzinfo is UTC for v in record.values() if isinstance(v, datetime))
    stored = fake.record("Contact", contact)
    assert stored["Score__c"] == 3.0 and stored["Vip__c"] is True
    assert stored["LastActivityDate"] == date(2026, 11, 24)
    assert [r["Id"] for r in fake.records("Contact")] == [contact]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: f.add_contact("a@example.com", {"Bogus": 1}), "INVALID_FIELD"),
        (lambda f: f.add_task("0035g00000ZZZZZAAA", {}), "INVALID_CROSS_REFERENCE_KEY"),
        (lambda f: f.add_event(f.add_contact("b@example.com"), {"Subject": "x"}), "REQUIRED_FIELD_MISSING"),
        (lambda f: f.add_contact("c@example.com", {"CreatedDate": datetime(2026, 1, 1)}), "timezone-aware"),
        (lambda f: f.add_case(f.add_contact("d@example.com"), subject="x", closed=False, status="Closed"), "closed"),
    ],
)
def test_world_setup_mistakes_raise(fake: FakeSalesforce, call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=message):
        call(fake)


def test_custom_closed_case_status(fake: FakeSalesforce) -> None:
    contact = fake.add_contact("a@example.com", {"LastName": "A"})
    case = fake.add_case(contact, subject="Done", closed=True, status="Resolved", priority=None)
    record = fake.record("Case", case)
    assert record["IsClosed"] is True and record["Status"] == "Resolved" and record["Priority"] is None
    assert record["CaseNumber"] == "00001001"


def test_clock_must_be_aware() -> None:
    fake = FakeSalesforce(now=lambda: datetime(2026, 11, 23, 8, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        fake.add_contact("a@example.com")


async def test_served_over_http_reports_its_own_base_url(fake: FakeSalesforce) -> None:
    with serve(fake.app) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            token = (await http.post("/services/oauth2/token", data=CREDENTIALS)).json()
            assert token["instance_url"] == base_url
            response = await http.get(
                f"{token['instance_url']}{V}/limits", headers={"Authorization": f"Bearer {token['access_token']}"}
            )
            assert response.status_code == 200
