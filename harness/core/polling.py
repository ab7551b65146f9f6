"""The one way the harness waits for something: ``poll`` a function until a condition holds or a deadline passes.

Pure: imports only ``time`` (and typing). Every wait in the harness and its tests goes through
``poll``, so each has a deadline, measures it on the monotonic clock (a wall-clock jump neither
shortens nor stretches it) and fails with a message naming what was awaited and for how long.

``poll(fn, until=..., timeout=..., interval=..., what=...)`` calls ``fn()`` at least once,
returns the first value that satisfies ``until`` (default: truthy), sleeps ``interval`` between
attempts (never past the deadline, so the last attempt happens at the deadline) and otherwise
raises ``PollTimeout``, a ``TimeoutError`` that carries the last value, so a caller can turn it
into its own error with the last answer in the message. An exception raised by ``fn`` ends the
wait at once (a process that exited, say): only "not yet" is retried.
"""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

__all__ = ["PollTimeout", "poll"]

T = TypeVar("T")


class PollTimeout(TimeoutError):
    """``what`` did not happen within ``timeout`` seconds; ``last`` is the last value ``fn`` returned."""

    def __init__(self, what: str, timeout: float, last: Any, attempts: int):
        self.what = what
        self.timeout = timeout
        self.last = last
        self.attempts = attempts
        super().__init__(f"{what}: not done within {timeout:g}s ({attempts} attempt(s); last: {last!r})")


def poll(fn: Callable[[], T], *, timeout: float, interval: float = 0.1, what: str = "waiting",
         until: Callable[[T], Any] = bool, clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``fn`` until ``until(value)`` holds; return that value, or raise ``PollTimeout`` after ``timeout`` s.

    ``timeout=0`` makes exactly one attempt; ``timeout=float("inf")`` waits until the condition
    holds (or ``fn`` raises). ``clock`` and ``sleep`` are for tests of this function.
    """
    if timeout < 0 or interval < 0:
        raise ValueError(f"poll({what!r}): timeout and interval must not be negative "
                         f"(got timeout={timeout}, interval={interval})")
    deadline = clock() + timeout
    attempts = 0
    while True:
        value = fn()
        attempts += 1
        if until(value):
            return value
        left = deadline - clock()
        if left <= 0:
            raise PollTimeout(what, timeout, value, attempts)
        sleep(min(interval, left))
