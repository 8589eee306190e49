"""fearvana-integration: everything an AI coach should know about one customer, and the actions it may take.

Library use::

    from fearvana_integration import get_integration_manager
    ctx = await get_integration_manager().get_customer_context(customer_id, max_tokens=8000)
"""

from fearvana_integration.adapters.crm.mock import MockCRMAdapter
from fearvana_integration.adapters.email.mock import MockEmailAdapter
from fearvana_integration.adapters.scheduling.mock import MockSchedulingAdapter
from fearvana_integration.config import Settings, load_settings
from fearvana_integration.context.render import render_context
from fearvana_integration.domain.context import CustomerContext, NoteForAi, SourceFreshness
from fearvana_integration.domain.crm import CRMContext, Interaction, Ticket
from fearvana_integration.domain.customer import CustomerRef, Entry, LifeArea, Profile, SpiralState
from fearvana_integration.domain.health import HealthStatus, ServiceHealth
from fearvana_integration.domain.scheduling import Appointment, DateRange, SchedulingContext, TimeSlot
from fearvana_integration.errors import (
    AppointmentNotFound,
    BudgetTooSmall,
    CapabilityNotSupported,
    CircuitOpen,
    ConfigurationError,
    CustomerNotFound,
    IntegrationDisabled,
    IntegrationError,
    InvalidInput,
    ProviderError,
    SlotUnavailable,
    StoreUnavailable,
)
from fearvana_integration.manager import IntegrationManager, get_integration_manager

__version__ = "0.1.0"

__all__ = [
    "Appointment",
    "AppointmentNotFound",
    "BudgetTooSmall",
    "CRMContext",
    "CapabilityNotSupported",
    "CircuitOpen",
    "ConfigurationError",
    "CustomerContext",
    "CustomerNotFound",
    "CustomerRef",
    "DateRange",
    "Entry",
    "HealthStatus",
    "IntegrationDisabled",
    "IntegrationError",
    "IntegrationManager",
    "Interaction",
    "InvalidInput",
    "LifeArea",
    "MockCRMAdapter",
    "MockEmailAdapter",
    "MockSchedulingAdapter",
    "NoteForAi",
    "Profile",
    "ProviderError",
    "SchedulingContext",
    "ServiceHealth",
    "Settings",
    "SlotUnavailable",
    "SourceFreshness",
    "SpiralState",
    "StoreUnavailable",
    "Ticket",
    "TimeSlot",
    "__version__",
    "get_integration_manager",
    "load_settings",
    "render_context",
]
