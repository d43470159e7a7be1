"""A bounded memory of recently seen killmail ids: the cheap first check before the store."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["RecentIds"]


class RecentIds:
    def __init__(self, capacity: int = 50_000) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._ids: OrderedDict[int, None] = OrderedDict()

    def __contains__(self, killmail_id: object) -> bool:
        return killmail_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, killmail_id: int) -> None:
        self._ids[killmail_id] = None
        self._ids.move_to_end(killmail_id)
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
