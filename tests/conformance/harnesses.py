"""Every conformance harness, by ``(kind, provider)``: the list ``test_registry.py`` checks against the registry."""

from __future__ import annotations

from tests.conformance.harness import Harness, MockCrmHarness, MockEmailHarness, MockSchedulingHarness
from tests.conformance.harness_acuity import AcuityHarness
from tests.conformance.harness_calendly import CalendlyHarness
from tests.conformance.harness_google_calendar import GoogleCalendarHarness
from tests.conformance.harness_hubspot import HubSpotCrmHarness
from tests.conformance.harness_pipedrive import PipedriveCrmHarness
from tests.conformance.harness_salesforce import SalesforceCrmHarness

HARNESSES: dict[tuple[str, str], type[Harness]] = {
    ("crm", "mock"): MockCrmHarness,
    ("crm", "hubspot"): HubSpotCrmHarness,
    ("crm", "salesforce"): SalesforceCrmHarness,
    ("crm", "pipedrive"): PipedriveCrmHarness,
    ("scheduling", "mock"): MockSchedulingHarness,
    ("scheduling", "google-calendar"): GoogleCalendarHarness,
    ("scheduling", "calendly"): CalendlyHarness,
    ("scheduling", "acuity"): AcuityHarness,
    ("email", "mock"): MockEmailHarness,
}


def names(kind: str) -> list[str]:
    """Provider names of ``kind`` that have a harness."""
    return [name for (k, name) in HARNESSES if k == kind]
