"""Endpoints and EndpointSlice controllers in one: for every Service with a selector, an
Endpoints object and an EndpointSlice listing the selected pods' IPs.

Like upstream, a named targetPort resolves per pod to that pod's containerPort, ready
pods are addresses and others notReadyAddresses (ready=false in the slice), pods
without an IP are left out, and Endpoints addresses are sorted by IP. One slice per
Service (upstream splits at 100 endpoints; the sandbox never needs to).
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
SLICE = kinds.BY_KEY["endpointslices.discovery.k8s.io"]
POD = kinds.BY_KEY["pods"]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"


class EndpointsController:
    """Keeps `Endpoints/<service>` and its EndpointSlice equal to the selected pod IPs."""

    name = "endpoints"

    def __init__(self, store: Store) -> None:
        self.store = store

    def keys_for(self, event: Event) -> Iterable[Key]:
        meta = event.obj["metadata"]
        if event.key == SVC.key or (event.key == EP.key and event.type == "DELETED"):
            return [(event.namespace, meta["name"])]
        if event.key == SLICE.key:
            labels = meta.get("labels") or {}
            if event.type == "DELETED" and labels.get(MANAGED_BY_LABEL) == MANAGED_BY:
                return [(event.namespace, labels.get(SERVICE_NAME_LABEL, ""))]
            return []
        if event.key != POD.key:
            return []
        labels_seen = [(o["metadata"].get("labels") or {}) for o in (event.obj, event.old) if o]
        services, _ = self.store.list(SVC, event.namespace)
        return [
            (event.namespace, s["metadata"]["name"])
            for s in services
            if (sel := _selector(s)) is not None and any(sel.matches(lb) for lb in labels_seen)
        ]

    def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        service = self.store.find(SVC, namespace, name)
        selector = _selector(service) if service is not None else None
        if service is None or selector is None:  # no selector: user-managed Endpoints
            if service is None and self.store.find(EP, namespace, name) is not None:
                self.store.delete(EP, namespace, name)
            for stale in self._slices(namespace, name) if service is None else []:
                self.store.delete(SLICE, namespace, stale["metadata"]["name"])
            return None
        pods = [p for p in self.store.list(POD, namespace, labels=selector)[0] if _has_ip(p)]
        pods.sort(key=lambda p: (p["status"]["podIP"], p["metadata"]["uid"]))
        self._sync_endpoints(service, pods)
        self._sync_slice(service, pods)
        return None

    def _sync_endpoints(self, service: Obj, pods: list[Obj]) -> None:
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        subsets = _subsets(service, pods)
        labels = {**(service["metadata"].get("labels") or {}), SKIP_MIRROR_LABEL: "true"}
        current = self.store.find(EP, namespace, name)
        if current is None:
            ep: Obj = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
            }
            if subsets:
                ep["subsets"] = subsets
            self.store.create(EP, namespace, ep)
        elif (
            current.get("subsets") != (subsets or None)
            or current["metadata"].get("labels") != labels
        ):
            self.store.update(EP, namespace, name, lambda ep: _set_endpoints(ep, subsets, labels))

    def _sync_slice(self, service: Obj, pods: list[Obj]) -> None:
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        desired = _slice(service, pods)
        slices = self._slices(namespace, name)
        for extra in slices[1:]:
            self.store.delete(SLICE, namespace, extra["metadata"]["name"])
        if not slices:
            self.store.create(SLICE, namespace, desired)
            return
        current = slices[0]
        fields = ("endpoints", "ports", "addressType")
        if (
            any(current.get(f) != desired.get(f) for f in fields)
            or current["metadata"].get("labels") != desired["metadata"]["labels"]
        ):

            def sync(s: Obj) -> None:
                s["metadata"]["labels"] = desired["metadata"]["labels"]
                for f in fields:
                    s.pop(f, None)
                    if f in desired:
                        s[f] = desired[f]

            self.store.update(SLICE, namespace, current["metadata"]["name"], sync)

    def _slices(self, namespace: str, service: str) -> list[Obj]:
        selector = label_selector_from_object(
            {"matchLabels": {SERVICE_NAME_LABEL: service, MANAGED_BY_LABEL: MANAGED_BY}}
        )
        return self.store.list(SLICE, namespace, labels=selector)[0]


def _selector(service: Obj) -> LabelSelector | None:
    selector = (service.get("spec") or {}).get("selector")
    return label_selector_from_object({"matchLabels": selector}) if selector else None


def _has_ip(pod: Obj) -> bool:
    return bool((pod.get("status") or {}).get("podIP"))


def _set_endpoints(ep: Obj, subsets: list[Obj], labels: dict[str, str]) -> None:
    ep["metadata"]["labels"] = labels
    ep.pop("subsets", None)
    if subsets:
        ep["subsets"] = subsets


def _subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """Endpoints subsets: addresses grouped by their resolved ports (upstream RepackSubsets)."""
    groups: dict[tuple[tuple[str, int, str], ...], tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        ports = _pod_ports(service, pod)
        if not ports or podfacts.is_terminating(pod):  # terminating pods leave Endpoints
            continue
        ready, not_ready = groups.setdefault(tuple(ports), ([], []))
        address = {"ip": pod["status"]["podIP"], "targetRef": _target_ref(pod)}
        if pod["spec"].get("nodeName"):
            address["nodeName"] = pod["spec"]["nodeName"]
        (ready if podfacts.is_ready(pod) else not_ready).append(address)
    subsets = []
    for port_set, (ready_set, not_ready_set) in groups.items():
        subset: Obj = {"ports": [_port_json(p) for p in port_set]}
        if ready_set:
            subset["addresses"] = ready_set
        if not_ready_set:
            subset["notReadyAddresses"] = not_ready_set
        subsets.append(subset)
    return subsets


def _slice(service: Obj, pods: list[Obj]) -> Obj:
    """The EndpointSlice upstream keeps for `service` (placeholder when no pod matches)."""
    meta = service["metadata"]
    labels = {
        **(meta.get("labels") or {}),
        SERVICE_NAME_LABEL: meta["name"],
        MANAGED_BY_LABEL: MANAGED_BY,
    }
    endpoints, ports = [], None
    for pod in pods:
        pod_ports = _pod_ports(service, pod)
        if not pod_ports:
            continue
        ports = ports or [_port_json(p) for p in pod_ports]
        ready = podfacts.is_ready(pod)
        terminating = podfacts.is_terminating(pod)
        endpoint: Obj = {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {
                "ready": ready and not terminating,
                "serving": ready,
                "terminating": terminating,
            },
            "targetRef": _target_ref(pod),
        }
        if pod["spec"].get("nodeName"):
            endpoint["nodeName"] = pod["spec"]["nodeName"]
        endpoints.append(endpoint)
    owner = {
        "apiVersion": "v1",
        "kind": "Service",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    doc: Obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": f"{meta['name']}-",
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner],
        },
        "addressType": "IPv4",
    }
    if endpoints:
        doc["endpoints"] = endpoints
    if ports:
        doc["ports"] = ports
    return doc


def _pod_ports(service: Obj, pod: Obj) -> list[tuple[str, int, str]]:
    """(name, port, protocol) of each Service port this pod serves (upstream FindPort)."""
    found = []
    for port in service["spec"].get("ports") or []:
        protocol = port.get("protocol", "TCP")
        target = port.get("targetPort", port.get("port"))
        number = target if isinstance(target, int) else _container_port(pod, str(target), protocol)
        if number is not None:
            found.append((port.get("name") or "", number, protocol))
    return found


def _container_port(pod: Obj, name: str, protocol: str) -> int | None:
    if name.isdigit():
        return int(name)
    for container in pod["spec"].get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None


def _port_json(port: tuple[str, int, str]) -> Obj:
    name, number, protocol = port
    return (
        {"name": name, "port": number, "protocol": protocol}
        if name
        else {"port": number, "protocol": protocol}
    )


def _target_ref(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}
