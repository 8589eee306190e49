"""Settings: SPEC §9 names and defaults, clear errors, file precedence, and docs in agreement."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from fearvana_integration.config import Settings, load_settings
from fearvana_integration.errors import ConfigurationError

REPO = Path(__file__).resolve().parents[2]


def settings(**env: str) -> Settings:
    return load_settings(env, read_env_files=False)


def test_defaults_are_the_seed_and_spec_values() -> None:
    s = settings()
    assert (s.crm_provider, s.scheduling_provider, s.email_provider) == ("mock", "mock", "mock")
    assert s.database_url.get_secret_value() == "sqlite:///fearvana.db"
    assert (s.cache_ttl_profile_seconds, s.cache_ttl_life_areas_seconds, s.cache_ttl_crm_seconds) == (300, 120, 600)
    assert s.cache_ttl_scheduling_seconds == 60
    assert (s.circuit_breaker_threshold, s.circuit_breaker_timeout) == (5, 60000)
    assert (s.source_timeout_ms, s.context_deadline_ms) == (2000, 3000)
    assert (s.tokenizer_encoding, s.context_default_max_tokens) == ("o200k_base", 8000)
    assert s.mock_latency_range_ms == (50, 200)
    assert s.email_from_name == "Akshay from Fearvana"


def test_real_provider_without_key_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="^Missing required environment variable: CRM_API_KEY$"):
        settings(CRM_PROVIDER="hubspot")
    with pytest.raises(ConfigurationError, match="CRM_API_KEY"):
        settings(CRM_PROVIDER="pipedrive", CRM_API_KEY="   ")


def test_a_provider_not_built_yet_says_so_before_asking_for_its_key() -> None:
    with pytest.raises(ConfigurationError, match="^EMAIL_PROVIDER=sendgrid is not implemented in this version"):
        settings(EMAIL_PROVIDER="sendgrid")


def test_disabled_source_needs_no_key() -> None:
    s = settings(CRM_PROVIDER="hubspot", CRM_ENABLED="false")
    assert not s.crm_enabled


def test_misspelt_provider_gets_a_suggestion() -> None:
    with pytest.raises(ConfigurationError, match="Unknown CRM_PROVIDER 'hubsopt'. Did you mean 'hubspot'?"):
        settings(CRM_PROVIDER="hubsopt")
    with pytest.raises(ConfigurationError, match="Known providers: calendly, acuity, google-calendar, mock"):
        settings(SCHEDULING_PROVIDER="zzz")


def test_aliases_and_case() -> None:
    s = settings(SCHEDULING_PROVIDER="Google", SCHEDULING_ENABLED="false", EMAIL_PROVIDER="SES", EMAIL_ENABLED="false")
    assert (s.scheduling_provider, s.email_provider) == ("google-calendar", "aws-ses")


def test_supabase_variables_without_database_url_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="NEXT_PUBLIC_SUPABASE_URL is set but DATABASE_URL is not"):
        settings(NEXT_PUBLIC_SUPABASE_URL="https://abc.supabase.co")
    ok = settings(NEXT_PUBLIC_SUPABASE_URL="https://abc.supabase.co", DATABASE_URL="sqlite:///x.db")
    assert ok.database_backend == "sqlite"


def test_invalid_values_name_the_variable_and_hide_secrets() -> None:
    with pytest.raises(ConfigurationError, match=r"Invalid environment variable CACHE_MAX_SIZE: .*\(got 'lots'\)"):
        settings(CACHE_MAX_SIZE="lots")
    with pytest.raises(ConfigurationError, match="Invalid environment variable DB_POOL_SIZE"):
        settings(DB_POOL_SIZE="500")
    with pytest.raises(ConfigurationError, match="MOCK_LATENCY_MS: must be N or MIN-MAX") as info:
        settings(MOCK_LATENCY_MS="fast")
    with pytest.raises(ConfigurationError, match="DATABASE_URL") as info:
        settings(DATABASE_URL="mysql://user:hunter2@db/x")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigurationError, match="CONTEXT_DEFAULT_MAX_TOKENS"):
        settings(CONTEXT_DEFAULT_MAX_TOKENS="10")


def test_unknown_keys_are_ignored_and_seed_reset_timeout_accepted() -> None:
    s = settings(OPENAI_API_KEY="sk-x", NODE_ENV="production", JWT_SECRET="x", CIRCUIT_BREAKER_RESET_TIMEOUT="30000")
    assert s.circuit_breaker_timeout == 60000


def test_environment_beats_env_local_beats_env(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CACHE_MAX_SIZE=1\nMOCK_SEED=1\nLOG_LEVEL=ERROR\n")
    (tmp_path / ".env.local").write_text("CACHE_MAX_SIZE=2\nMOCK_SEED=2\n")
    s = load_settings({"CACHE_MAX_SIZE": "3"}, cwd=tmp_path)
    assert (s.cache_max_size, s.mock_seed, s.log_level) == (3, 2, "ERROR")


def test_env_example_loads_to_the_defaults(tmp_path: Path) -> None:
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    assert load_settings({}, cwd=tmp_path) == Settings.model_validate({})


def test_secrets_are_masked_in_effective_settings() -> None:
    s = settings(
        CRM_PROVIDER="hubspot",
        CRM_API_KEY="pat-na1-secret",
        DATABASE_URL="postgresql://app:hunter2@db.example.com:6543/postgres",
    )
    shown = dict(s.effective())
    assert shown["CRM_API_KEY"] == "********"
    assert shown["DATABASE_URL"] == "postgresql://app:****@db.example.com:6543/postgres"
    assert "hunter2" not in repr(s) and "pat-na1-secret" not in repr(s)


def _names_in(text: str) -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))


def test_settings_class_env_example_and_readme_agree() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    example = _names_in((REPO / ".env.example").read_text())
    readme = (REPO / "README.md").read_text()
    assert fields - example == set(), "settings missing from .env.example"
    assert example - fields == set(), ".env.example lists settings the class does not have"
    missing_in_readme = {name for name in fields if f"`{name}`" not in readme}
    assert missing_in_readme == set(), "settings not documented in the README"


def test_salesforce_needs_client_credentials_not_an_api_key() -> None:
    with pytest.raises(ConfigurationError, match="CRM_SALESFORCE_CLIENT_ID"):
        load_settings({"CRM_PROVIDER": "salesforce"}, read_env_files=False)
    settings = load_settings(
        {
            "CRM_PROVIDER": "salesforce",
            "CRM_SALESFORCE_CLIENT_ID": "3MVG9",
            "CRM_SALESFORCE_CLIENT_SECRET": "s3cret",
            "CRM_SALESFORCE_LOGIN_URL": "https://acme.my.salesforce.com/",
        },
        read_env_files=False,
    )
    assert settings.crm_salesforce_login_url == "https://acme.my.salesforce.com"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("CRM_HUBSPOT_API_VERSION", "v4", "v3 or a date version"),
        ("CRM_HUBSPOT_API_VERSION", "2026-13", "v3 or a date version"),
        ("CRM_SALESFORCE_API_VERSION", "62", "v62.0"),
        ("CRM_STAGE_MAP", "customer=active", "JSON object"),
        ("CRM_STAGE_MAP", '{"customer": "happy"}', "stages are"),
        ("CRM_STAGE_MAP", "[]", "JSON object"),
    ],
)
def test_crm_vendor_settings_are_validated(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=f"Invalid environment variable {name}") as info:
        load_settings({name: value}, read_env_files=False)
    assert fragment in str(info.value)


def test_hubspot_date_version_and_stage_map_accepted() -> None:
    settings = load_settings(
        {"CRM_HUBSPOT_API_VERSION": "2026-03", "CRM_STAGE_MAP": '{"customer": "active", "*": null}'},
        read_env_files=False,
    )
    assert settings.crm_hubspot_api_version == "2026-03"
