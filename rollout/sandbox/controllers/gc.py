"""Garbage collection and namespace deletion.

Dependents whose every owner is gone are deleted (background propagation);
objects held by `foregroundDeletion` lose the finalizer once their dependents are
gone; a terminating namespace is emptied, then removed.

Like upstream's graph builder, the collector keeps an index of every object by uid and
of dependents by owner uid, fed by the store's events, so a deletion costs the size of
its dependents, not of the whole store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from rollout.sandbox import kinds
from rollout.sandbox.controllers.manager import Key
from rollout.sandbox.store.store import Store
from rollout.sandbox.store.watch import Event

Obj = dict[str, Any]
Where = tuple[str, str, str]  # (kind key, namespace, name)
NAMESPACE = kinds.BY_KEY["namespaces"]
FOREGROUND = "foregroundDeletion"


class GarbageCollector:
    """Reconciles by owner uid: key is ("", uid) for owners, (ns, "") for namespaces."""

    name = "gc"

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._primed = False
        self._where: dict[str, Where] = {}  # uid -> where the object is
        self._owners: dict[str, tuple[str, ...]] = {}  # uid -> its owners' uids
        self._dependents: dict[str, set[str]] = {}  # owner uid -> dependents' uids

    def keys_for(self, event: Event) -> Iterable[Key]:
        meta = event.obj["metadata"]
        self._index(event)
        if event.key == NAMESPACE.key:
            return [(meta["name"], "")] if meta.get("deletionTimestamp") else []
        keys: list[Key] = []
        if event.type == "DELETED" or FOREGROUND in (meta.get("finalizers") or []):
            keys.append(("", meta["uid"]))
        if event.type == "DELETED":
            for ref in meta.get("ownerReferences") or []:  # a dependent went: re-check owner
                keys.append(("", str(ref.get("uid"))))
        return keys

    def reconcile(self, key: Key) -> float | None:
        namespace, uid = key
        if uid:
            self._collect(uid)
        else:
            self._empty_namespace(namespace)
        return None

    # -- the uid index -------------------------------------------------------

    def _index(self, event: Event) -> None:
        """Follow one committed change (called under the store lock, in commit order)."""
        with self._lock:
            if not self._primed:  # objects made before the controllers started
                self._primed = True
                for kind in kinds.KINDS:
                    for obj in self.store.list(kind)[0]:
                        self._put(kind.key, obj)
            if event.type == "DELETED":
                self._drop(str(event.obj["metadata"].get("uid")))
            else:
                self._put(event.key, event.obj)

    def _put(self, key: str, obj: Obj) -> None:
        meta = obj["metadata"]
        uid = str(meta.get("uid"))
        self._drop(uid)
        self._where[uid] = (key, meta.get("namespace", ""), meta["name"])
        owners = tuple(str(r.get("uid")) for r in meta.get("ownerReferences") or [])
        if owners:
            self._owners[uid] = owners
            for owner in owners:
                self._dependents.setdefault(owner, set()).add(uid)

    def _drop(self, uid: str) -> None:
        self._where.pop(uid, None)
        for owner in self._owners.pop(uid, ()):
            dependents = self._dependents.get(owner)
            if dependents is not None:
                dependents.discard(uid)
                if not dependents:
                    del self._dependents[owner]

    def _find_uid(self, uid: str) -> tuple[kinds.Kind, Obj] | None:
        with self._lock:
            where = self._where.get(uid)
        if where is None:
            return None
        kind = kinds.BY_KEY[where[0]]
        obj = self.store.find(kind, where[1], where[2])
        return (kind, obj) if obj is not None and obj["metadata"].get("uid") == uid else None

    def _dependents_of(self, uid: str) -> list[tuple[kinds.Kind, Obj]]:
        with self._lock:
            uids = sorted(self._dependents.get(uid, ()))
        return [found for dep in uids if (found := self._find_uid(dep)) is not None]

    # -- collection ------------------------------------------------------------

    def _collect(self, uid: str) -> None:
        owner = self._find_uid(uid)
        dependents = self._dependents_of(uid)
        if owner is None:
            for kind, obj in dependents:
                refs = obj["metadata"].get("ownerReferences") or []
                if all(self._find_uid(str(r.get("uid"))) is None for r in refs):
                    self._delete(kind, obj)
            return
        kind, obj = owner
        if obj["metadata"].get("deletionTimestamp") and FOREGROUND in (
            obj["metadata"].get("finalizers") or []
        ):
            for dep_kind, dep in dependents:
                self._delete(dep_kind, dep, propagation="Foreground")
            if not dependents:
                self.store.update(
                    kind,
                    obj["metadata"].get("namespace", ""),
                    obj["metadata"]["name"],
                    _drop_foreground,
                )

    def _empty_namespace(self, namespace: str) -> None:
        ns = self.store.find(NAMESPACE, "", namespace)
        if ns is None:
            return
        for kind in kinds.KINDS:
            if kind.namespaced:
                for obj in self.store.list(kind, namespace)[0]:
                    self._delete(kind, obj)
        self.store.remove(NAMESPACE, ns)

    def _delete(self, kind: kinds.Kind, obj: Obj, propagation: str | None = None) -> None:
        meta = obj["metadata"]
        if self.store.find(kind, meta.get("namespace", ""), meta["name"]) is not None:
            self.store.delete(
                kind, meta.get("namespace", ""), meta["name"], propagation=propagation
            )


def _drop_foreground(obj: Obj) -> None:
    finalizers = [f for f in obj["metadata"].get("finalizers") or [] if f != FOREGROUND]
    if finalizers:
        obj["metadata"]["finalizers"] = finalizers
    else:
        obj["metadata"].pop("finalizers", None)
