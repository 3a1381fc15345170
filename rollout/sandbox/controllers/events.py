"""Kubernetes Events the sandbox's controllers record, like client-go's EventRecorder.

core/v1 Events about an object (`involvedObject`), named `<object>.<hex>`; a repeat of
the same type, reason and message on the same object bumps `count` and
`lastTimestamp` instead of adding an Event (client-go's aggregation). This is what
`kubectl describe` lists under "Events:".
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from rollout.sandbox import kinds
from rollout.sandbox.store.store import Store, now_iso

Obj = dict[str, Any]
EVENT = kinds.BY_KEY["events"]
NORMAL, WARNING = "Normal", "Warning"
_REMEMBERED = 4096  # aggregation keys kept; older repeats start a new Event, as upstream's LRU


class EventRecorder:
    """Records Events from one component (`deployment-controller`, `kubelet`, ...)."""

    def __init__(self, store: Store, component: str, *, host: str = "") -> None:
        self.store, self.component, self.host = store, component, host
        self._seq = itertools.count(time.time_ns())
        self._seen: dict[tuple[str, str, str, str], str] = {}  # (uid, type, reason, msg) -> name

    def record(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        """Record that `reason`/`message` happened to `obj` (Normal or Warning)."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (meta["uid"], type_, reason, message)
        existing = self.store.find(EVENT, namespace, self._seen.get(key, ""))
        if existing is not None:
            self.store.update(EVENT, namespace, existing["metadata"]["name"], _repeat)
            return
        name = f"{meta['name']}.{next(self._seq):x}"
        if len(self._seen) >= _REMEMBERED:
            for old in list(self._seen)[: _REMEMBERED // 2]:
                del self._seen[old]
        self._seen[key] = name
        self.store.create(EVENT, namespace, self._event(obj, name, type_, reason, message))

    def _event(self, obj: Obj, name: str, type_: str, reason: str, message: str) -> Obj:
        meta, now = obj["metadata"], now_iso()
        involved = {
            "kind": obj["kind"],
            "namespace": meta.get("namespace"),
            "name": meta["name"],
            "uid": meta["uid"],
            "apiVersion": obj["apiVersion"],
            "resourceVersion": meta.get("resourceVersion"),
        }
        source = {"component": self.component, **({"host": self.host} if self.host else {})}
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": meta.get("namespace") or "default"},
            "involvedObject": {k: v for k, v in involved.items() if v is not None},
            "reason": reason,
            "message": message,
            "type": type_,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "eventTime": None,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }


def _repeat(event: Obj) -> None:
    event["count"] = event.get("count", 1) + 1
    event["lastTimestamp"] = now_iso()
