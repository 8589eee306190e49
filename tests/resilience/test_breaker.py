"""Circuit breaker transitions with a fake clock (no sleeping)."""

from __future__ import annotations

import pytest

from fearvana_integration.clock import FakeClock
from fearvana_integration.errors import CircuitOpen
from fearvana_integration.resilience.breaker import BreakerConfig, CircuitBreaker, MemoryBreakerStore

CONFIG = BreakerConfig(threshold=5, open_seconds=60, trial_timeout_seconds=4)


def breaker(clock: FakeClock, store: MemoryBreakerStore | None = None) -> CircuitBreaker:
    return CircuitBreaker("crm", store or MemoryBreakerStore(), CONFIG, clock)


async def fail(b: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        await b.record_failure(await b.before_call())


async def test_opens_after_threshold_consecutive_failures() -> None:
    clock = FakeClock()
    b = breaker(clock)
    await fail(b, 4)
    assert (await b.state()).state == "CLOSED"
    await fail(b, 1)
    state = await b.state()
    assert state.state == "OPEN"
    assert state.failures == 5
    with pytest.raises(CircuitOpen, match="Circuit breaker is open for CRM") as info:
        await b.before_call()
    assert info.value.next_attempt_at is not None
    assert info.value.next_attempt_at.timestamp() == pytest.approx(clock.now().timestamp() + 60)


async def test_a_success_resets_the_count() -> None:
    b = breaker(FakeClock())
    await fail(b, 4)
    await b.record_success(await b.before_call())
    await fail(b, 4)
    assert (await b.state()).state == "CLOSED"


async def test_half_open_lets_exactly_one_trial_through_and_success_closes() -> None:
    clock = FakeClock()
    b = breaker(clock)
    await fail(b, 5)
    clock.advance(59)
    with pytest.raises(CircuitOpen):
        await b.before_call()
    clock.advance(1)
    trial = await b.before_call()
    assert (await b.state()).state == "HALF_OPEN"
    with pytest.raises(CircuitOpen):
        await b.before_call()  # a second caller while the trial runs
    await b.record_success(trial)
    assert (await b.state()).state == "CLOSED"
    await b.before_call()


async def test_failed_trial_reopens_for_another_full_timeout() -> None:
    clock = FakeClock()
    b = breaker(clock)
    await fail(b, 5)
    clock.advance(60)
    await b.record_failure(await b.before_call())
    state = await b.state()
    assert state.state == "OPEN"
    assert state.opened_at == clock.now().timestamp()
    clock.advance(30)
    with pytest.raises(CircuitOpen):
        await b.before_call()


async def test_a_trial_that_never_reports_back_is_given_up() -> None:
    clock = FakeClock()
    b = breaker(clock)
    await fail(b, 5)
    clock.advance(60)
    await b.before_call()  # the trial's process dies here
    clock.advance(3)
    with pytest.raises(CircuitOpen):
        await b.before_call()
    clock.advance(1)
    second = await b.before_call()
    await b.record_success(second)
    assert (await b.state()).state == "CLOSED"


async def test_late_answers_from_before_the_trial_do_not_decide() -> None:
    clock = FakeClock()
    b = breaker(clock)
    early = await b.before_call()
    await fail(b, 5)
    clock.advance(60)
    trial = await b.before_call()
    await b.record_success(early)  # an answer that was in flight before the breaker opened
    assert (await b.state()).state == "HALF_OPEN"
    await b.record_failure(trial)
    assert (await b.state()).state == "OPEN"


async def test_reset_and_areset_close_the_breaker() -> None:
    b = breaker(FakeClock())
    await fail(b, 5)
    b.reset()
    assert (await b.state()).state == "CLOSED"
    await fail(b, 5)
    await b.areset()
    await b.before_call()
