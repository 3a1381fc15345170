"""Helpers for the Istio router and istio-canary tests: a user's routing objects, traffic
shares measured with the sandbox's own requests, and a watch on VirtualServices that
checks the invariants on every event.

Everything reads the cluster with the real kubernetes client. The checks are written
here independently of rollout's own route code, so a bug there cannot hide itself.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch

from rollout.sandbox import Sandbox
from tests.factories import make_destination_rule, make_virtual_service
from tests.sandbox.cli_runs import APP

Obj = dict[str, Any]
ISTIO = ("networking.istio.io", "v1beta1")
HEADER_FRACTION = 0.1  # examples/sandbox.yaml: 10% of link-manager requests carry x-canary
TOLERANCE = 3.0  # points between a weight and the measured share
REQUESTS = 6000  # per measurement: 3 points is > 4 standard deviations at 50%


def user_virtual_service() -> Obj:
    """link-manager's VirtualService as a user wrote it: an admin route to another
    Service, then the catch-all for the host with settings of its own."""
    vs = make_virtual_service(APP, host=APP)
    primary = vs["spec"]["http"][0]
    primary.update(timeout="5s", retries={"attempts": 3, "perTryTimeout": "2s"})
    admin = {"name": "admin", "match": [{"uri": {"prefix": "/admin"}}],
             "route": [{"destination": {"host": "admin"}, "weight": 100}]}  # fmt: skip
    vs["spec"]["http"].insert(0, admin)
    return vs


def user_destination_rule() -> Obj:
    """link-manager's DestinationRule: a traffic policy and a subset of the user's own."""
    dr = make_destination_rule(APP, host=f"{APP}.svc.cluster.local")
    dr["spec"]["host"] = APP
    dr["spec"]["trafficPolicy"] = {"connectionPool": {"http": {"http1MaxPendingRequests": 100}},
                                   "outlierDetection": {"consecutive5xxErrors": 5}}  # fmt: skip
    dr["spec"]["subsets"] = [{"name": "v1", "labels": {"version": "v1"}}]
    return dr


def install(api: client.ApiClient, namespace: str, *objects: Obj) -> None:
    custom = client.CustomObjectsApi(api)
    for obj in objects:
        plural = obj["kind"].lower() + "s"
        custom.create_namespaced_custom_object(*ISTIO, namespace, plural, copy.deepcopy(obj))


def get(api: client.ApiClient, namespace: str, kind: str, name: str = APP) -> Obj | None:
    """A VirtualService or DestinationRule as raw JSON (None when it does not exist)."""
    try:
        obj: Obj = client.CustomObjectsApi(api).get_namespaced_custom_object(
            *ISTIO, namespace, kind.lower() + "s", name)  # fmt: skip
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise
    return obj


def label_istio(api: client.ApiClient, namespace: str) -> None:
    """istio-injection=enabled: the sandbox then serves istio_* metrics for its pods."""
    client.CoreV1Api(api).patch_namespace(
        namespace, {"metadata": {"labels": {"istio-injection": "enabled"}}})  # fmt: skip


def is_canary_pod(name: str) -> bool:
    return name.startswith(f"{APP}-canary-")


def canary_percent(sandbox: Sandbox, namespace: str, n: int = REQUESTS) -> float:
    """Send `n` requests to link-manager; % of those answered by canary pods."""
    before = sandbox.traffic.requests_by_pod()
    sandbox.traffic.send(namespace, APP, n)
    after = sandbox.traffic.requests_by_pod()
    prefix = f"{namespace}/{APP}-"
    delta = {k: v - before.get(k, 0) for k, v in after.items() if k.startswith(prefix)}
    total = sum(delta.values())
    canary = sum(v for k, v in delta.items() if is_canary_pod(k.split("/", 1)[1]))
    assert total > 0, "no link-manager pod answered"
    return 100.0 * canary / total


# -- reading a VirtualService the way Istio would ---------------------------------------


def _to_host(route: Obj) -> bool:
    return any((d.get("destination") or {}).get("host") == APP for d in route.get("route") or [])


def route_weights(route: Obj) -> list[int]:
    """Weights of a route's destinations (a lone destination without one takes 100)."""
    dests = route.get("route") or []
    if len(dests) == 1 and "weight" not in dests[0]:
        return [100]
    return [int(d.get("weight", 0)) for d in dests]


def canary_weight(spec: Obj) -> int:
    """The canary subset's weight on the catch-all route for the host (0 if none)."""
    for route in spec.get("http") or []:
        if not route.get("match") and _to_host(route):
            return sum(int(d.get("weight", 0)) for d in route["route"]
                       if (d.get("destination") or {}).get("subset") == "canary")  # fmt: skip
    return 0


def has_header_route(spec: Obj) -> bool:
    return any(
        all((d.get("destination") or {}).get("subset") == "canary" for d in r.get("route") or [])
        and r.get("match") for r in spec.get("http") or [] if _to_host(r)
    )  # fmt: skip


def expected_canary_percent(spec: Obj) -> float:
    """The share Istio gives the canary: the header's requests, then the weight of the rest."""
    header = HEADER_FRACTION if has_header_route(spec) else 0.0
    return 100.0 * (header + (1 - header) * canary_weight(spec) / 100)


# -- the watch --------------------------------------------------------------------------


@dataclass
class Seen:
    """One VirtualService event as the watch saw it."""

    rv: int
    type: str
    spec: Obj
    measured: float | None = None  # canary share of traffic while this spec was live


@dataclass
class VirtualServiceWatch:
    """Follows VirtualServices in a namespace on a thread; on every event checks that the
    host's routes sum to 100 and (with `measure`) that traffic follows the weights.

    `measure` sends REQUESTS requests per event and keeps the result only if the object
    did not change meanwhile (resourceVersion read again after sending).
    """

    api: client.ApiClient
    namespace: str
    sandbox: Sandbox | None = None  # given: measure traffic at every event
    events: list[Seen] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> VirtualServiceWatch:
        custom = client.CustomObjectsApi(self.api)
        listing = custom.list_namespaced_custom_object(*ISTIO, self.namespace, "virtualservices")
        since = listing["metadata"]["resourceVersion"]
        for item in listing["items"]:
            self._check(Seen(int(item["metadata"]["resourceVersion"]), "LISTED", item["spec"]))
        self._thread = threading.Thread(target=self._run, args=(since,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait_until(self, predicate: Any, timeout: float = 30) -> Seen:
        """The first event whose spec satisfies `predicate` (waits for it)."""
        with self.changed:
            found = self.changed.wait_for(
                lambda: next((e for e in self.events if predicate(e.spec)), None), timeout
            )
        assert found is not None, f"no VirtualService event matched within {timeout}s"
        return found

    def _run(self, since: str) -> None:
        custom = client.CustomObjectsApi(self.api)
        while not self._stop.is_set():
            stream = watch.Watch()
            for event in stream.stream(custom.list_namespaced_custom_object, *ISTIO,
                                       self.namespace, "virtualservices",
                                       resource_version=since, timeout_seconds=1):  # fmt: skip
                obj = event["raw_object"]
                since = obj["metadata"]["resourceVersion"]
                self._check(Seen(int(since), event["type"], obj.get("spec") or {}))
                if self._stop.is_set():
                    stream.stop()

    def _check(self, seen: Seen) -> None:
        if seen.type != "DELETED":
            for route in seen.spec.get("http") or []:
                if _to_host(route) and sum(route_weights(route)) != 100:
                    self.violations.append(f"rv {seen.rv}: weights {route_weights(route)}")
            if self.sandbox is not None:
                seen.measured = self._measure(seen)
        with self.changed:
            self.events.append(seen)
            self.changed.notify_all()

    def _measure(self, seen: Seen) -> float | None:
        share = canary_percent(self.sandbox, self.namespace)  # type: ignore[arg-type]
        now = get(self.api, self.namespace, "VirtualService")
        if now is None or int(now["metadata"]["resourceVersion"]) != seen.rv:
            return None  # it changed while we sent: the share mixes two splits
        expected = expected_canary_percent(seen.spec)
        if abs(share - expected) > TOLERANCE:
            self.violations.append(
                f"rv {seen.rv}: canary got {share:.1f}% of requests, routing says {expected}%"
            )
        return share
