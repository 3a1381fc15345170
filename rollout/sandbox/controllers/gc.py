"""Garbage collection and namespace deletion.

Dependents whose every owner is gone are deleted (background propagation);
objects held by `foregroundDeletion` lose the finalizer once their dependents are
gone; a terminating namespace is emptied, then removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rollout.sandbox import kinds
from rollout.sandbox.controllers.manager import Key
from rollout.sandbox.store.store import Store
from rollout.sandbox.store.watch import Event

Obj = dict[str, Any]
NAMESPACE = kinds.BY_KEY["namespaces"]
FOREGROUND = "foregroundDeletion"


class GarbageCollector:
    """Reconciles by owner uid: key is ("", uid) for owners, (ns, "") for namespaces."""

    name = "gc"

    def __init__(self, store: Store) -> None:
        self.store = store

    def keys_for(self, event: Event) -> Iterable[Key]:
        meta = event.obj["metadata"]
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

    def _collect(self, uid: str) -> None:
        owner = self._find_uid(uid)
        dependents = self._dependents(uid)
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

    def _find_uid(self, uid: str) -> tuple[kinds.Kind, Obj] | None:
        for kind in kinds.KINDS:
            for obj in self.store.list(kind)[0]:
                if obj["metadata"].get("uid") == uid:
                    return kind, obj
        return None

    def _dependents(self, uid: str) -> list[tuple[kinds.Kind, Obj]]:
        return [
            (kind, obj)
            for kind in kinds.KINDS
            for obj in self.store.list(kind)[0]
            if any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])
        ]


def _drop_foreground(obj: Obj) -> None:
    finalizers = [f for f in obj["metadata"].get("finalizers") or [] if f != FOREGROUND]
    if finalizers:
        obj["metadata"]["finalizers"] = finalizers
    else:
        obj["metadata"].pop("finalizers", None)
