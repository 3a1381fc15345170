"""Run e2e scenarios concurrently, each in a fresh namespace of its own.

A scenario mostly waits (pods, analysis intervals), so the selected scenarios of one
cluster start together in a thread pool, at most `Timing.parallel` at once; each test
then takes its scenario's result, asserts on it, and deletes the namespace. On the
sandbox the `rollout` CLI's requests in that namespace are filed as the scenario ends.
`leftover_namespaces` shows, at the end, that every namespace really went away.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, watch

from rollout.sandbox.faults import Request, RequestLog
from tests.e2e.clusters import E2ECluster, skip_or_fail
from tests.e2e.scenarios import DRIVERS, Env, ManualRuns, Run

TOOL_AGENT = "rollout/"  # User-Agent prefix of the CLI (rollout.kube: "rollout/<version>")
CLUSTER_SCOPED = "(cluster-scoped)"  # keys of requests outside any namespace
NON_RESOURCE = "(non-resource)"  # /version and other paths that are not resources
Grant = tuple[str, str]  # (resource, verb), resource with /subresource
PREFIX = f"e2e-{os.getpid()}-"  # every namespace this process's e2e tests create
_names = itertools.count()


@dataclass
class ToolRequests:
    """What the `rollout` CLI asked the sandbox for, by scenario (or test) key."""

    by_key: dict[str, set[Grant]] = field(default_factory=dict)
    overflowed: bool = False  # the request log dropped entries before they were filed
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, log: RequestLog, namespace: str) -> None:
        entries = _snapshot(log)
        mine = [req for req, _ in entries if req.user_agent.startswith(TOOL_AGENT)]
        with self._lock:
            self.overflowed |= len(entries) == log.entries.maxlen
            self.by_key.setdefault(key, set()).update(
                (r.resource, r.verb) for r in mine if r.namespace == namespace
            )
            for r in mine:
                if not r.namespace:
                    where = NON_RESOURCE if r.resource.startswith("/") else CLUSTER_SCOPED
                    self.by_key.setdefault(where, set()).add((r.resource, r.verb))

    def namespaced(self) -> set[Grant]:
        """Everything filed under a scenario or test key (requests inside a namespace)."""
        with self._lock:
            keys = [k for k in self.by_key if k not in (CLUSTER_SCOPED, NON_RESOURCE)]
            return set().union(*(self.by_key[k] for k in keys))


def _snapshot(log: RequestLog) -> list[tuple[Request, int]]:
    for _ in range(5):  # a request finishing right now may mutate the deque mid-copy
        try:
            return list(log.entries)
        except RuntimeError:
            continue
    return list(log.entries)


@dataclass(frozen=True)
class Done:
    """A finished scenario: where it ran and the CLI runs it made."""

    env: Env
    runs: Run | ManualRuns


class Namespaces:
    """Fresh namespaces with link-manager v1 ready; tracked so all can be deleted."""

    def __init__(self, cluster: E2ECluster, directory: Path) -> None:
        self.cluster, self.directory = cluster, directory
        self._lock = threading.Lock()
        self._live: set[str] = set()

    def make(self, *, istio: bool = False, deploy: bool = True) -> Env:
        name = f"{PREFIX}{next(_names)}"
        with self._lock:
            self._live.add(name)
        self.cluster.create_namespace(name, istio=istio)
        if deploy:
            self.cluster.deploy_app(name, istio=istio)
        workdir = self.directory / name
        workdir.mkdir(parents=True, exist_ok=True)
        return Env(self.cluster, name, self.cluster.tool_kubeconfig(name, workdir), workdir)

    def delete(self, name: str) -> None:
        with self._lock:
            if name not in self._live:
                return
            self._live.discard(name)
        self.cluster.delete_namespace(name)

    def delete_all(self) -> None:
        with self._lock:
            names = sorted(self._live)
        for name in names:
            self.delete(name)


def leftover_namespaces(cluster: E2ECluster) -> list[str]:
    """This process's e2e namespaces still there once their deletion had time to finish
    (the pods' readiness timeout), as `name (phase)`: Active ones were never deleted,
    Terminating ones are stuck. Waits on a watch, not a poll."""
    core = client.CoreV1Api(cluster.api)
    listed = core.list_namespace()
    left = {
        ns.metadata.name: ns.status.phase
        for ns in listed.items
        if ns.metadata.name.startswith(PREFIX)
    }
    stream = watch.Watch()
    if left:
        for event in stream.stream(
            core.list_namespace,
            resource_version=listed.metadata.resource_version,
            timeout_seconds=int(cluster.timing.ready_timeout),
        ):
            ns = event["object"]
            if not ns.metadata.name.startswith(PREFIX):
                continue
            if event["type"] == "DELETED":
                left.pop(ns.metadata.name, None)
            else:
                left[ns.metadata.name] = ns.status.phase
            if not left:
                stream.stop()
    return [f"{name} ({phase})" for name, phase in sorted(left.items())]


class ScenarioRunner:
    """Starts scenarios in the background and hands each test its result."""

    def __init__(self, cluster: E2ECluster, requests: ToolRequests, directory: Path) -> None:
        self.cluster, self.requests = cluster, requests
        self.namespaces = Namespaces(cluster, directory)
        self._pool = ThreadPoolExecutor(cluster.timing.parallel, thread_name_prefix="e2e")
        self._futures: dict[str, Future[Done]] = {}
        self._lock = threading.Lock()

    def submit(self, scenario: str, strategy: str) -> Future[Done]:
        """Start `scenario` for `strategy` unless it already started."""
        key = f"{scenario}/{strategy}"
        with self._lock:
            if key not in self._futures:
                self._futures[key] = self._pool.submit(self._run, scenario, strategy)
            return self._futures[key]

    def result(self, scenario: str, strategy: str) -> Done:
        """The scenario's outcome (waiting for it); raises what the scenario raised."""
        if strategy == "istio-canary" and not self.cluster.has_istio:
            skip_or_fail(
                f"{self.cluster.name}: the cluster serves no VirtualService, so no "
                "Istio (examples/kind/up.sh installs it when istioctl is on PATH)"
            )
        return self.submit(scenario, strategy).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.namespaces.delete_all()

    def _run(self, scenario: str, strategy: str) -> Done:
        env = self.namespaces.make(istio=strategy == "istio-canary")
        try:
            return Done(env, DRIVERS[scenario](env, strategy))
        finally:
            box = self.cluster.sandbox
            if box is not None:
                self.requests.add(f"{scenario}/{strategy}", box.requests, env.namespace)
