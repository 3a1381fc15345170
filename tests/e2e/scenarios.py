"""The e2e scenarios, written once for every cluster: what each one asks `rollout` to do.

A scenario *drives* the real CLI (a subprocess, one per process the user would run) and
returns the runs; the tests assert on them. Every rollout starts from the example
`examples/rollouts/<strategy>.yaml`, with the cluster's analysis pace and a few
per-strategy flags that only make it quicker (no timed pauses, no scale-down delay).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from rollout.spec import StrategyKind
from strategies import REGISTRY
from tests.e2e.clusters import EXAMPLES, E2ECluster

APP = "link-manager"
REPO = "ghcr.io/example/link-manager"
STRATEGIES = ("rolling", "recreate", "bluegreen", "canary", "istio-canary")
MANUAL = ("bluegreen", "canary", "istio-canary")  # the strategies that can stop for a human
QUICKER = {
    "bluegreen": ("--scale-down-delay", "0s"),
    "canary": ("--pause", "0s"),
    "istio-canary": ("--pause", "0s"),
}
STOP_FOR_PROMOTE = {
    "bluegreen": ("--no-auto-promote",),
    "canary": ("--pause", "manual"),
    "istio-canary": ("--pause", "manual"),
}
MAX_PROMOTIONS = 5  # a manual pause after each step: steps + 1 is plenty
Obj = dict[str, Any]


@dataclass(frozen=True)
class Run:
    """A finished `rollout` process."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def result(self) -> Obj:
        """The `-o json` document on stdout."""
        try:
            return json.loads(self.stdout)  # type: ignore[no-any-return]
        except ValueError:
            raise AssertionError(f"no JSON result from {self}") from None

    def __str__(self) -> str:
        tail = "\n".join(self.stderr.strip().splitlines()[-15:])
        return f"`rollout {' '.join(self.args)}` exited {self.code}:\n{tail}"


@dataclass(frozen=True)
class Env:
    """Where a scenario runs: the cluster, a fresh namespace, the tool's kubeconfig."""

    cluster: E2ECluster
    namespace: str
    kubeconfig: Path

    def rollout(self, *args: str) -> Run:
        """Run `rollout ARGS` to completion, non-interactively, as a CI job would."""
        argv = [args[0], "--kubeconfig", str(self.kubeconfig), "-n", self.namespace,
                "--log-format", "json", *args[1:]]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "KUBE"))}
        proc = subprocess.run(
            [sys.executable, "-m", "rollout", *argv], capture_output=True, text=True,
            stdin=subprocess.DEVNULL, env=env, timeout=self.cluster.timing.run_timeout,
        )
        return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr)

    def start(self, strategy: str, image: str, *extra: str) -> Run:
        """`rollout run -f examples/rollouts/<strategy>.yaml --image IMAGE ...`."""
        return self.rollout(
            "run", "-f", str(EXAMPLES / "rollouts" / f"{strategy}.yaml"), "--image", image,
            "--prometheus-url", self.cluster.prometheus_url, *self.cluster.timing.analysis,
            *QUICKER.get(strategy, ()), *extra, "-o", "json",
        )


@dataclass(frozen=True)
class ManualRuns:
    """A rollout stopped for a human, then promoted from other processes."""

    paused: Run
    status: Run
    promotes: tuple[Run, ...]
    resumes: tuple[Run, ...]
    serving_while_paused: frozenset[str]


def is_registered(strategy: str) -> bool:
    return StrategyKind(strategy) in REGISTRY


def not_registered_message(strategy: str) -> str:
    have = ", ".join(k.value for k in REGISTRY)
    return (
        f"strategy {strategy} is not registered in strategies.REGISTRY yet (registered: "
        f"{have}); this scenario is expected to pass once it lands"
    )


def drive_healthy(env: Env, strategy: str) -> Run:
    """v1 -> v2 (healthy)."""
    return env.start(strategy, "v2")


def drive_failing(env: Env, strategy: str) -> Run:
    """v1 -> v3 (20% of requests fail, slower)."""
    return env.start(strategy, "v3")


def drive_manual(env: Env, strategy: str) -> ManualRuns:
    """v1 -> v2 stopping for a human; `promote` + `resume` from other processes."""
    paused = env.start(strategy, "v2", *STOP_FOR_PROMOTE[strategy])
    status = env.rollout("status", APP, "-o", "json")
    serving = serving_images(env.cluster, env.namespace) if paused.code == 4 else frozenset()
    promotes: list[Run] = []
    resumes: list[Run] = []
    while paused.code == 4 and len(resumes) < MAX_PROMOTIONS:
        promotes.append(env.rollout("promote", APP, "-o", "json"))
        resumes.append(env.rollout("resume", APP, "-o", "json"))
        if promotes[-1].code != 0 or resumes[-1].code != 4:
            break
    return ManualRuns(paused, status, tuple(promotes), tuple(resumes), serving)


DRIVERS = {"healthy": drive_healthy, "failing": drive_failing, "manual": drive_manual}
ALL = tuple(
    (scenario, strategy)
    for scenario in DRIVERS
    for strategy in (MANUAL if scenario == "manual" else STRATEGIES)
)


# -- what the cluster shows ------------------------------------------------------------


def deployment(cluster: E2ECluster, namespace: str, name: str = APP) -> Obj:
    resp = client.AppsV1Api(cluster.api).read_namespaced_deployment(
        name, namespace, _preload_content=False
    )
    return json.loads(resp.data)  # type: ignore[no-any-return]


def record(cluster: E2ECluster, namespace: str) -> Obj:
    """The rollout record annotation on the target Deployment."""
    annotations = deployment(cluster, namespace)["metadata"].get("annotations") or {}
    return json.loads(annotations["rollout.dev/rollout"])  # type: ignore[no-any-return]


def serving_images(cluster: E2ECluster, namespace: str) -> frozenset[str]:
    """Image tags of the ready pods behind the Service (what users are served)."""
    core = client.CoreV1Api(cluster.api)
    endpoints = core.read_namespaced_endpoints(APP, namespace)
    names = {
        a.target_ref.name
        for subset in endpoints.subsets or []
        for a in subset.addresses or []
        if a.target_ref is not None
    }
    pods = core.list_namespaced_pod(namespace).items
    return frozenset(
        c.image.rsplit(":", 1)[-1]
        for p in pods
        if p.metadata.name in names
        for c in p.spec.containers
        if c.name == APP
    )


def lease_names(cluster: E2ECluster, namespace: str) -> list[str]:
    items = client.CoordinationV1Api(cluster.api).list_namespaced_lease(namespace).items
    return [i.metadata.name for i in items]


def wait_serving(
    cluster: E2ECluster, namespace: str, want: frozenset[str], *, timeout: float = 60
) -> frozenset[str]:
    """The serving image tags once they are exactly `want` (or the last seen at the
    deadline): read, then follow a watch on the Service's Endpoints."""
    core = client.CoreV1Api(cluster.api)
    seen = serving_images(cluster, namespace)
    if seen == want:
        return seen
    version = core.read_namespaced_endpoints(APP, namespace).metadata.resource_version
    stream = watch.Watch().stream(
        core.list_namespaced_endpoints, namespace, field_selector=f"metadata.name={APP}",
        resource_version=version, timeout_seconds=int(timeout),
    )
    try:
        for _ in stream:
            seen = serving_images(cluster, namespace)
            if seen == want:
                break
    finally:
        stream.close()
    return seen
