"""Datetimes at every boundary: timezone-aware, normalised to UTC, and invalid ones are validation errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fearvana_integration import Interaction


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [
        ("2026-11-25T10:30:00", "timezone-aware"),
        ("0001-01-01T00:00:00+01:00", "out of range"),  # no UTC form: once an OverflowError (a 500 over HTTP)
        ("9999-12-31T23:59:59-01:00", "out of range"),
    ],
)
def test_unusable_timestamps_are_validation_errors(timestamp: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Interaction.model_validate({"type": "chat", "timestamp": timestamp, "summary": "hello"})


def test_timestamps_are_normalised_to_utc() -> None:
    interaction = Interaction.model_validate({"type": "chat", "timestamp": "2026-11-25T11:30:00+01:00", "summary": "x"})
    assert interaction.model_dump(mode="json", by_alias=True)["timestamp"] == "2026-11-25T10:30:00Z"
