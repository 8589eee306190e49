"""Serve one vendor's fake (with the conformance world) on 127.0.0.1:PORT, for benchmarks/crm_adapters.py.

Run: python benchmarks/_crm_fake_server.py hubspot|salesforce|pipedrive PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conformance import harness_hubspot, harness_pipedrive, harness_salesforce
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.pipedrive import FakePipedrive
from tests.fakes.salesforce import FakeSalesforce

# Real vendors page at 100+; the fakes' test default (2) would turn every read into many requests.
PAGE_SIZE = 100


def build(vendor: str) -> object:
    """The fake's ASGI app with KNOWN and OTHER installed."""
    if vendor == "hubspot":
        hubspot = FakeHubSpot(token=harness_hubspot.TOKEN, page_size=PAGE_SIZE)
        harness_hubspot.install_world(hubspot)
        return hubspot.app
    if vendor == "salesforce":
        salesforce = FakeSalesforce(page_size=PAGE_SIZE)
        harness_salesforce.install_world(salesforce)
        return salesforce.app
    pipedrive = FakePipedrive(token=harness_pipedrive.TOKEN, page_size=PAGE_SIZE)
    harness_pipedrive.install_world(pipedrive)
    return pipedrive.app


if __name__ == "__main__":
    uvicorn.run(build(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")  # type: ignore[arg-type]
