"""Blue/green traffic invariants, checked on every watch event while the real CLI runs.

`Observer` follows a namespace's Services, Endpoints and Deployments in background
threads (the real kubernetes client) and, on every event of the app's Service and
Endpoints, checks: at least one ready endpoint; endpoints of one colour only (green,
blue, or the user's own "plain" pods); a selector naming at most one colour (or hash).
It keeps what tests assert on: the selector sequence, which colour served each Service,
the user's pods ever seen serving. `service_writes` reads the sandbox's request log.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch

from rollout.sandbox import Sandbox
from rollout.sandbox.faults import WRITE_VERBS, Entry
from tests.sandbox.cli_runs import APP

Obj = dict[str, Any]
COLOR = "rollout.dev/color"
HASH = "pod-template-hash"


def _group(pod: str) -> str:
    """Which Deployment a pod belongs to, by name: green, blue, or the user's own (plain)."""
    for color in ("green", "blue"):
        if pod.startswith(f"{APP}-{color}-"):
            return color
    return "plain"


def _addresses(ep: Obj, key: str) -> list[str]:
    return [a["targetRef"]["name"] for s in ep.get("subsets") or [] for a in s.get(key) or []]


class Observer:
    """Watches the namespace's Services, Endpoints and Deployments in background threads and
    checks the invariants on every event; `stop()` drains the watches and returns."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        self.namespace = namespace
        self.violations: list[str] = []
        self.selectors: list[dict[str, str]] = []  # the app Service's, each change once
        self.serving: dict[str, list[str]] = {}  # Service -> colour seen serving, in order
        self.plain_pods: set[str] = set()  # user's pods ever seen in the app's endpoints
        self.first_pods: set[str] = set()
        self.times: dict[str, float] = {}  # first time of each moment (Endpoints: wall clock)
        self._done = threading.Event()
        self._threads = []
        for list_fn, on in (
            (core.list_namespaced_service, self._service),
            (core.list_namespaced_endpoints, self._endpoints),
            (apps.list_namespaced_deployment, self._deployment),
        ):
            start = json.loads(list_fn(namespace, _preload_content=False).data)
            for item in start["items"]:  # the state before: the first "event" of each object
                on("LISTED", item)
            rv = start["metadata"]["resourceVersion"]
            self._threads.append(
                threading.Thread(target=self._follow, args=(list_fn, on, rv), daemon=True)
            )
            self._threads[-1].start()
        self.first_pods = set(self.plain_pods)

    def stop(self) -> Observer:
        self._done.set()
        for t in self._threads:
            t.join(timeout=10)
        return self

    def _follow(self, list_fn: Callable[..., Any], on: Callable[[str, Obj], None], rv: str) -> None:
        draining = False
        while True:
            for event in watch.Watch().stream(
                list_fn, self.namespace, resource_version=rv, timeout_seconds=1
            ):
                obj = event["raw_object"]
                rv = obj["metadata"]["resourceVersion"]
                on(event["type"], obj)
            if draining:  # one full watch after stop(): everything written before is seen
                return
            draining = self._done.is_set()

    def _service(self, kind: str, svc: Obj) -> None:
        if svc["metadata"]["name"] != APP:
            return
        selector = dict(svc["spec"].get("selector") or {})
        if kind == "DELETED" or len({COLOR, HASH} & selector.keys()) > 1:
            self.violations.append(f"Service {kind} with selector {selector}")
        if not self.selectors or self.selectors[-1] != selector:
            self.selectors.append(selector)
            self.times.setdefault(f"selector {selector.get(COLOR)}", time.monotonic())

    def _endpoints(self, kind: str, ep: Obj) -> None:
        name = ep["metadata"]["name"]
        ready = _addresses(ep, "addresses")
        groups = {_group(p) for p in ready + _addresses(ep, "notReadyAddresses")}
        if name == APP:
            if kind == "DELETED" or not ready:
                self.violations.append(f"Endpoints {kind} with no ready address")
            if len(groups) > 1:
                self.violations.append(f"Endpoints select several colours: {sorted(groups)}")
            self.plain_pods |= {p for p in ready if _group(p) == "plain"}
        if len(groups) == 1 and ready:
            seen, group = self.serving.setdefault(name, []), next(iter(groups))
            if not seen or seen[-1] != group:
                seen.append(group)
                self.times[f"{name} serving {group} #{len(seen)}"] = time.time()

    def _deployment(self, kind: str, d: Obj) -> None:
        if d["metadata"]["name"] == APP and d["spec"].get("replicas") == 0:
            self.times.setdefault("user deployment at 0", time.monotonic())


def _service_writes(box: Sandbox, namespace: str, name: str) -> list[Entry]:
    return [
        entry
        for entry in box.requests.entries
        if (req := entry.request).resource == "services" and req.namespace == namespace
        and entry.code < 400 and req.verb in WRITE_VERBS and req.name == name
        and not req.dry_run
    ]  # fmt: skip


def service_writes(box: Sandbox, namespace: str, name: str = APP) -> list[str]:
    """Verbs of the writes that reached Service `name` (creates: to the collection)."""
    return [entry.request.verb for entry in _service_writes(box, namespace, name)]


def service_write_times(box: Sandbox, namespace: str, name: str = APP) -> list[float]:
    """When each of those writes was answered (`time.monotonic()`, the sandbox's log)."""
    return [entry.at for entry in _service_writes(box, namespace, name)]


def objects(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    """Deployments (replicas, image, colour) and Service selectors, by name."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    out: dict[str, Any] = {
        d.metadata.name: (d.spec.replicas, d.spec.template.spec.containers[0].image.split(":")[-1],
                          (d.spec.template.metadata.labels or {}).get(COLOR))
        for d in apps.list_namespaced_deployment(namespace).items
    }  # fmt: skip
    for s in core.list_namespaced_service(namespace).items:
        out[f"svc/{s.metadata.name}"] = s.spec.selector
    return out


def shape(selector: dict[str, str]) -> str:
    """A Service selector as the colour it names: green/blue, hash (pinned), plain."""
    return selector.get(COLOR) or ("hash" if HASH in selector else "plain")
