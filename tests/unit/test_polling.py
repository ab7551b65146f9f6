"""``harness.core.polling.poll``: the one wait with a deadline (a fake clock; no real sleeping)."""

from __future__ import annotations

import time

import pytest

from harness.core.polling import PollTimeout, poll


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_the_first_value_that_satisfies_the_condition():
    clock, values = FakeClock(), iter([None, 0, "", "ready", "later"])
    assert poll(lambda: next(values), timeout=10, interval=0.5, clock=clock, sleep=clock.sleep) == "ready"
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_until_judges_the_value_and_the_value_is_returned_whole():
    clock, n = FakeClock(), iter(range(10))
    assert poll(lambda: next(n), until=lambda v: v >= 3, timeout=10, interval=1, clock=clock, sleep=clock.sleep) == 3


def test_timeout_raises_a_timeout_error_with_the_last_value_and_a_clear_message():
    clock, n = FakeClock(), iter(range(100))
    with pytest.raises(PollTimeout) as info:
        poll(lambda: {"status": next(n)}, until=lambda v: False, timeout=2, interval=0.5, what="namespace ns-a ready",
             clock=clock, sleep=clock.sleep)
    exc = info.value
    assert isinstance(exc, TimeoutError)
    assert exc.last == {"status": 4} and exc.attempts == 5  # at 0, 0.5, 1, 1.5 and at the deadline
    assert exc.what == "namespace ns-a ready" and exc.timeout == 2
    assert str(exc) == "namespace ns-a ready: not done within 2s (5 attempt(s); last: {'status': 4})"


def test_the_last_attempt_is_made_at_the_deadline_not_after_it():
    clock = FakeClock()
    with pytest.raises(PollTimeout):
        poll(lambda: False, timeout=1.2, interval=0.5, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [0.5, 0.5, pytest.approx(0.2)]
    assert clock.now == pytest.approx(1001.2)


def test_zero_timeout_makes_exactly_one_attempt():
    calls = []
    with pytest.raises(PollTimeout) as info:
        poll(lambda: calls.append(1), timeout=0, sleep=lambda s: pytest.fail("slept"))
    assert calls == [1] and info.value.attempts == 1
    assert poll(lambda: "now", timeout=0) == "now"


def test_an_exception_from_fn_ends_the_wait_at_once():
    clock, calls = FakeClock(), []

    def fn():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the process exited")
        return False

    with pytest.raises(RuntimeError, match="exited"):
        poll(fn, timeout=60, interval=1, clock=clock, sleep=clock.sleep)
    assert len(calls) == 2


def test_an_infinite_timeout_waits_until_done():
    clock, n = FakeClock(), iter(range(10_000))
    assert poll(lambda: next(n) == 5000, timeout=float("inf"), interval=60, clock=clock, sleep=clock.sleep)


def test_negative_values_are_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        poll(lambda: True, timeout=-1)
    with pytest.raises(ValueError, match="must not be negative"):
        poll(lambda: True, timeout=1, interval=-0.1)


def test_the_default_clock_is_monotonic_and_the_wait_is_real():
    assert poll.__kwdefaults__["clock"] is time.monotonic
    t0 = time.monotonic()
    with pytest.raises(PollTimeout):
        poll(lambda: False, timeout=0.15, interval=0.05)
    assert 0.14 <= time.monotonic() - t0 < 2
