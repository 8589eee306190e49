"""Vendor endpoints carry credentials: https:// only, except on a loopback host (local fakes and tunnels)."""

from __future__ import annotations

import pytest

from fearvana_integration.config import Settings, load_settings
from fearvana_integration.errors import ConfigurationError

SETTINGS = ("CRM_ENDPOINT", "SCHEDULING_ENDPOINT", "EMAIL_ENDPOINT", "SUPABASE_JWKS_URL", "CRM_SALESFORCE_LOGIN_URL")


def settings(**env: str) -> Settings:
    return load_settings(env, read_env_files=False)


@pytest.mark.parametrize("name", SETTINGS)
@pytest.mark.parametrize(
    "url",
    [
        "http://api.hubapi.com",
        "http://user:hunter2@crm.example.com/v3",
        "http://10.0.0.5:8080",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "http://[::ffff:8.8.8.8]",
        "HTTP://crm.example.com",
    ],
)
def test_cleartext_to_a_remote_host_is_refused(name: str, url: str) -> None:
    with pytest.raises(
        ConfigurationError, match=f"^Invalid environment variable {name}: must be an https:// URL"
    ) as info:
        settings(**{name: url})
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("name", SETTINGS)
@pytest.mark.parametrize(
    "url",
    [
        "https://api.hubapi.com",
        "https://acme.my.salesforce.com/",
        "http://127.0.0.1:9",
        "http://127.42.0.1",
        "http://localhost:8080/api",
        "http://LOCALHOST",
        "http://[::1]:4010",
    ],
)
def test_https_or_a_loopback_host_is_accepted(name: str, url: str) -> None:
    value = getattr(settings(**{name: url}), name.lower())
    assert value == url.rstrip("/")


@pytest.mark.parametrize("url", ["ftp://crm.example.com", "https://", "crm.example.com", "javascript:alert(1)"])
def test_not_a_url_names_the_setting(url: str) -> None:
    with pytest.raises(ConfigurationError, match="CRM_ENDPOINT"):
        settings(CRM_ENDPOINT=url)


def test_unset_or_empty_means_the_vendor_default() -> None:
    assert settings(CRM_ENDPOINT="").crm_endpoint is None
    assert settings().scheduling_endpoint is None
