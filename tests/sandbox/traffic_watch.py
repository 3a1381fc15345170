"""Invariants of a canary rollout, checked on every watch event while the real CLI runs.

`TrafficWatch` follows the app's Endpoints and Deployment in background threads (the real
kubernetes client). On every Endpoints event: the Service has at least one ready
endpoint, and requests sent right then (`sandbox.traffic.send`, exactly N) reach canary
pods in the share the ready endpoints say. On every Deployment event whose rollout record
is Paused: requests reach canary pods in the share the record's step reports as achieved.
A sample counts only if the object did not change while the requests were sent.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch

from rollout.sandbox import Sandbox
from tests.sandbox.cli_runs import ANNOTATION, APP
from tests.sandbox.rollouts import listing

Obj = dict[str, Any]
REQUESTS = 5000  # per sample: the share's standard deviation is <= 0.71 points
TOLERANCE = 3.0  # points


def ready_split(endpoints: Obj, prefix: str) -> tuple[int, int]:
    """(canary, all) ready addresses of an Endpoints object."""
    names = [
        str((a.get("targetRef") or {}).get("name", ""))
        for s in endpoints.get("subsets") or []
        for a in s.get("addresses") or []
    ]
    return sum(n.startswith(prefix) for n in names), len(names)


@dataclass
class StepSample:
    """Traffic measured while the rollout sat paused after a step."""

    step: int
    achieved: float
    traffic: float
    stable_replicas: int  # the stable Deployment's spec.replicas then
    stable_pods: int  # ... and the pods its status counts (no adopted canary pods)


@dataclass
class TrafficWatch:
    """Watches `app` in `namespace` of `box` until stopped; see the module docstring."""

    box: Sandbox
    api: client.ApiClient
    namespace: str
    app: str = APP
    violations: list[str] = field(default_factory=list)
    endpoint_events: int = 0
    splits: list[tuple[int, int]] = field(default_factory=list)  # (canary, all) ready, per event
    traffic_checks: list[tuple[float, float]] = field(default_factory=list)  # (ready %, seen %)
    steps: dict[int, StepSample] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.prefix = f"{self.app}-canary-"
        self._stop = threading.Event()
        self._send_lock = threading.Lock()
        self._core, self._apps = client.CoreV1Api(self.api), client.AppsV1Api(self.api)
        self._threads = [
            threading.Thread(
                target=self._follow,
                args=(self._core.list_namespaced_endpoints, self._on_endpoints),
                daemon=True,
            ),
            threading.Thread(
                target=self._follow,
                args=(self._apps.list_namespaced_deployment, self._on_deployment),
                daemon=True,
            ),
        ]

    def __enter__(self) -> TrafficWatch:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)

    # -- what the watchers do -----------------------------------------------------------

    def _on_endpoints(self, type_: str, ep: Obj) -> None:
        self.endpoint_events += 1
        canary, total = ready_split(ep, self.prefix)
        self.splits.append((canary, total))
        if type_ == "DELETED" or total == 0:
            self.violations.append(
                f"Endpoints {type_} with no ready address (rv {ep['metadata']['resourceVersion']})"
            )
            return
        seen = self.canary_traffic()
        now = self._core.read_namespaced_endpoints(self.app, self.namespace)
        if now.metadata.resource_version != ep["metadata"]["resourceVersion"]:
            return  # moved on while we sent: the sample is not about this state
        ready = 100.0 * canary / total
        self.traffic_checks.append((ready, seen))
        if abs(seen - ready) > TOLERANCE:
            self.violations.append(
                f"{seen:.1f}% of requests reached canary pods while "
                f"{canary} of {total} ready endpoints ({ready:.1f}%) were"
            )

    def _on_deployment(self, type_: str, d: Obj) -> None:
        text = (d["metadata"].get("annotations") or {}).get(ANNOTATION)
        record = json.loads(text) if text else {}
        step = record.get("step")
        if record.get("phase") != "Paused" or step in self.steps:
            return
        achieved = record["steps"][step]["achieved"]
        seen = self.canary_traffic()
        now = self._apps.read_namespaced_deployment(self.app, self.namespace)
        if now.metadata.resource_version != d["metadata"]["resourceVersion"]:
            return
        self.steps[step] = StepSample(
            step, achieved, seen, now.spec.replicas, now.status.replicas or 0
        )
        if achieved is None or abs(seen - achieved) > TOLERANCE:
            self.violations.append(
                f"paused after step {step}: {seen:.1f}% of requests "
                f"reached canary pods, the record says {achieved}%"
            )

    def canary_traffic(self) -> float:
        """Send exactly REQUESTS requests to the app's Service; the % that canary pods got."""
        with self._send_lock:
            before = self.box.traffic.requests_by_pod()
            self.box.traffic.send(self.namespace, self.app, REQUESTS)
            after = self.box.traffic.requests_by_pod()
        mine = f"{self.namespace}/"
        delta = {k: n - before.get(k, 0) for k, n in after.items() if k.startswith(mine)}
        canary = sum(n for k, n in delta.items() if k[len(mine) :].startswith(self.prefix))
        total = sum(delta.values())
        return 100.0 * canary / total if total else 0.0

    # -- plumbing ---------------------------------------------------------------------

    def _follow(self, list_fn: Any, handler: Any) -> None:
        """List, then watch from there in 1 s slices until stopped. An exception here
        fails the test (pytest reports unhandled thread exceptions as errors)."""
        selector = f"metadata.name={self.app}"
        rv = listing(list_fn, self.namespace, field_selector=selector)["metadata"][
            "resourceVersion"
        ]
        while not self._stop.is_set():
            for event in watch.Watch().stream(
                list_fn,
                self.namespace,
                field_selector=selector,
                resource_version=rv,
                timeout_seconds=1,
            ):
                obj = event["raw_object"]
                rv = obj["metadata"]["resourceVersion"]
                handler(event["type"], obj)
