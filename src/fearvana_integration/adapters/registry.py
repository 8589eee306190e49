"""The one place providers are registered: ``(kind, name) → "module:Class"``, imported lazily.

A provider SPEC names but this version does not implement yet is not registered; selecting it
is a configuration error that says so (never a stub that pretends to work).
"""

from __future__ import annotations

import importlib

from fearvana_integration.adapters.base import Adapter
from fearvana_integration.config import KNOWN_PROVIDERS
from fearvana_integration.errors import ConfigurationError

REGISTRY: dict[tuple[str, str], str] = {
    ("crm", "mock"): "fearvana_integration.adapters.crm.mock:MockCRMAdapter",
    ("crm", "hubspot"): "fearvana_integration.adapters.crm.hubspot:HubSpotCRMAdapter",
    ("crm", "salesforce"): "fearvana_integration.adapters.crm.salesforce:SalesforceCRMAdapter",
    ("crm", "pipedrive"): "fearvana_integration.adapters.crm.pipedrive:PipedriveCRMAdapter",
    ("scheduling", "mock"): "fearvana_integration.adapters.scheduling.mock:MockSchedulingAdapter",
    ("scheduling", "google-calendar"): (
        "fearvana_integration.adapters.scheduling.google_calendar:GoogleCalendarSchedulingAdapter"
    ),
    ("scheduling", "calendly"): "fearvana_integration.adapters.scheduling.calendly:CalendlySchedulingAdapter",
    ("scheduling", "acuity"): "fearvana_integration.adapters.scheduling.acuity:AcuitySchedulingAdapter",
    ("email", "mock"): "fearvana_integration.adapters.email.mock:MockEmailAdapter",
}


def registered(kind: str) -> list[str]:
    """Provider names of ``kind`` this version implements."""
    return [name for (k, name) in REGISTRY if k == kind]


def adapter_class(kind: str, name: str) -> type[Adapter]:
    """The adapter class for a provider; ConfigurationError when it is not available."""
    target = REGISTRY.get((kind, name))
    if target is None:
        known = KNOWN_PROVIDERS.get(kind, ())
        status = "is not implemented in this version" if name in known else "is not a known provider"
        raise ConfigurationError(f"{kind.upper()}_PROVIDER={name} {status}; available: {', '.join(registered(kind))}")
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise TypeError(f"{target} is not an Adapter")
    return cls
