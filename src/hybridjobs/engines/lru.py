"""A small thread-safe least-recently-used map, bounded by entries and by total weight."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``size`` entries whose weights sum to at most ``max_weight``.

    The engine caches weigh an entry by its program's length in characters (a parsed tree
    takes a few hundred bytes per source character), so a few huge programs cannot pin
    gigabytes. An entry heavier than ``max_weight`` is not kept at all.
    """

    def __init__(self, size: int, max_weight: int | None = None) -> None:
        self.size = size
        self.max_weight = max_weight
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> tuple[bool, V | None]:
        """``(True, value)`` when ``key`` is cached, else ``(False, None)``."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return False, None
            self._items.move_to_end(key)
            return True, item[0]

    def put(self, key: K, value: V, weight: int = 1) -> None:
        """Remember ``value``, forgetting least recently used entries beyond the bounds."""
        if self.max_weight is not None and weight > self.max_weight:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._weight -= old[1]
            self._items[key] = (value, weight)
            self._weight += weight
            while len(self._items) > self.size or (
                self.max_weight is not None and self._weight > self.max_weight
            ):
                _, (_, dropped) = self._items.popitem(last=False)
                self._weight -= dropped

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._weight = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
