"""Feeds the traffic model from the store: snapshot the cluster, tick, on a timer thread.

The only traffic module that reads the store; the model itself stays pure.
"""

from __future__ import annotations

import threading
from typing import Any

from rollout.sandbox import kinds
from rollout.sandbox.clock import Clock
from rollout.sandbox.controllers import pods as podfacts
from rollout.sandbox.store.store import Store
from rollout.sandbox.traffic import exposition
from rollout.sandbox.traffic import snapshot as snap
from rollout.sandbox.traffic.model import TrafficModel

Obj = dict[str, Any]
K = kinds.BY_KEY


def take_snapshot(store: Store, pods_cache: PodCache | None = None) -> snap.ClusterSnapshot:
    """What the traffic model needs, read from the store in one go.

    Pass the same `pods_cache` to every call so unchanged pods are not converted again.
    """
    with store.lock:
        namespaces = store.list(K["namespaces"])[0]
        pods = store.list(K["pods"])[0]
        replicasets = store.list(K["replicasets.apps"])[0]
        endpoints = store.list(K["endpoints"])[0]
        services = store.list(K["services"])[0]
        vss = store.list(K["virtualservices.networking.istio.io"])[0]
        drs = store.list(K["destinationrules.networking.istio.io"])[0]
    istio = {
        n["metadata"]["name"]
        for n in namespaces
        if (n["metadata"].get("labels") or {}).get("istio-injection") == "enabled"
    }
    rs_owner = {r["metadata"]["uid"]: _controller_name(r) for r in replicasets}
    ep_by_key = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in endpoints}
    return snap.ClusterSnapshot(
        pods=(pods_cache if pods_cache is not None else PodCache()).convert(pods, rs_owner, istio),
        services=tuple(
            snap.ServiceSnapshot(
                s["metadata"]["namespace"],
                s["metadata"]["name"],
                _ready_names(ep_by_key.get((s["metadata"]["namespace"], s["metadata"]["name"]))),
            )
            for s in services
        ),
        virtual_services=tuple(
            snap.VirtualServiceSnapshot(
                v["metadata"]["namespace"], v["metadata"]["name"], v.get("spec") or {}
            )
            for v in vss
        ),
        destination_rules=tuple(
            snap.DestinationRuleSnapshot(
                d["metadata"]["namespace"],
                d["metadata"]["name"],
                str((d.get("spec") or {}).get("host", "")),
                tuple(
                    snap.SubsetSnapshot(str(s.get("name", "")), dict(s.get("labels") or {}))
                    for s in (d.get("spec") or {}).get("subsets") or []
                ),
            )
            for d in drs
        ),
    )


class PodCache:
    """PodSnapshots of the last call, reused while a pod's resourceVersion stays the same
    (stored objects are never mutated); emptied when ReplicaSet owners or the set of
    istio-injected namespaces change, since those feed every snapshot."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[str, snap.PodSnapshot]] = {}
        self._inputs: tuple[dict[str, str], set[str]] = ({}, set())

    def convert(
        self, pods: list[Obj], rs_owner: dict[str, str], istio: set[str]
    ) -> tuple[snap.PodSnapshot, ...]:
        """Snapshots of the pods that have an IP, in the order given."""
        if self._inputs != (rs_owner, istio):
            self._entries, self._inputs = {}, (rs_owner, istio)
        entries: dict[tuple[str, str], tuple[str, snap.PodSnapshot]] = {}
        for pod in pods:
            meta = pod["metadata"]
            key, rv = (meta["namespace"], meta["name"]), str(meta.get("resourceVersion"))
            cached = self._entries.get(key)
            if cached is not None and cached[0] == rv:
                entries[key] = cached
            elif (pod.get("status") or {}).get("podIP"):
                workload = rs_owner.get(podfacts.owner_uid(pod) or "", "")
                entries[key] = (rv, _pod(pod, workload=workload, istio=key[0] in istio))
        self._entries = entries
        return tuple(snapshot for _, snapshot in entries.values())


def _controller_name(obj: Obj) -> str:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("name", ""))
    return ""


def _pod(pod: Obj, *, workload: str, istio: bool) -> snap.PodSnapshot:
    meta = pod["metadata"]
    containers = pod["spec"].get("containers") or [{}]
    return snap.PodSnapshot(
        namespace=meta["namespace"],
        name=meta["name"],
        ip=pod["status"]["podIP"],
        labels=dict(meta.get("labels") or {}),
        image=str(containers[0].get("image", "")),
        ready=podfacts.is_ready(pod),
        workload=workload,
        istio=istio,
    )


def _ready_names(endpoints: Obj | None) -> tuple[str, ...]:
    if endpoints is None:
        return ()
    return tuple(
        a["targetRef"]["name"]
        for s in endpoints.get("subsets") or []
        for a in s.get("addresses") or []
        if a.get("targetRef")
    )


class TrafficFeed:
    """Ticks the model every `interval` real seconds on its own thread."""

    def __init__(
        self, store: Store, model: TrafficModel, clock: Clock, interval: float = 0.1
    ) -> None:
        self.store, self.model, self.clock, self.interval = store, model, clock, interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._last = clock.now()
        self._pods = PodCache()
        self._thread = threading.Thread(target=self._run, name="sandbox-traffic", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def tick(self) -> None:
        """Advance the model to now (also called before each scrape)."""
        with self._lock:
            now = self.clock.now()
            self.model.tick(take_snapshot(self.store, self._pods), now - self._last)
            self._last = now

    def send(self, namespace: str, service: str, count: int) -> None:
        """Send exactly `count` requests to Service `namespace/service` now (for tests)."""
        with self._lock:
            self.model.send(take_snapshot(self.store, self._pods), namespace, service, count)

    def render(self) -> str:
        """The /metrics text, up to date."""
        self.tick()
        with self._lock:
            return exposition.render(self.model.series())

    def requests_by_pod(self) -> dict[str, int]:
        """Requests each pod received since start, keyed `namespace/name`."""
        with self._lock:
            return self.model.requests_by_pod()

    def _run(self) -> None:
        while not self.clock.wait(self._stop, self.interval):
            self.tick()
