"""The runtime builds real vendor adapters on one shared HTTP client, and only when one is configured."""

from __future__ import annotations

from fearvana_integration.adapters.crm.hubspot import HubSpotCRMAdapter
from fearvana_integration.adapters.crm.mock import MockCRMAdapter
from fearvana_integration.runtime import build_runtime
from tests.conftest import SettingsFactory


async def test_a_real_crm_gets_the_runtimes_http_client_and_it_is_closed_with_the_runtime(
    make_settings: SettingsFactory,
) -> None:
    runtime = build_runtime(
        make_settings(CRM_PROVIDER="hubspot", CRM_API_KEY="pat-na1-x", CRM_ENDPOINT="http://127.0.0.1:9")
    )
    assert isinstance(runtime.crm, HubSpotCRMAdapter)
    client = runtime.http_client
    assert client is not None and not client.is_closed
    await runtime.aclose()
    assert client.is_closed


async def test_mocks_only_means_no_http_client(make_settings: SettingsFactory) -> None:
    runtime = build_runtime(make_settings())
    try:
        assert isinstance(runtime.crm, MockCRMAdapter)
        assert runtime.http_client is None
    finally:
        await runtime.aclose()
