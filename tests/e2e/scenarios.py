"""The e2e scenarios, written once for every cluster: what each one asks `rollout` to do.

A scenario *drives* the real CLI (a subprocess, one per process the user would run) and
returns the runs; the tests assert on them. Every rollout runs a copy of the example
`examples/rollouts/<strategy>.yaml` changed only to be quicker (no timed pauses, no
scale-down delay) or to stop for a human, with the cluster's analysis pace as flags.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client, watch

from rollout.spec import StrategyKind
from strategies import REGISTRY
from tests.e2e.clusters import EXAMPLES, E2ECluster

APP = "link-manager"
ANNOTATION = "rollout.dev/rollout"
STRATEGIES = ("rolling", "recreate", "bluegreen", "canary", "istio-canary")
MANUAL = STRATEGIES  # every strategy can stop for a human
Obj = dict[str, Any]
STOPPED = ("Paused", "Succeeded", "Failed", "Aborted")  # phases a driver waits in or ends in
MAX_PROMOTIONS = 5  # more manual pauses than any example has steps
F = TypeVar("F", bound=Callable[..., Any])
# rollout.yaml changes that only make a scenario quicker: no timed pauses, no delay.
QUICKER: dict[str, Obj] = {
    "bluegreen": {"bluegreen": {"scaleDownDelay": "0s"}},
    "canary": {"canary": {"pause": "0s"}},
    "istio-canary": {"canary": {"pause": "0s"}},
}
STOP_FOR_PROMOTE: dict[str, Obj] = {
    "rolling": {"rolling": {"pause": "manual"}},
    "recreate": {"recreate": {"pause": "manual"}},
    "bluegreen": {"bluegreen": {"autoPromote": False}},
    "canary": {"canary": {"pause": "manual"}},
    "istio-canary": {"canary": {"pause": "manual"}},
}


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
    workdir: Path

    def argv(self, *args: str) -> list[str]:
        """`python -m rollout ARGS...` for this namespace, JSON logs on stderr."""
        return [
            sys.executable,
            "-m",
            "rollout",
            args[0],
            "--kubeconfig",
            str(self.kubeconfig),
            "-n",
            self.namespace,
            "--log-format",
            "json",
            *args[1:],
        ]

    def rollout(self, *args: str) -> Run:
        """Run `rollout ARGS` to completion, non-interactively, as a CI job would."""
        proc = subprocess.run(
            self.argv(*args),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=tool_environment(),
            timeout=self.cluster.timing.run_timeout,
        )
        return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr)

    def start_args(self, strategy: str, image: str, changes: Obj) -> list[str]:
        """`run -f` a copy of examples/rollouts/<strategy>.yaml with `changes` merged in."""
        spec = yaml.safe_load((EXAMPLES / "rollouts" / f"{strategy}.yaml").read_text())
        path = self.workdir / f"{strategy}-{image}.yaml"
        path.write_text(yaml.safe_dump(_merged(_merged(spec, QUICKER.get(strategy, {})), changes)))
        return [
            "run",
            "-f",
            str(path),
            "--image",
            image,
            "--prometheus-url",
            self.cluster.prometheus_url,
            *self.cluster.timing.analysis,
            "-o",
            "json",
        ]

    def start(self, strategy: str, image: str, changes: Obj | None = None) -> Run:
        return self.rollout(*self.start_args(strategy, image, changes or {}))


def tool_environment() -> dict[str, str]:
    """This environment without ROLLOUT_*/KUBECONFIG (every setting is on the command line),
    plus a lease renewed every 0.5 s: every scenario renews it, as long rollouts do."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "KUBECONFIG"))}
    return {**env, "ROLLOUT_LEASE_DURATION": "5", "ROLLOUT_LEASE_RENEW": "0.5"}


def _merged(base: Obj, changes: Obj) -> Obj:
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merged(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


@dataclass(frozen=True)
class ManualRuns:
    """A rollout waiting at manual pauses, looked at and promoted from other processes."""

    driver: Run
    status: Run
    promotes: tuple[Run, ...]
    serving_while_paused: frozenset[str]


def scenario(name: str) -> Callable[[F], F]:
    """Mark a test as asserting on scenario `name`, so the runner starts it early."""

    def mark(fn: F) -> F:
        fn.e2e_scenario = name  # type: ignore[attr-defined]
        return fn

    return mark


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
    """v1 -> v2 with manual pauses: the driver waits at each (--wait-at-pause) while other
    processes read `status` and `promote` it, until the driver finishes."""
    args = env.start_args(strategy, "v2", STOP_FOR_PROMOTE[strategy])
    timeout = env.cluster.timing.run_timeout
    driver = subprocess.Popen(
        env.argv(*args, "--wait-at-pause"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=tool_environment(),
    )
    try:
        paused = wait_for_record(env, lambda r: r["phase"] in STOPPED, timeout=timeout)
        serving = serving_images(env.cluster, env.namespace)
        status = env.rollout("status", APP, "-o", "json")
        promotes: list[Run] = []
        while paused and paused["phase"] == "Paused" and len(promotes) < MAX_PROMOTIONS:
            promotes.append(env.rollout("promote", APP, "-o", "json"))
            paused = wait_for_record(env, _moved_on(paused["step"]), timeout=timeout)
        out, err = driver.communicate(timeout=timeout)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
    driven = Run(tuple(args), driver.returncode, out, err)
    return ManualRuns(driven, status, tuple(promotes), serving)


def _moved_on(step: int) -> Callable[[Obj], bool]:
    """Predicate: the record stopped again, past `step` (or finished)."""
    return lambda r: r["phase"] in STOPPED and (r["phase"] != "Paused" or r["step"] != step)


DRIVERS: dict[str, Callable[[Env, str], Run | ManualRuns]] = {
    "healthy": drive_healthy,
    "failing": drive_failing,
    "manual": drive_manual,
}
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
    return json.loads(annotations[ANNOTATION])  # type: ignore[no-any-return]


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
    """The serving image tags once they are exactly `want` (else the last seen at the
    deadline), following the Service's Endpoints."""
    seen = [serving_images(cluster, namespace)]

    def check(_: Obj) -> bool:
        seen.append(serving_images(cluster, namespace))
        return seen[-1] == want

    core = client.CoreV1Api(cluster.api)
    _watch_until(core.list_namespaced_endpoints, namespace, check, timeout=timeout)
    return seen[-1]


def wait_for_record(env: Env, predicate: Callable[[Obj], bool], *, timeout: float) -> Obj | None:
    """The rollout record once `predicate` holds for it (None at the deadline), watching
    the target Deployment."""
    found: list[Obj] = []

    def check(d: Obj) -> bool:
        text = ((d.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION, "")
        if text and predicate(json.loads(text)):
            found.append(json.loads(text))
        return bool(found)

    apps = client.AppsV1Api(env.cluster.api)
    _watch_until(apps.list_namespaced_deployment, env.namespace, check, timeout=timeout)
    return found[0] if found else None


def _watch_until(
    list_fn: Callable[..., Any], namespace: str, check: Callable[[Obj], bool], *, timeout: float
) -> bool:
    """Read the app's object, then follow a watch from there until `check` holds."""
    selector = f"metadata.name={APP}"
    listed = json.loads(list_fn(namespace, field_selector=selector, _preload_content=False).data)
    if any(check(item) for item in listed["items"]):
        return True
    stream = watch.Watch().stream(
        list_fn,
        namespace,
        field_selector=selector,
        timeout_seconds=max(1, int(timeout)),
        resource_version=listed["metadata"]["resourceVersion"],
    )
    try:
        return any(check(event["raw_object"]) for event in stream)
    finally:
        stream.close()
