"""take_snapshot over an in-memory store: what the model sees, and the pod cache."""

from __future__ import annotations

from typing import Any

from rollout.sandbox import kinds
from rollout.sandbox.store.store import Store
from rollout.sandbox.traffic.feed import PodCache, take_snapshot

K = kinds.BY_KEY
NS = "shop"


def make_store() -> Store:
    store = Store(seed=0)
    store.create(K["namespaces"], "", {"metadata": {"name": NS}})
    rs = store.create(K["replicasets.apps"], NS, {
        "metadata": {"name": "web-abc", "labels": {"app": "web"}, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d1",
             "controller": True}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "app:v1"}]}}},
    })  # fmt: skip
    store.create(K["pods"], NS, {
        "metadata": {"name": "web-abc-1", "labels": {"app": "web"}, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc",
             "uid": rs["metadata"]["uid"], "controller": True}]},
        "spec": {"containers": [{"name": "app", "image": "app:v1"}]},
    })  # fmt: skip
    return store


def set_status(store: Store, ready: bool) -> None:
    def mutate(pod: dict[str, Any]) -> None:
        pod["status"] = {"podIP": "10.0.0.7", "conditions": [
            {"type": "Ready", "status": "True" if ready else "False"}]}  # fmt: skip

    store.update(K["pods"], NS, "web-abc-1", mutate, subresource="status")


def test_snapshot_holds_only_pods_with_an_ip_and_names_their_deployment() -> None:
    store = make_store()
    assert take_snapshot(store).pods == ()

    set_status(store, ready=False)
    (pod,) = take_snapshot(store).pods

    assert (pod.name, pod.ip, pod.workload, pod.ready, pod.istio) == (
        "web-abc-1", "10.0.0.7", "web", False, False
    )  # fmt: skip


def test_pod_cache_reuses_unchanged_pods_and_rebuilds_changed_ones() -> None:
    store, cache = make_store(), PodCache()
    set_status(store, ready=False)
    first = take_snapshot(store, cache).pods[0]

    assert take_snapshot(store, cache).pods[0] is first
    set_status(store, ready=True)
    assert take_snapshot(store, cache).pods[0].ready is True


def test_pod_cache_notices_a_namespace_becoming_istio_injected() -> None:
    store, cache = make_store(), PodCache()
    set_status(store, ready=True)
    assert take_snapshot(store, cache).pods[0].istio is False

    store.update(K["namespaces"], "", NS, lambda ns: ns["metadata"].update(
        labels={"istio-injection": "enabled"}))  # fmt: skip

    assert take_snapshot(store, cache).pods[0].istio is True
