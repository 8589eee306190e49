"""Vendor values → stage, tags, sentiment; the note/activity body we write and read back."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fearvana_integration.adapters.crm.mapping import (
    CrmFieldMap,
    compose_body,
    compose_html_body,
    parse_body,
    parse_vendor_time,
    unmapped_fields,
)
from fearvana_integration.config import load_settings
from fearvana_integration.domain.crm import Interaction

HUBSPOT_LIKE = CrmFieldMap(
    stage_property="lifecyclestage",
    stage_map={"customer": "active", "evangelist": "vip", "*": "onboarding"},
    status_property="fearvana_status",
    tags_property="fearvana_tags",
    sentiment_property="fearvana_sentiment",
)
NO_MAP = CrmFieldMap(stage_property="Lifecycle_Stage__c", stage_map={})


def test_stage_map_with_a_fallback() -> None:
    assert HUBSPOT_LIKE.stage("customer").stage == "active"
    assert HUBSPOT_LIKE.stage("EVANGELIST").stage == "vip"
    assert HUBSPOT_LIKE.stage("lead").stage == "onboarding"
    assert HUBSPOT_LIKE.stage(None).stage is None


def test_status_property_overrides_with_at_risk_and_churned_only() -> None:
    assert HUBSPOT_LIKE.stage("customer", "At Risk").stage == "at-risk"
    assert HUBSPOT_LIKE.stage("customer", "churned").stage == "churned"
    assert HUBSPOT_LIKE.stage("customer", "happy").stage == "active"


def test_without_a_map_our_own_stage_names_pass_and_others_are_unmapped_not_guessed() -> None:
    assert NO_MAP.stage("At-Risk").stage == "at-risk"
    reading = NO_MAP.stage("Prospect")
    assert reading.stage is None and reading.unmapped == "Prospect"
    strict = CrmFieldMap(stage_property="x", stage_map={"customer": "active"})
    assert strict.stage("lead").unmapped == "lead"
    assert unmapped_fields(strict.stage("lead"), CrmFieldMap.sentiment("meh")) == {
        "lifecycleStage": "lead",
        "sentiment": "meh",
    }


def test_tags_and_sentiment() -> None:
    assert CrmFieldMap.tags("newsletter;retreat-2026; ;newsletter") == ["newsletter", "retreat-2026"]
    assert CrmFieldMap.tags(["a", "b"]) == ["a", "b"]
    assert CrmFieldMap.tags(None) == []
    assert CrmFieldMap.sentiment("Positive").sentiment == "positive"
    assert CrmFieldMap.sentiment("").sentiment is None


def test_settings_override_the_vendor_defaults() -> None:
    settings = load_settings(
        {
            "CRM_STAGE_MAP": '{"Customer": "active", "Former": "churned"}',
            "CRM_TAGS_PROPERTY": "my_tags",
        },
        read_env_files=False,
    )
    fields = CrmFieldMap.from_settings(settings, HUBSPOT_LIKE)
    assert fields.stage("former").stage == "churned"
    assert fields.stage("lead").unmapped == "lead"  # the default fallback is gone with a custom map
    assert fields.tags_property == "my_tags"
    assert fields.sentiment_property == "fearvana_sentiment"


def test_vendor_times() -> None:
    expected = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert parse_vendor_time("2026-11-23T08:00:00.000+0000") == expected
    assert parse_vendor_time("2026-11-23T08:00:00Z") == expected
    assert parse_vendor_time("2026-11-23 08:00:00") == expected
    assert parse_vendor_time(1795420800000) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="Invalid isoformat"):
        parse_vendor_time("yesterday")


def test_body_round_trip_keeps_summary_type_time_sentiment_and_id() -> None:
    interaction = Interaction(
        id=UUID("12345678-1234-4234-8234-123456789abc"),
        type="call",
        timestamp=datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
        summary="Talked about <goals> & sleep.\nNext: 7 h.",
        sentiment="positive",
    )
    for body in (compose_body(interaction), compose_html_body(interaction)):
        parsed = parse_body(body)
        assert parsed.summary == interaction.summary
        assert parsed.type == "call" and parsed.sentiment == "positive"
        assert parsed.timestamp == interaction.timestamp
        assert parsed.interaction_id == str(interaction.id)


def test_a_body_we_did_not_write_is_all_summary() -> None:
    parsed = parse_body("<p>Met at the retreat</p>")
    assert parsed.summary == "Met at the retreat" and parsed.type is None and parsed.timestamp is None


@given(
    st.text(min_size=1, max_size=300).filter(
        lambda s: s.strip()
        and s == s.strip()
        and "\x00" not in s
        and any(c.isprintable() and not c.isspace() for c in s)  # a summary must say something visible
    )
)
def test_any_summary_survives_the_html_round_trip(summary: str) -> None:
    interaction = Interaction(type="chat", timestamp=datetime(2026, 1, 1, tzinfo=UTC), summary=summary)
    assert parse_body(compose_html_body(interaction)).summary == summary
