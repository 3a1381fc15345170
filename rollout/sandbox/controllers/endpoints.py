"""Endpoints controller: one Endpoints object per Service with a selector, listing the
IPs of the selected pods (ready ones as addresses, others as notReadyAddresses).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rollout.sandbox import kinds
from rollout.sandbox.controllers import pods as podfacts
from rollout.sandbox.controllers.manager import Key
from rollout.sandbox.store.selectors import LabelSelector, label_selector_from_object
from rollout.sandbox.store.store import Store
from rollout.sandbox.store.watch import Event

Obj = dict[str, Any]
SVC = kinds.BY_KEY["services"]
EP = kinds.BY_KEY["endpoints"]
POD = kinds.BY_KEY["pods"]


class EndpointsController:
    """Keeps `Endpoints/<service>` equal to the Service's selected pod IPs."""

    name = "endpoints"

    def __init__(self, store: Store) -> None:
        self.store = store

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.key == SVC.key:
            return [(event.namespace, event.obj["metadata"]["name"])]
        if event.key != POD.key:
            return []
        labels = [(o["metadata"].get("labels") or {}) for o in (event.obj, event.old) if o]
        services, _ = self.store.list(SVC, event.namespace)
        return [(event.namespace, s["metadata"]["name"]) for s in services
                if (sel := _selector(s)) is not None and any(sel.matches(lb) for lb in labels)]

    def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        service = self.store.find(SVC, namespace, name)
        current = self.store.find(EP, namespace, name)
        if service is None:
            if current is not None:
                self.store.delete(EP, namespace, name)
            return None
        selector = _selector(service)
        if selector is None:  # a Service without selector has user-managed Endpoints
            return None
        pods, _ = self.store.list(POD, namespace, labels=selector)
        desired = {"apiVersion": "v1", "kind": "Endpoints",
                   "metadata": {"name": name, "namespace": namespace,
                                "labels": dict(service["metadata"].get("labels") or {})},
                   "subsets": _subsets(service, pods)}
        if not desired["subsets"]:
            del desired["subsets"]
        if current is None:
            self.store.create(EP, namespace, desired)
        elif current.get("subsets") != desired.get("subsets"):
            self.store.update(EP, namespace, name, lambda ep: _set_subsets(ep, desired))
        return None


def _selector(service: Obj) -> LabelSelector | None:
    selector = (service.get("spec") or {}).get("selector")
    return label_selector_from_object({"matchLabels": selector}) if selector else None


def _set_subsets(ep: Obj, desired: Obj) -> None:
    if "subsets" in desired:
        ep["subsets"] = desired["subsets"]
    else:
        ep.pop("subsets", None)


def _subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    ready, not_ready = [], []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or podfacts.is_terminating(pod):
            continue
        address = {"ip": ip, "targetRef": {"kind": "Pod", "namespace": pod["metadata"]["namespace"],
                                           "name": pod["metadata"]["name"],
                                           "uid": pod["metadata"]["uid"]}}
        (ready if podfacts.is_ready(pod) else not_ready).append(address)
    if not ready and not not_ready:
        return []
    ports = [{"name": p.get("name"), "port": _target_port(p), "protocol": p.get("protocol", "TCP")}
             for p in (service["spec"].get("ports") or [])]
    subset: Obj = {"ports": [{k: v for k, v in p.items() if v is not None} for p in ports]}
    if ready:
        subset["addresses"] = ready
    if not_ready:
        subset["notReadyAddresses"] = not_ready
    return [subset]


def _target_port(port: Obj) -> int:
    target = port.get("targetPort", port.get("port"))
    return target if isinstance(target, int) else int(port.get("port", 0))
