"""Watch fan-out: events, per-client filtered queues and the bounded history for resuming.

A Watcher turns store events into what one client should see (selector transitions
become ADDED/DELETED, like the real server). No HTTP, no sleeping.
"""

from __future__ import annotations

import collections
import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rollout.sandbox.store.selectors import FieldSelector, LabelSelector

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Event:
    """One committed change: ADDED, MODIFIED or DELETED of `obj` at resourceVersion `rv`."""

    type: str
    key: str  # Kind.key
    namespace: str
    obj: Obj
    rv: int
    old: Obj | None = None


CLOSED = object()  # put on a watcher's queue to end its stream


class Watcher:
    """A filtered stream of events for one watch request."""

    def __init__(
        self,
        key: str,
        namespace: str | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
        on_close: Callable[[Watcher], None],
    ) -> None:
        self.key = key
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.queue: queue.Queue[Any] = queue.Queue()
        self._on_close = on_close
        self.closed = False

    def _matches(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata", {})
        if self.labels is not None and not self.labels.matches(meta.get("labels") or {}):
            return False
        return self.fields is None or self.fields.matches(obj)

    def offer(self, event: Event) -> None:
        """Queue what this client should see of `event` (possibly nothing)."""
        if event.key != self.key or self.closed:
            return
        if self.namespace is not None and event.namespace != self.namespace:
            return
        now = self._matches(event.obj)
        if event.type == "MODIFIED" and event.old is not None:
            before = self._matches(event.old)
            if before and not now:
                self.queue.put(("DELETED", event.obj))
            elif now and not before:
                self.queue.put(("ADDED", event.obj))
            elif now:
                self.queue.put(("MODIFIED", event.obj))
        elif now:
            self.queue.put((event.type, event.obj))

    def close(self) -> None:
        """Stop the stream: the reader sees CLOSED next."""
        if not self.closed:
            self.closed = True
            self._on_close(self)
            self.queue.put(CLOSED)


class History:
    """The last `size` events, for resuming a watch from a resourceVersion."""

    def __init__(self, size: int) -> None:
        self._events: collections.deque[Event] = collections.deque(maxlen=size)

    def append(self, event: Event) -> None:
        self._events.append(event)

    def since(self, rv: int) -> list[Event] | None:
        """Events after `rv`, or None when some of them were already dropped (410 Gone)."""
        if (
            self._events
            and self._events[0].rv > rv + 1
            and len(self._events) == self._events.maxlen
        ):
            return None
        return [e for e in self._events if e.rv > rv]

    @property
    def oldest(self) -> int:
        return self._events[0].rv if self._events else 0
