"""Watch streams: one JSON event per chunk until the timeout, a cut, or the watcher closes.

Like kube-apiserver, a resourceVersion too old to resume from is answered with 200 and a
single ERROR event carrying a 410 Expired Status; Table watches send column definitions
with the first event only.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from typing import Any

from rollout.sandbox.api import negotiate, params, routes, tables, verbs
from rollout.sandbox.store import errors
from rollout.sandbox.store.store import Store
from rollout.sandbox.store.watch import CLOSED, Watcher

Obj = dict[str, Any]
Write = Callable[[bytes], None]
POLL = 1.0  # seconds between deadline checks while no event arrives


def open_watch(store: Store, route: routes.Route, query: dict[str, str]) -> Watcher | Obj:
    """A watcher for the request, or the ERROR event to send instead (410 Expired).
    Raises ApiError for requests that fail before the stream starts (400)."""
    if route.name:
        by_name = f"metadata.name={route.name}"
        query = {
            **query,
            "fieldSelector": ",".join(s for s in (query.get("fieldSelector"), by_name) if s),
        }
    labels, fields = params.selectors(query, route.kind.kind, builtin=route.kind.builtin)
    try:
        return store.watch(
            route.kind,
            route.namespace,
            resource_version=query.get("resourceVersion"),
            labels=labels,
            fields=fields,
        )
    except errors.ApiError as e:
        if e.code != 410:
            raise
        return {"type": "ERROR", "object": e.status()}


class Encoder:
    """Turns store events into the wire form the request asked for."""

    def __init__(self, route: routes.Route, target: negotiate.Target, include: str) -> None:
        self.route, self.target, self.include = route, target, include
        self._headers = True

    def encode(self, type_: str, obj: Obj) -> bytes:
        """One watch event line; a Table carries its columns only the first time."""
        out = verbs.versioned(obj, self.route)
        if self.target.shape is negotiate.As.TABLE:
            out = tables.table(
                self.route.kind,
                [out],
                resource_version=str(out["metadata"].get("resourceVersion", "")),
                include=self.include,
                version=self.target.version,
                headers=self._headers,
            )
            self._headers = False
        elif self.target.shape is negotiate.As.PARTIAL:
            out = tables.partial(out, self.target.version)
        return json.dumps({"type": type_, "object": out}, separators=(",", ":")).encode() + b"\n"


def pump(
    watcher: Watcher,
    encoder: Encoder,
    write: Write,
    *,
    timeout: float | None,
    cut_after: Callable[[], float | None],
) -> None:
    """Write events until `timeout` seconds pass, the fault cut fires, or the watcher
    closes. Connection errors propagate to the caller."""
    start = time.monotonic()
    while True:
        limits = [t for t in (timeout, cut_after()) if t is not None]
        wait = min(limits) - (time.monotonic() - start) if limits else POLL
        if limits and wait <= 0:
            return
        try:
            item = watcher.queue.get(timeout=min(wait, POLL))
        except queue.Empty:  # re-check the deadlines
            continue
        if item is CLOSED:
            return
        type_, obj = item
        write(encoder.encode(type_, obj))
