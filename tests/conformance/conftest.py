"""Fixtures building each adapter through its harness."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fearvana_integration.adapters.base import CRMAdapter, EmailAdapter, SchedulingAdapter
from tests.conformance.harness import Harness
from tests.conformance.harnesses import HARNESSES, names


async def _run(kind: str, name: str) -> AsyncIterator[Harness]:
    harness = HARNESSES[(kind, name)]()
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture(params=names("crm"))
async def crm_harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async for harness in _run("crm", request.param):
        yield harness


@pytest.fixture(params=names("scheduling"))
async def scheduling_harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async for harness in _run("scheduling", request.param):
        yield harness


@pytest.fixture(params=names("email"))
async def email_harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async for harness in _run("email", request.param):
        yield harness


@pytest.fixture
def crm(crm_harness: Harness) -> CRMAdapter:
    adapter = crm_harness.adapter  # type: ignore[attr-defined]
    assert isinstance(adapter, CRMAdapter)
    return adapter


@pytest.fixture
def scheduling(scheduling_harness: Harness) -> SchedulingAdapter:
    adapter = scheduling_harness.adapter  # type: ignore[attr-defined]
    assert isinstance(adapter, SchedulingAdapter)
    return adapter


@pytest.fixture
def email(email_harness: Harness) -> EmailAdapter:
    adapter = email_harness.adapter  # type: ignore[attr-defined]
    assert isinstance(adapter, EmailAdapter)
    return adapter
