"""Throttling of failed authentications per client address, so API keys cannot be guessed at speed."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

# Addresses remembered at most: a flood from many addresses costs bounded memory (the least recently
# failing are forgotten first, which only makes the limiter more lenient towards them).
MAX_ADDRESSES = 10_000


class AuthFailureLimiter:
    """At most `limit` failed authentications per `window_s` seconds per address (a sliding window).

    Only failures are counted: a client using a valid key is never limited by its own traffic. An address
    at its limit is refused before its key is checked, valid or not, because checking keys for it would
    let it go on guessing. One instance per process, held by the GalleryContext; thread-safe (sync routes
    run in a thread pool).
    """

    def __init__(
        self,
        *,
        limit: int,
        window_s: float,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_addresses = max_addresses
        self._clock = clock
        self._lock = threading.Lock()
        # Address -> times of its latest failures (at most `limit`), least recently failing first.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until `address` may try again, or None when it is not at its limit."""
        now = self._clock()
        with self._lock:
            times = self._failures.get(address)
            if times is None or len(times) < self.limit or now - times[0] >= self.window_s:
                return None
            return max(1, math.ceil(times[0] + self.window_s - now))

    def record_failure(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            self._forget_expired(now)
            times = self._failures.pop(address, None) or deque(maxlen=self.limit)
            times.append(now)
            self._failures[address] = times
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)

    def tracked_addresses(self) -> int:
        with self._lock:
            return len(self._failures)

    def _forget_expired(self, now: float) -> None:
        # Ordered by latest failure: stop at the first address that failed within the window.
        while self._failures:
            address, times = next(iter(self._failures.items()))
            if now - times[-1] < self.window_s:
                break
            del self._failures[address]
