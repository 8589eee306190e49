"""Every registered adapter has a conformance harness, and every adapter class is registered."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import fearvana_integration.adapters as adapters_package
from fearvana_integration.adapters.base import Adapter
from fearvana_integration.adapters.registry import REGISTRY, adapter_class
from tests.conformance.harnesses import HARNESSES


def test_every_registered_adapter_has_a_conformance_harness() -> None:
    assert set(REGISTRY) == set(HARNESSES)


def test_every_adapter_class_is_registered_under_its_own_name() -> None:
    registered = {adapter_class(kind, name): (kind, name) for kind, name in REGISTRY}
    found = set()
    for module_info in pkgutil.walk_packages(adapters_package.__path__, adapters_package.__name__ + "."):
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Adapter) and not inspect.isabstract(cls) and cls.__module__ == module.__name__:
                found.add(cls)
    assert found == set(registered)
    for cls, (kind, name) in registered.items():
        assert (cls.kind, cls.name) == (kind, name)
