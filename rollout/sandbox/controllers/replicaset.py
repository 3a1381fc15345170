"""ReplicaSet controller: keep spec.replicas pods alive and report their readiness.

Creates pods from the template with a controlling ownerReference, deletes the least
useful pods first (not ready before ready, newest first), writes status.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Iterable
from typing import Any

from rollout.sandbox import kinds
from rollout.sandbox.clock import Clock
from rollout.sandbox.controllers import pods as podfacts
from rollout.sandbox.controllers.events import NORMAL, EventRecorder
from rollout.sandbox.controllers.manager import Key
from rollout.sandbox.controllers.owner_index import OwnerIndex
from rollout.sandbox.store.selectors import SelectorError, label_selector_from_object
from rollout.sandbox.store.store import NAME_CHARS, Store
from rollout.sandbox.store.watch import Event

Obj = dict[str, Any]
RS = kinds.BY_KEY["replicasets.apps"]
POD = kinds.BY_KEY["pods"]


class ReplicaSetController:
    """Reconciles ReplicaSets against the pods they own."""

    name = "replicaset"

    def __init__(self, store: Store, clock: Clock, seed: int = 0) -> None:
        self.store, self.clock = store, clock
        self._random = random.Random(seed)
        self.events = EventRecorder(store, "replicaset-controller")
        self.pods = OwnerIndex(store, POD)

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.key == RS.key:
            return [(event.namespace, event.obj["metadata"]["name"])]
        if event.key != POD.key:
            return []
        for ref in event.obj["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "ReplicaSet" and ref.get("controller"):
                return [(event.namespace, ref["name"])]
        if event.type == "DELETED" or podfacts.is_terminating(event.obj):
            return []
        labels = event.obj["metadata"].get("labels") or {}  # an orphan: who may adopt it?
        return [
            (event.namespace, rs["metadata"]["name"])
            for rs in self.store.list(RS, event.namespace)[0]
            if podfacts.selects(rs, labels)
        ]

    def urgent(self, event: Event) -> bool:
        """A scale-down goes first: old pods leave before queued scale-ups add new ones,
        so a rollout never runs more pods than the Deployment's maxSurge allows."""
        if event.key != RS.key or event.old is None:
            return False
        before = event.old["spec"].get("replicas", 1)
        return bool(event.obj["spec"].get("replicas", 1) < before)

    def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        rs = self.store.find(RS, namespace, name)
        if rs is None or podfacts.is_terminating(rs):
            return None
        owned = self._claim(rs)
        want = rs["spec"].get("replicas", 1)
        if len(owned) < want:
            for _ in range(want - len(owned)):
                self._create_pod(rs)
            return None
        if len(owned) > want:
            for pod in sorted(owned, key=_deletion_rank)[: len(owned) - want]:
                self.store.delete(POD, namespace, pod["metadata"]["name"])
                self.events.record(
                    rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}"
                )
            return None
        return self._write_status(rs, owned)

    def _claim(self, rs: Obj) -> list[Obj]:
        """Active pods `rs` controls, adopting orphans its selector matches (ClaimPods;
        a pod relabelled out of the selector no longer counts, though it keeps its owner)."""
        uid, namespace = rs["metadata"]["uid"], rs["metadata"]["namespace"]
        try:
            selector = label_selector_from_object(rs["spec"].get("selector") or {})
        except SelectorError:  # validated on write: only an object stored before could have one
            return []
        if not rs["spec"].get("selector"):
            return []

        def selected(pod: Obj) -> bool:
            labels = pod["metadata"].get("labels") or {}
            return not podfacts.is_terminating(pod) and selector.matches(labels)

        owned = [p for p in self.pods.controlled_by(namespace, uid) if selected(p)]
        adopt = functools.partial(podfacts.add_owner, owner=rs)
        for pod in self.pods.orphans(namespace):
            if selected(pod):
                owned.append(self.store.update(POD, namespace, pod["metadata"]["name"], adopt))
        return sorted(owned, key=lambda pod: pod["metadata"]["name"])

    def _create_pod(self, rs: Obj) -> None:
        template = rs["spec"]["template"]
        meta = rs["metadata"]
        suffix = "".join(self._random.choice(NAME_CHARS) for _ in range(5))
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{suffix}",
                "namespace": meta["namespace"],
                "labels": dict(template.get("metadata", {}).get("labels") or {}),
                "annotations": dict(template.get("metadata", {}).get("annotations") or {}),
                "ownerReferences": [podfacts.owner_ref(rs)],
            },
            "spec": template.get("spec", {}),
        }
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        created = self.store.create(POD, meta["namespace"], pod)
        self.events.record(
            rs, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}"
        )

    def _write_status(self, rs: Obj, owned: list[Obj]) -> float | None:
        min_ready: float = rs["spec"].get("minReadySeconds", 0)
        now = time.time()
        ready = [p for p in owned if podfacts.is_ready(p)]
        available = [p for p in ready if podfacts.is_available(p, min_ready, now, self.clock.speed)]
        labels = rs["spec"]["template"].get("metadata", {}).get("labels") or {}
        status = {
            "replicas": len(owned),
            "fullyLabeledReplicas": sum(
                1
                for p in owned
                if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
            ),
            "readyReplicas": len(ready),
            "availableReplicas": len(available),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if rs.get("status") != status:
            self.store.update(
                RS,
                rs["metadata"]["namespace"],
                rs["metadata"]["name"],
                lambda o: o.__setitem__("status", status),
                subresource="status",
            )
        if len(available) < len(ready):  # come back when the next pod has been ready long enough
            waits = [
                min_ready - (now - (podfacts.ready_since(p) or now)) * self.clock.speed
                for p in ready
                if p not in available
            ]
            return max(min(waits), 0.0) + 0.001
        return None


def _deletion_rank(pod: Obj) -> tuple[int, int, float]:
    """Upstream's scale-down order: pending before running, unready before ready,
    ready for a shorter time before ready for longer."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(
        (pod.get("status") or {}).get("phase", "Pending"), 1
    )
    ready = 1 if podfacts.is_ready(pod) else 0
    return (phase_rank, ready, -(podfacts.ready_since(pod) or 0.0))
