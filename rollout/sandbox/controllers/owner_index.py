"""Objects of one kind by controlling owner, kept current from the store's events.

What the ReplicaSet controller needs on every reconcile is the pods one ReplicaSet
controls, plus the orphans it might adopt (and the Deployment controller the same for
ReplicaSets); a scan of the namespace for each costs the namespace's size. Like the
garbage collector's uid graph (`gc.py`), this index follows every committed change in
commit order (a store listener), so a lookup costs only the objects it returns.
"""

from __future__ import annotations

from typing import Any, TypeVar

from rollout.sandbox.controllers import pods as podfacts
from rollout.sandbox.kinds import Kind
from rollout.sandbox.store.store import Store
from rollout.sandbox.store.watch import Event

Obj = dict[str, Any]
ObjKey = tuple[str, str]  # (namespace, name)
K = TypeVar("K")
V = TypeVar("V")


class OwnerIndex:
    """Keys of one kind's objects by controlling owner uid, and orphans by namespace.

    A store listener from construction on; reads and writes happen under the store's
    lock, so the index always agrees with what the store holds."""

    def __init__(self, store: Store, kind: Kind) -> None:
        self.store, self.kind = store, kind
        self._owner_of: dict[ObjKey, str | None] = {}  # object -> its controller's uid
        self._controlled: dict[str, set[ObjKey]] = {}  # controller uid -> its objects
        self._orphans: dict[str, set[str]] = {}  # namespace -> names of uncontrolled objects
        with store.lock:
            for obj in store.list(kind)[0]:
                meta = obj["metadata"]
                self._add((meta.get("namespace", ""), meta["name"]), podfacts.owner_uid(obj))
            store.add_listener(self._follow)

    def _follow(self, event: Event) -> None:
        """Index one committed change (called under the store lock, in commit order)."""
        if event.key != self.kind.key:
            return
        key = (event.namespace, event.obj["metadata"]["name"])
        self._drop(key)
        if event.type != "DELETED":
            self._add(key, podfacts.owner_uid(event.obj))

    def controlled_by(self, namespace: str, uid: str) -> list[Obj]:
        """The objects of `namespace` whose controlling owner has `uid`, by name."""
        with self.store.lock:
            names = sorted(name for ns, name in self._controlled.get(uid, ()) if ns == namespace)
            return self._found(namespace, names)

    def orphans(self, namespace: str) -> list[Obj]:
        """The objects of `namespace` that no controller owns, by name."""
        with self.store.lock:
            return self._found(namespace, sorted(self._orphans.get(namespace, ())))

    def _found(self, namespace: str, names: list[str]) -> list[Obj]:
        found = (self.store.find(self.kind, namespace, name) for name in names)
        return [obj for obj in found if obj is not None]

    def _add(self, key: ObjKey, owner: str | None) -> None:
        self._owner_of[key] = owner
        if owner is None:
            self._orphans.setdefault(key[0], set()).add(key[1])
        else:
            self._controlled.setdefault(owner, set()).add(key)

    def _drop(self, key: ObjKey) -> None:
        if key not in self._owner_of:
            return
        owner = self._owner_of.pop(key)
        if owner is None:
            _discard(self._orphans, key[0], key[1])
        else:
            _discard(self._controlled, owner, key)


def _discard(index: dict[K, set[V]], at: K, member: V) -> None:
    """Remove `member` from the set at `at`, and the set once it is empty."""
    members = index.get(at)
    if members is not None:
        members.discard(member)
        if not members:
            del index[at]
