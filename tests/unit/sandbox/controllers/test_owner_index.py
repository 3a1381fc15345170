"""OwnerIndex over an in-memory store: controlled objects and orphans, always current."""

from __future__ import annotations

from typing import Any

from rollout.sandbox import kinds
from rollout.sandbox.controllers import pods as podfacts
from rollout.sandbox.controllers.owner_index import OwnerIndex
from rollout.sandbox.store.store import Store

Obj = dict[str, Any]
K = kinds.BY_KEY
POD = K["pods"]


def owner(uid: str) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": uid, "uid": uid}}


def pod(name: str, owned_by: str | None = None) -> Obj:
    meta: Obj = {"name": name}
    if owned_by is not None:
        meta["ownerReferences"] = [podfacts.owner_ref(owner(owned_by))]
    return {"metadata": meta, "spec": {"containers": [{"name": "app", "image": "app:v1"}]}}


def store_with(*namespaces: str) -> Store:
    store = Store(seed=0)
    for ns in namespaces:
        store.create(K["namespaces"], "", {"metadata": {"name": ns}})
    return store


def names(objs: list[Obj]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


def test_index_starts_from_what_the_store_holds_and_follows_every_write() -> None:
    store = store_with("a", "b")
    store.create(POD, "a", pod("p2", owned_by="rs1"))
    index = OwnerIndex(store, POD)
    store.create(POD, "a", pod("p1", owned_by="rs1"))
    store.create(POD, "b", pod("p3", owned_by="rs1"))  # another namespace: not rs1's here
    store.create(POD, "a", pod("lone"))

    assert names(index.controlled_by("a", "rs1")) == ["p1", "p2"]
    assert names(index.orphans("a")) == ["lone"]
    assert index.orphans("b") == [] and index.controlled_by("a", "rs2") == []


def test_adoption_release_and_deletion_move_objects_between_owners() -> None:
    store = store_with("a")
    index = OwnerIndex(store, POD)
    store.create(POD, "a", pod("p"))
    store.update(POD, "a", "p", lambda o: podfacts.add_owner(o, owner("rs1")))
    assert names(index.controlled_by("a", "rs1")) == ["p"] and index.orphans("a") == []

    store.update(POD, "a", "p", lambda o: o["metadata"].pop("ownerReferences"))
    assert index.controlled_by("a", "rs1") == [] and names(index.orphans("a")) == ["p"]

    store.delete(POD, "a", "p")
    assert index.orphans("a") == []


def test_lookups_return_the_current_stored_objects() -> None:
    store = store_with("a")
    index = OwnerIndex(store, POD)
    store.create(POD, "a", pod("p", owned_by="rs1"))
    relabelled = store.update(POD, "a", "p", lambda o: o["metadata"].update(labels={"x": "y"}))

    assert index.controlled_by("a", "rs1") == [relabelled]
