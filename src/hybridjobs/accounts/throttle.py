"""Request rates per account and operation: token buckets.

Each (account, service, operation) has a bucket of ``burst`` tokens refilled at ``rate``
tokens a second; a request takes one token, and a request that finds the bucket empty is
throttled (the wire answers ``ThrottlingException``, 429; S3 ``SlowDown``, 503; the query
protocol ``Throttling``, which every AWS SDK retries with back-off). A rate of 0 turns
throttling off. Buckets live in the API process (a per-process limit, like a per-host
limit on AWS); idle buckets are forgotten once full again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]

_SWEEP_EVERY = 4096
"""Forget full buckets every this many requests (bounds memory to active callers)."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Token buckets of ``burst`` tokens refilled at ``rate`` per second (see module doc)."""

    rate: float
    burst: float
    clock: Clock = time.monotonic
    _buckets: dict[tuple[str, ...], _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _since_sweep: int = 0

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, *key: str) -> bool:
        """Take a token from the bucket of ``key``; ``False`` when it is empty."""
        if not self.enabled:
            return True
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(self.burst, now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
                bucket.updated = now
            self._since_sweep += 1
            if self._since_sweep >= _SWEEP_EVERY:
                self._sweep(now)
            if bucket.tokens < 1.0:
                return False
            bucket.tokens -= 1.0
            return True

    def _sweep(self, now: float) -> None:
        self._since_sweep = 0
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
