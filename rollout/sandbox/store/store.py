"""The sandbox's in-memory object store: CRUD, patches, resourceVersions, watches.

Semantics follow kube-apiserver: optimistic concurrency (409 on a stale
resourceVersion), generation bumps on spec change, status/scale subresources,
finalizers and deletion propagation. Pure in-memory: no HTTP, never sleeps.
Stored objects are never mutated in place; readers must not mutate what they get.
"""

from __future__ import annotations

import datetime
import random
import threading
import uuid
from collections.abc import Callable
from typing import Any

from rollout.sandbox.kinds import BY_KEY, GENERATION_KINDS, Kind
from rollout.sandbox.store import defaults, errors, strategy
from rollout.sandbox.store.copying import json_copy
from rollout.sandbox.store.selectors import FieldSelector, LabelSelector
from rollout.sandbox.store.table import Table
from rollout.sandbox.store.watch import Event, History, Watcher

Obj = dict[str, Any]
Listener = Callable[[Event], None]
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
PATCH_TYPES = {
    "application/strategic-merge-patch+json": "strategic",
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
}
HISTORY = 50_000  # events a watch can resume from (older resourceVersions: 410 Gone)


def now_iso() -> str:
    """Current time as the API formats timestamps (RFC 3339, seconds, UTC)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """All objects of all kinds, with a single resourceVersion counter."""

    def __init__(self, *, history: int = HISTORY, seed: int | None = None) -> None:
        self.lock = threading.RLock()
        self._table = Table(BY_KEY)
        self._rv = 1
        self._history = History(history)
        self._watchers: set[Watcher] = set()
        self._listeners: list[Listener] = []
        self._random = random.Random(seed)
        self._next_ip = 0
        self._creation: dict[str, int] = {}  # uid -> order of creation (finer than timestamps)

    # -- reads -------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, kind: Kind, namespace: str, name: str) -> Obj:
        """The stored object (read-only) or a 404 ApiError."""
        with self.lock:
            obj = self._table.get(kind.key, self._ns(kind, namespace), name)
        if obj is None:
            raise errors.not_found(kind.plural, kind.group, name)
        return obj

    def find(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        """The stored object or None."""
        with self.lock:
            return self._table.get(kind.key, self._ns(kind, namespace), name)

    def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> tuple[list[Obj], int]:
        """Matching objects sorted by namespace/name, and the list's resourceVersion."""
        with self.lock:
            return self._table.select(kind.key, namespace, labels, fields), self._rv

    def creation_index(self, obj: Obj) -> int:
        """Order in which `obj` was created (ties in creationTimestamp broken exactly)."""
        return self._creation.get(obj["metadata"].get("uid", ""), 0)

    # -- writes ------------------------------------------------------------

    def create(self, kind: Kind, namespace: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Create `obj` (201 semantics); 409 AlreadyExists, 404 for a missing namespace."""
        obj = strategy.prepare_create(kind, strategy.decoded(kind, json_copy(obj)))
        meta = obj.setdefault("metadata", {})
        ns = self._ns(kind, namespace or meta.get("namespace", ""))
        with self.lock:
            if kind.namespaced:
                self._require_namespace(ns)
                meta["namespace"] = ns
            else:  # cluster-scoped: upstream clears a namespace in the body
                meta.pop("namespace", None)
            if not meta.get("name") and meta.get("generateName"):
                suffix = "".join(self._random.choice(NAME_CHARS) for _ in range(5))
                meta["name"] = meta["generateName"] + suffix
            obj = defaults.apply_defaults(kind, obj, in_place=True)
            defaults.validate(kind, obj)
            name = obj["metadata"]["name"]
            if self._table.get(kind.key, ns, name) is not None:
                raise errors.already_exists(kind.plural, kind.group, name)
            self._init_metadata(kind, obj)
            if dry_run:
                return obj
            return self._commit(kind, "ADDED", obj, None)

    def replace(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        obj: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """PUT: full replacement, 409 when metadata.resourceVersion is stale (custom
        resources, like upstream's, refuse an update without one: 422)."""
        with self.lock:
            old = self.get(kind, namespace, name)
            if subresource == "scale":
                return self._write_scale(kind, old, obj, dry_run)
            obj = strategy.decoded(kind, obj)
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if not rv and not kind.builtin:
                raise errors.invalid(
                    kind.kind,
                    kind.group,
                    name,
                    [
                        (
                            "metadata.resourceVersion",
                            "Invalid value: 0x0: must be specified for an update",
                        )
                    ],
                )
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(kind.plural, kind.group, name)
            return self._write(kind, old, json_copy(obj), subresource, dry_run)

    def patch(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        content_type: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """PATCH with one of the three patch types; 415 for strategic merge on custom kinds."""
        style = PATCH_TYPES.get(content_type.split(";")[0].strip())
        if style is None or (style == "strategic" and not kind.builtin):
            raise errors.ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - "
                f"accepted media types include: {_accepted(kind)}",
            )
        with self.lock:
            old = self.get(kind, namespace, name)
            base = self.scale_of(kind, old) if subresource == "scale" else old
            new = strategy.patched(kind, style, base, body, scale=subresource == "scale")
            rv = new["metadata"].get("resourceVersion")
            if rv and rv != base["metadata"]["resourceVersion"]:
                raise errors.conflict(kind.plural, kind.group, name)
            if subresource == "scale":
                return self._write_scale(kind, old, new, dry_run)
            return self._write(kind, old, new, subresource, dry_run)

    def update(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        mutate: Callable[[Obj], None],
        *,
        subresource: str | None = None,
    ) -> Obj:
        """Read-modify-write under the lock (for the sandbox's own controllers)."""
        with self.lock:
            new = json_copy(self.get(kind, namespace, name))
            mutate(new)
            return self._write(kind, self.get(kind, namespace, name), new, subresource, False)

    def delete(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: Obj | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Delete now, or mark deleting when finalizers (or Foreground) hold the object."""
        with self.lock:
            old = self.get(kind, namespace, name)
            pre = preconditions or {}
            meta = old["metadata"]
            if (pre.get("uid") and pre["uid"] != meta["uid"]) or (
                pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]
            ):
                raise errors.conflict(kind.plural, kind.group, name)
            if dry_run:
                return old
            finalizers = list(meta.get("finalizers") or [])
            if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            if propagation == "Orphan":
                self._orphan_dependents(meta["uid"])
            if kind.key == "namespaces" or finalizers:
                if meta.get("deletionTimestamp"):
                    return old
                marked = json_copy(old)
                marked["metadata"]["deletionTimestamp"] = now_iso()
                marked["metadata"]["finalizers"] = finalizers or None
                if kind.key == "namespaces":
                    marked.setdefault("status", {})["phase"] = "Terminating"
                strategy.drop_none(marked["metadata"])
                return self._commit(kind, "MODIFIED", marked, old)
            return self._remove(kind, old)

    def remove(self, kind: Kind, obj: Obj) -> None:
        """Drop `obj` now (finalizers done), emitting DELETED."""
        with self.lock:
            current = self.find(kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            if current is not None:
                self._remove(kind, current)

    # -- watches -----------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(event)` after every commit, under the store lock (keep it cheap)."""
        with self.lock:
            self._listeners.append(listener)

    def watch(
        self,
        kind: Kind,
        namespace: str | None,
        *,
        resource_version: str | None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> Watcher:
        """Start a watch; replays history after `resource_version` or sends current objects."""
        with self.lock:
            watcher = Watcher(kind.key, namespace, labels, fields, self._watchers.discard)
            if resource_version is None or resource_version in ("", "0"):
                items, _ = self.list(kind, namespace, labels=labels, fields=fields)
                for obj in items:
                    watcher.queue.put(("ADDED", obj))
            else:
                try:
                    rv = int(resource_version)
                except ValueError as e:
                    raise errors.bad_request(f"invalid resource version: {resource_version}") from e
                events = self._history.since(rv)
                if events is None:
                    raise errors.gone(f"too old resource version: {rv} ({self._history.oldest})")
                for event in events:
                    watcher.offer(event)
            self._watchers.add(watcher)
            return watcher

    def close_watches(self) -> None:
        """End every open watch stream (server shutdown, or a fault that cuts streams)."""
        with self.lock:
            for watcher in list(self._watchers):
                watcher.close()

    # -- internals ---------------------------------------------------------

    @staticmethod
    def _ns(kind: Kind, namespace: str) -> str:
        return namespace if kind.namespaced else ""

    def _require_namespace(self, ns: str) -> None:
        if not ns:
            raise errors.bad_request(
                "the namespace of the provided object does not match the "
                "namespace sent on the request"
            )
        found = self._table.get("namespaces", "", ns)
        if found is None:
            raise errors.not_found("namespaces", "", ns)
        if found["metadata"].get("deletionTimestamp"):
            raise errors.ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {ns} because it is being terminated",
            )

    def _init_metadata(self, kind: Kind, obj: Obj) -> None:
        meta = obj["metadata"]
        for transient in ("resourceVersion", "deletionTimestamp", "selfLink"):
            meta.pop(transient, None)
        meta["uid"] = str(uuid.UUID(int=self._random.getrandbits(128), version=4))
        meta["creationTimestamp"] = now_iso()
        if kind.key in GENERATION_KINDS or not kind.builtin:
            meta["generation"] = 1
        if kind.key == "services" and obj["spec"].get("clusterIP") in (None, ""):
            self._next_ip += 1
            obj["spec"]["clusterIP"] = defaults.allocate_cluster_ip(self._next_ip)
            obj["spec"]["clusterIPs"] = [obj["spec"]["clusterIP"]]

    def _write(self, kind: Kind, old: Obj, new: Obj, subresource: str | None, dry_run: bool) -> Obj:
        if subresource != "status":
            new = defaults.apply_defaults(kind, new, in_place=True)
        new = strategy.prepare_update(kind, old, new, subresource)
        if new == old:
            return old
        defaults.validate(kind, new, old)
        if dry_run:
            return new
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(kind, new)
        return self._commit(kind, "MODIFIED", new, old)

    def scale_of(self, kind: Kind, obj: Obj) -> Obj:
        """The autoscaling/v1 Scale view of a Deployment or ReplicaSet."""
        return strategy.scale_of(obj)

    def _write_scale(self, kind: Kind, old: Obj, scale: Obj, dry_run: bool) -> Obj:
        new = strategy.scaled(kind, old, scale)
        return strategy.scale_of(self._write(kind, old, new, None, dry_run))

    def _commit(self, kind: Kind, type_: str, obj: Obj, old: Obj | None) -> Obj:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        meta = obj["metadata"]
        self._table.put(kind.key, obj)
        if type_ == "ADDED":
            self._creation[meta["uid"]] = self._rv
        self._publish(Event(type_, kind.key, meta.get("namespace", ""), obj, self._rv, old))
        return obj

    def _remove(self, kind: Kind, obj: Obj) -> Obj:
        meta = obj["metadata"]
        self._table.pop(kind.key, obj)
        self._creation.pop(meta.get("uid", ""), None)
        self._rv += 1
        gone = json_copy(obj)
        gone["metadata"]["resourceVersion"] = str(self._rv)
        self._publish(Event("DELETED", kind.key, meta.get("namespace", ""), gone, self._rv))
        return gone

    def _publish(self, event: Event) -> None:
        self._history.append(event)
        for watcher in list(self._watchers):
            watcher.offer(event)
        for listener in self._listeners:
            listener(event)

    def _orphan_dependents(self, uid: str) -> None:
        for key, obj in self._table.every():
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == uid for r in refs):
                new = json_copy(obj)
                kept = [r for r in refs if r.get("uid") != uid]
                new["metadata"]["ownerReferences"] = kept or None
                strategy.drop_none(new["metadata"])
                self._commit(BY_KEY[key], "MODIFIED", new, obj)


def _accepted(kind: Kind) -> str:
    types = ["application/json-patch+json", "application/merge-patch+json"]
    if kind.builtin:
        types.append("application/strategic-merge-patch+json")
    return ", ".join(types)
