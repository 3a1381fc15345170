"""A discrete-event world for replaying Deployment rollouts through rollout_scaling.

Replays a recording of a real kube-controller-manager rollout (see /work/shared/data)
so tests can check the same scale decisions come out given the same timing.
"""

from __future__ import annotations

import heapq
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rollout.sandbox.controllers import rollout_scaling as scaling

RECORDING = (
    Path(__file__).resolve().parents[4].parent
    / "shared"
    / "data"
    / "upstream-rolling-10x-25pct-25pct.json"
)


@dataclass(frozen=True, slots=True)
class Timing:
    """When the ReplicaSet status reports what happened to pods (the simulated world).

    Pods are created and deleted the moment a ReplicaSet is scaled and become ready
    `ready_after` seconds after creation. The k-th new pod's readiness is reported no
    earlier than `ready_reports[k]`; the old ReplicaSet's status shows its i-th
    scale-down `old_status_lags[i]` seconds late. Empty tuples mean "immediately".
    """

    ready_after: float = 1.0
    ready_reports: tuple[float, ...] = ()
    old_status_lags: tuple[float, ...] = ()

    def report_at(self, index: int, created: float) -> float:
        floor = self.ready_reports[index] if index < len(self.ready_reports) else 0.0
        return max(created + self.ready_after, floor)

    def lag(self, index: int) -> float:
        return self.old_status_lags[index] if index < len(self.old_status_lags) else 0.0


@dataclass(slots=True)
class World:
    """Pods and observed ReplicaSet status of one old and one new ReplicaSet."""

    spec: scaling.DeploymentParams
    timing: Timing
    sizes: dict[str, int] = field(default_factory=dict)
    old_pods: int = 0
    new_ready_at: list[float] = field(default_factory=list)
    old_seen: int = 0
    new_seen: int = 0
    scale_downs: int = 0
    decisions: list[tuple[int, int]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    max_pods: int = 0
    min_available: int = 10**9
    events: list[tuple[float, int, str, int]] = field(default_factory=list)
    seq: itertools.count[int] = field(default_factory=itertools.count)

    def schedule(self, at: float, kind: str, value: int = 0) -> None:
        heapq.heappush(self.events, (at, next(self.seq), kind, value))

    def check(self, now: float) -> None:
        ready = sum(1 for at in self.new_ready_at if at <= now)
        self.max_pods = max(self.max_pods, self.old_pods + len(self.new_ready_at))
        self.min_available = min(self.min_available, self.old_pods + ready)

    def apply(self, plan: scaling.ScalePlan, now: float) -> None:
        for name, size in plan.items():
            before, self.sizes[name] = self.sizes[name], size
            if name == "new":
                assert size >= before, "the new ReplicaSet never shrinks in these scenarios"
                for _ in range(size - before):
                    self.schedule(self.timing.report_at(len(self.new_ready_at), now), "ready")
                    self.new_ready_at.append(now + self.timing.ready_after)
            else:
                self.old_pods -= before - size
                self.schedule(now + self.timing.lag(self.scale_downs), "old-status", size)
                self.scale_downs += 1
        self.decisions.append((self.sizes["old"], self.sizes["new"]))
        self.times.append(now)
        self.check(now)

    def reconcile(self, now: float) -> None:
        """The controller re-runs after every change until it has nothing to do."""
        while True:
            new = scaling.RSState("new", self.sizes["new"], available=self.new_seen, created=1.0)
            old = scaling.RSState("old", self.sizes["old"], available=self.old_seen, created=0.0)
            plan = scaling.rolling_step(self.spec, new=new, olds=[old])
            if not plan:
                return
            self.apply(plan, now)


def simulate(spec: scaling.DeploymentParams, timing: Timing) -> World:
    """Roll `spec.desired` ready old pods over to a new ReplicaSet, event by event."""
    world = World(spec, timing, sizes={"old": spec.desired, "new": 0}, old_pods=spec.desired)
    world.old_seen = spec.desired
    world.decisions.append((spec.desired, 0))
    world.times.append(0.0)
    world.check(0.0)
    world.reconcile(0.0)
    while world.events:
        now = world.events[0][0]
        while world.events and world.events[0][0] == now:  # one status update per instant
            _, _, kind, value = heapq.heappop(world.events)
            if kind == "ready":
                world.new_seen += 1
            else:
                world.old_seen = min(world.old_seen, value)
        world.check(now)
        world.reconcile(now)
    return world


@dataclass(frozen=True, slots=True)
class Recording:
    """The recorded upstream rollout (see /work/shared/data)."""

    spec: scaling.DeploymentParams
    decisions: list[tuple[int, int]]
    max_pods: int
    min_available: int
    trace: list[dict[str, float]]


def load_recording() -> Recording:
    if not RECORDING.exists():
        pytest.skip(f"recording {RECORDING} not available")
    data = json.loads(RECORDING.read_text())
    return Recording(
        spec=scaling.DeploymentParams(
            data["replicas"], max_surge=data["surge"], max_unavailable=data["unavailable"]
        ),
        decisions=[(old, new) for old, new in data["scale_decisions"]],
        max_pods=data["max_pods"],
        min_available=data["min_available"],
        trace=data["trace"],
    )


def recorded_timing(trace: list[dict[str, float]]) -> Timing:
    """Readiness report times and old-status lags measured in the recorded trace.

    In the recording two new pods are reported ready in one status update (2.491 s), and
    the old ReplicaSet's status shows a scale-down 15-20 ms late at first, ~0.4 s later on.
    """
    start, rows = trace[0], trace[1:]  # the first row is the state before the rollout
    reports: list[float] = []
    seen = start["new_avail"]
    for row in rows:
        reports += [row["t"]] * int(max(0, row["new_avail"] - seen))
        seen = max(seen, row["new_avail"])
    lags: list[float] = []
    spec = start["old_spec"]
    for index, row in enumerate(rows):
        if row["old_spec"] < spec:
            caught = next(r["t"] for r in rows[index + 1 :] if r["old_avail"] <= row["old_spec"])
            lags.append(caught - row["t"])
        spec = row["old_spec"]
    return Timing(ready_reports=tuple(reports), old_status_lags=tuple(lags))


def recorded_decision_times(trace: list[dict[str, float]]) -> list[float]:
    times = [0.0]
    for before, row in itertools.pairwise(trace):
        if (row["old_spec"], row["new_spec"]) != (before["old_spec"], before["new_spec"]):
            times.append(row["t"])
    return times
