"""Runs the sandbox controllers: store events and timers -> reconcile calls, one thread.

Each controller maps events to keys of the objects it owns and reconciles one key
at a time; a reconcile may ask to be called again after a sandbox delay. Work is
first-in first-out, except that a controller may mark an event urgent: its keys jump
the queue (the ReplicaSet controller does so for scale-downs, so old pods go before
new ones come, as kube-controller-manager's parallel workers usually manage).
"""

from __future__ import annotations

import collections
import heapq
import itertools
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Protocol

from rollout.sandbox.clock import Clock
from rollout.sandbox.store import errors
from rollout.sandbox.store.store import Store
from rollout.sandbox.store.watch import Event

Key = tuple[str, str]  # (namespace, name)


class Controller(Protocol):
    """A reconciler for one kind."""

    name: str

    def keys_for(self, event: Event) -> Iterable[Key]:
        """Keys to reconcile because of `event` (called under the store lock: keep it cheap)."""

    def reconcile(self, key: Key) -> float | None:
        """Converge one object; return a sandbox delay to be called again, or None."""


class Prioritizing(Protocol):
    """A controller some of whose events must be handled before the rest of the queue
    (optional: the manager looks for an `urgent` method)."""

    def urgent(self, event: Event) -> bool:
        """Whether the keys for `event` go to the front of the queue (keep it cheap)."""


class Manager:
    """A work queue with de-duplication and timers, drained by one thread."""

    def __init__(self, store: Store, clock: Clock, controllers: list[Controller]) -> None:
        self.store, self.clock, self.controllers = store, clock, controllers
        self.failures: list[str] = []  # tracebacks of reconciles that crashed
        self._urgent: dict[str, Callable[[Event], bool]] = {
            c.name: urgent for c in controllers if callable(urgent := getattr(c, "urgent", None))
        }
        self._cond = threading.Condition()
        self._queue: collections.deque[tuple[Controller, Key]] = collections.deque()
        self._queued: set[tuple[str, Key]] = set()
        self._timers: list[tuple[float, int, Controller, Key]] = []
        self._seq = itertools.count()
        self._stopping = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="sandbox-controllers", daemon=True)

    def start(self) -> None:
        self.store.add_listener(self._on_event)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def enqueue(self, controller: Controller, key: Key, *, first: bool = False) -> None:
        """Reconcile `key` soon (once, however often it is asked before it runs); with
        `first`, before everything else queued."""
        with self._cond:
            item = (controller, key)
            if (controller.name, key) in self._queued:
                if not first:
                    return
                self._queue.remove(item)
            self._queued.add((controller.name, key))
            if first:
                self._queue.appendleft(item)
            else:
                self._queue.append(item)
            self._cond.notify()

    def after(self, controller: Controller, key: Key, sandbox_seconds: float) -> None:
        """Reconcile `key` after a sandbox delay."""
        due = self.clock.now() + self.clock.real(sandbox_seconds)
        with self._cond:
            heapq.heappush(self._timers, (due, next(self._seq), controller, key))
            self._cond.notify()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until nothing is queued or running (timers may remain); False on timeout."""
        deadline = self.clock.now() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - self.clock.now()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _on_event(self, event: Event) -> None:
        for controller in self.controllers:
            urgent = self._urgent.get(controller.name)
            first = urgent is not None and urgent(event)
            for key in controller.keys_for(event):
                self.enqueue(controller, key, first=first)

    def _next(self) -> tuple[Controller, Key] | None:
        with self._cond:
            while not self._stopping:
                now = self.clock.now()
                while self._timers and self._timers[0][0] <= now:
                    _, _, controller, key = heapq.heappop(self._timers)
                    if (controller.name, key) not in self._queued:
                        self._queued.add((controller.name, key))
                        self._queue.append((controller, key))
                if self._queue:
                    controller, key = self._queue.popleft()
                    self._queued.discard((controller.name, key))
                    self._busy = True
                    return controller, key
                self._busy = False
                self._cond.notify_all()
                wait = self._timers[0][0] - now if self._timers else None
                self._cond.wait(wait)
            return None

    def _run(self) -> None:
        while (item := self._next()) is not None:
            controller, key = item
            try:
                delay = controller.reconcile(key)
            except errors.ApiError:  # lost a race with a client write: try again
                delay = 0.0
            except Exception:  # the one broad catch: a crashed reconcile must not stop the rest
                self.failures.append(traceback.format_exc())
                delay = None
            if delay is not None:
                self.after(controller, key, delay)
