"""Traffic strategies: API requests per step, overhead, and verdict -> traffic on stable.

Run: python bench/traffic_bench.py [--runs 3] [--speed 50]

Prints medians, asserts nothing (issue 4 targets: abort = 1 write and <= 50 ms on loopback;
<= 4 API requests per step outside watches). Each run gives each strategy a fresh
in-process sandbox (examples/sandbox.yaml, clock sped up), then:

(a) healthy: `Engine.start` to v2 without checks (bluegreen: scale-down delay 0; on a fresh
    sandbox this is its first, adopting, run). Requests are rollout's (user agent) in the
    sandbox's log, minus watches and the lists that start them (noted by a Cluster
    subclass: the log cannot tell them from plain lists). A step is what follows the record
    save that starts it, up to the save that starts the next one (or the promotion):
    action, gates, one save + Event. The rollout's first save (also the first step's
    start) counts as setup.
    Overhead = wall time minus the time some pod was between creation and Ready (store
    commits): the sandbox's own time to make pods ready.
(b) failing: to v3 (20% errors, slow) with success-rate>=99 and latency-p99<=300ms on the
    sandbox's counters (rollout.demo.CountersProvider). The verdict is when the engine logs
    `gate.failed`, right after the gate returns (a structlog processor stamps it). Traffic
    is on stable at the Service selector write (bluegreen), the VirtualService write
    (istio-canary), or the first Endpoints commit without a ready canary pod (canary).
    Writes are rollout's mutating requests from the verdict to that moment.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import itertools
import logging
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any, NamedTuple

import structlog

from rollout import analysis, deployments, kube, spec
from rollout.demo import CountersProvider
from rollout.engine import Engine
from rollout.report import Outcome, Reporter, Result
from rollout.sandbox import Sandbox, SandboxConfig
from rollout.sandbox import kinds as box_kinds
from rollout.sandbox.faults import WRITE_VERBS, Entry, Request
from rollout.sandbox.store.watch import Event
from rollout.settings import Settings
from rollout.state import RolloutRecord
from strategies import REGISTRY

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TARGET = spec.ObjectRef("default", "link-manager")
REPO = "ghcr.io/example/link-manager"
CHECKS = ("success-rate>=99", "latency-p99<=300ms")
CANARY_PODS = f"{TARGET.name}-canary-"
KINDS = (spec.StrategyKind.BLUEGREEN, spec.StrategyKind.CANARY, spec.StrategyKind.ISTIO_CANARY)
PER_STEP, ABORT_WRITES, ABORT_SECONDS = 4, 1, 0.05  # issue 4's targets
Obj = dict[str, Any]


class ListNotingCluster(kube.Cluster):
    """A Cluster that notes when (and of what) each list made to start a watch returned."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain = threading.local()
        self.watch_lists: list[tuple[float, str]] = []

    def list(self, res: kube.Resource, namespace: str, *, labels: str | None = None) -> Any:
        self._plain.on = True
        try:
            return super().list(res, namespace, labels=labels)
        finally:
            self._plain.on = False

    def list_with_version(self, res: kube.Resource, namespace: str | None, **kw: Any) -> Any:
        out = super().list_with_version(res, namespace, **kw)
        if not getattr(self._plain, "on", False):
            self.watch_lists.append((time.monotonic(), res.plural))
        return out


@dataclasses.dataclass
class Verdicts:
    """structlog processor: stamps each `gate.failed`, drops every line (no output)."""

    failed: list[float] = dataclasses.field(default_factory=list)

    def __call__(self, _logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
        if event.get("event") == "gate.failed":
            self.failed.append(time.monotonic())
        raise structlog.DropEvent


@dataclasses.dataclass
class StepMarks(Reporter):
    """Reporter hook: when each record save finished, and the step the record was at."""

    marks: list[tuple[float, int]] = dataclasses.field(default_factory=list)

    def update(self, record: RolloutRecord) -> None:
        self.marks.append((time.monotonic(), record.step))


class Timeline:
    """Store commits: pods from creation to Ready; the target Service's Endpoints."""

    def __init__(self) -> None:
        self.created: dict[str, float] = {}
        self.starting: list[tuple[float, float]] = []
        self.canary_ready: list[tuple[float, int]] = []  # (when, ready canary addresses)

    def on_event(self, event: Event) -> None:  # under the store lock: keep it cheap
        now, name = time.monotonic(), event.obj["metadata"]["name"]
        if event.key == "pods" and event.type == "ADDED":
            self.created[name] = now
        elif event.key == "pods" and is_ready(event.obj) and name in self.created:
            self.starting.append((self.created.pop(name), now))
        elif event.key == "endpoints" and name == TARGET.name and event.type != "DELETED":
            ready = [a for s in event.obj.get("subsets") or [] for a in s.get("addresses") or []]
            names = [(a.get("targetRef") or {}).get("name", "") for a in ready]
            self.canary_ready.append((now, sum(n.startswith(CANARY_PODS) for n in names)))

    def pod_seconds(self, start: float, end: float) -> float:
        """How long, within [start, end], at least one pod was created but not yet Ready."""
        total, reach = 0.0, start
        for a, b in sorted(self.starting):
            a, b = max(a, reach), min(b, end)
            if b > a:
                total, reach = total + b - a, b
        return total


def is_ready(pod: Obj | None) -> bool:
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class Lab(NamedTuple):
    """One sandbox, its store timeline, and a client to it."""

    box: Sandbox
    timeline: Timeline
    cluster: ListNotingCluster


@dataclasses.dataclass
class Stats:
    """Per strategy: samples by row name, and the last run's request lists to show."""

    samples: collections.defaultdict[str, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list))  # fmt: skip
    verbs: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    busy_steps: list[str] = dataclasses.field(default_factory=list)
    abort_sequence: str = ""
    failed_steps: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


@contextlib.contextmanager
def lab(speed: float, directory: Path) -> Iterator[Lab]:
    """A fresh sandbox with link-manager v1 available, and a client to it."""
    config = dataclasses.replace(SandboxConfig.from_yaml(EXAMPLES / "sandbox.yaml"), speed=speed)
    box, timeline = Sandbox(config), Timeline()
    box.store.add_listener(timeline.on_event)
    box.start()
    try:
        box.apply_file(EXAMPLES / "manifests" / "link-manager.yaml")
        namespaces = box_kinds.BY_KEY["namespaces"]  # Istio metrics: injected ones only
        box.store.update(namespaces, "", TARGET.namespace, inject_istio)
        path = box.write_kubeconfig(directory / "kubeconfig")
        with ListNotingCluster.connect(kubeconfig=str(path), settings=Settings()) as cluster:
            assert isinstance(cluster, ListNotingCluster)  # connect() is a classmethod
            cluster.wait_for(kube.Resource.DEPLOYMENT, TARGET, deployments.is_complete, timeout=30)
            yield Lab(box, timeline, cluster)
    finally:
        box.stop()


def inject_istio(namespace: Obj) -> None:
    namespace["metadata"].setdefault("labels", {})["istio-injection"] = "enabled"


Run = tuple[Result, float, float, list[tuple[float, int]]]  # result, start, end, saves


def roll(lab_: Lab, kind: spec.StrategyKind, image: str, *, checked: bool) -> Run:
    """One `Engine.start` to `image`, timed, with the record saves' times."""
    extra: dict[str, Any] = {}
    if checked:
        extra = dict(checks=tuple(analysis.parse_check(c) for c in CHECKS), interval="1s",
                     count=1, initial_delay="2s")  # fmt: skip
    if kind is spec.StrategyKind.BLUEGREEN:
        extra["scale_down_delay"] = 0.0
    overrides = spec.SpecOverrides(images=(f"{REPO}:{image}",), timeout="2m", **extra)
    rollout = spec.spec_from_flags(kind, TARGET.name, namespace=TARGET.namespace,
                                   overrides=overrides)  # fmt: skip
    provider = CountersProvider(lab_.box.traffic.render) if checked else None
    marks = StepMarks()
    engine = Engine(cluster=lab_.cluster, settings=lab_.cluster.settings,
                    strategies={k: v for k, v in REGISTRY.items()}, reporter=marks,
                    metrics_for=(lambda _: provider) if provider else None)  # fmt: skip
    started = time.monotonic()
    result = engine.start(rollout)
    return result, started, time.monotonic(), marks.marks


def mine(lab_: Lab, start: float, end: float) -> list[Entry]:
    """rollout's requests between `start` and `end`, in order."""
    entries = [e for e in list(lab_.box.requests.entries) if start <= e.at <= end]
    return [e for e in entries if e.request.user_agent.startswith("rollout")]


def outside_watches(lab_: Lab, calls: list[Entry]) -> list[Entry]:
    """`calls` without watches and without the list that started each watch."""
    skip: set[int] = set()
    for when, plural in lab_.cluster.watch_lists:
        lists = [i for i, c in enumerate(calls) if i not in skip and c.at <= when
                 and (c.request.verb, c.request.resource) == ("list", plural)]  # fmt: skip
        skip.update(lists[-1:])
    return [c for i, c in enumerate(calls) if i not in skip and c.request.verb != "watch"]


def show(e: Entry, save: bool = False) -> str:
    """`verb resource/name`, then the status if it failed, `(save)` for a record save."""
    req = e.request
    text = f"{req.verb} {req.resource}" + (f"/{req.name}" if req.name else "")
    return text + (f" [{e.code}]" if e.code >= 400 else "") + (" (save)" if save else "")


def healthy(lab_: Lab, kind: spec.StrategyKind, stats: Stats) -> None:
    """(a): requests and writes per step (and how many are record saves), overhead."""
    result, started, ended, marks = roll(lab_, kind, "v2", checked=False)
    if result.outcome is not Outcome.PROMOTED or result.record is None:
        raise RuntimeError(f"{kind.value} to v2 ended {result.outcome.value}: {result.message}")
    everything = mine(lab_, started, ended)
    calls = outside_watches(lab_, everything)
    saves = record_saves(calls, marks)
    names = [s.name for s in result.record.steps]
    edges = [marks[0][0]] + [min(t for t, step in marks if step > i) for i in range(len(names))]
    steps = [[c for c in calls if a < c.at <= b] for a, b in itertools.pairwise(edges)]
    s, n = stats.samples, len(names)
    s["steps"].append(n)
    s["requests per rollout"].append(len(calls))
    s["requests per step, mean"].append(sum(map(len, steps)) / n)
    s["requests per step, max"].append(max(map(len, steps)))
    flat = [c for step in steps for c in step]
    s["  of which record saves + Events, mean"].append(sum(id(c) in saves for c in flat) / n)
    s["writes per step, mean"].append(sum(c.request.verb in WRITE_VERBS for c in flat) / n)
    s["setup requests (before step 1)"].append(sum(c.at <= edges[0] for c in calls))
    s["finish requests (after last step)"].append(sum(c.at > edges[-1] for c in calls))
    s["watches + their lists, per rollout"].append(len(everything) - len(calls))
    s["engine wall time (s)"].append(ended - started)
    pods = lab_.timeline.pod_seconds(started, ended)
    s["sandbox: some pod starting (s)"].append(pods)
    s["overhead = wall - pod starting (s)"].append(ended - started - pods)
    stats.verbs = collections.Counter(c.request.verb for c in flat)
    stats.verbs["#steps"] = n
    stats.busy_steps = [
        f"{name} ({len(step)}): " + ", ".join(show(c, id(c) in saves) for c in step)
        for name, step in zip(names, steps, strict=True)
        if len(step) > PER_STEP
    ]


def record_saves(calls: list[Entry], marks: list[tuple[float, int]]) -> set[int]:
    """ids of the engine's record saves: the target's annotation patch and the Event it may
    record, the last two requests before each Reporter.update."""
    saves: set[int] = set()
    for when, _ in marks:
        for c in reversed([c for c in calls if c.at <= when and id(c) not in saves]):
            if show(c) not in ("create events", f"patch deployments/{TARGET.name}"):
                break
            saves.add(id(c))
            if show(c) != "create events":  # the patch comes before its Event
                break
    return saves


def failing(lab_: Lab, kind: spec.StrategyKind, stats: Stats, verdicts: Verdicts) -> None:
    """(b): verdict -> first write back to stable -> traffic on stable; writes between."""
    seen = len(verdicts.failed)
    result, _, ended, _ = roll(lab_, kind, "v3", checked=True)
    record = result.record
    if result.outcome is not Outcome.ROLLED_BACK or record is None or seen == len(verdicts.failed):
        stats.notes.append(f"v3 run ended {result.outcome.value}, no failing gate: skipped")
        return
    verdict = verdicts.failed[seen]
    after = mine(lab_, verdict, ended)
    write = next((e for e in after if SHIFTS[kind](e.request)), None)
    if write is None:
        stats.notes.append("no write back to stable seen after the verdict: skipped")
        return
    stable = write.at
    if kind is spec.StrategyKind.CANARY:
        stable = next(t for t, n in lab_.timeline.canary_ready if t >= verdict and n == 0)
    between = [e for e in after if e.at <= stable]
    writes = [e for e in between if e.request.verb in WRITE_VERBS and not e.request.dry_run]
    failed = next(f"{s.name} (by {s.message.split()[0]})" for s in record.steps
                  if s.outcome == "failed")  # fmt: skip
    stats.failed_steps.append(failed)
    stats.samples["verdict -> first write to stable (ms)"].append(1000 * (write.at - verdict))
    stats.samples["verdict -> traffic on stable (ms)"].append(1000 * (stable - verdict))
    stats.samples["writes, verdict -> traffic on stable"].append(len(writes))
    stats.samples["requests, verdict -> traffic on stable"].append(len(between))
    stats.abort_sequence = " -> ".join(map(show, between))


# the write that moves traffic back: the selector, the weights, the canary's deletion
SHIFTS: dict[spec.StrategyKind, Callable[[Request], bool]] = {
    spec.StrategyKind.BLUEGREEN: lambda r: (r.verb, r.resource, r.name) == (
        "patch", "services", TARGET.name),
    spec.StrategyKind.ISTIO_CANARY: lambda r: r.verb in ("patch", "update")
    and r.resource == "virtualservices",
    spec.StrategyKind.CANARY: lambda r: (r.verb, r.resource, r.name) == (
        "delete", "deployments", f"{TARGET.name}-canary"),
}  # fmt: skip


# -- the table ------------------------------------------------------------------------

ROWS: list[tuple[str, str, float | None]] = [  # (sample, format, target: at most)
    ("steps", "{:.0f}", None),
    ("requests per rollout", "{:.0f}", None),
    ("requests per step, mean", "{:.1f}", PER_STEP),
    ("requests per step, max", "{:.0f}", PER_STEP),
    ("  of which record saves + Events, mean", "{:.1f}", None),
    ("writes per step, mean", "{:.1f}", None),
    ("setup requests (before step 1)", "{:.0f}", None),
    ("finish requests (after last step)", "{:.0f}", None),
    ("watches + their lists, per rollout", "{:.0f}", None),
    ("engine wall time (s)", "{:.3f}", None),
    ("sandbox: some pod starting (s)", "{:.3f}", None),
    ("overhead = wall - pod starting (s)", "{:.3f}", None),
    ("verdict -> first write to stable (ms)", "{:.1f}", None),
    ("verdict -> traffic on stable (ms)", "{:.1f}", 1000 * ABORT_SECONDS),
    ("writes, verdict -> traffic on stable", "{:.0f}", ABORT_WRITES),
    ("requests, verdict -> traffic on stable", "{:.0f}", None),
]


def cell(values: list[float] | None, fmt: str, limit: float | None) -> str:
    if not values:
        return "-"
    value = statistics.median(values)
    verdict = "" if limit is None else (" ok" if value <= limit else " MISSED")
    return fmt.format(value) + verdict


def report(stats: dict[spec.StrategyKind, Stats], runs: int, speed: float) -> None:
    print(f"{runs} run(s) per strategy, link-manager 4 replicas, sandbox clock x{speed:g}; "
          "medians; requests are outside watches unless said")  # fmt: skip
    print(f"{'measure':<40}" + "".join(f"{k.value:>16}" for k in KINDS) + "  target")
    print("-" * 100)
    for name, fmt, limit in ROWS:
        if name == "verdict -> first write to stable (ms)":
            print("(b) failing rollout to v3 (checks fail)")
        elif name == "steps":
            print("(a) healthy rollout to v2, no checks")
        cells = [cell(stats[k].samples.get(name), fmt, limit) for k in KINDS]
        target = "" if limit is None else f"<= {limit:g}" + (" ms" if "(ms)" in name else "")
        print(f"  {name:<38}" + "".join(f"{c:>16}" for c in cells) + f"  {target}")
    for kind in KINDS:
        st = stats[kind]
        n = st.verbs.pop("#steps", 1)
        verbs = ", ".join(f"{v} {c / n:.2g}" for v, c in sorted(st.verbs.items()))
        print(f"\n{kind.value}: per step by verb (last run): {verbs}")
        print(f"  failing gate in step: {', '.join(sorted(set(st.failed_steps))) or '-'}")
        for line in st.busy_steps:
            print(f"  over {PER_STEP} (last run) {line}")
        print(f"  verdict -> traffic on stable (last run): {st.abort_sequence or '-'}")
        for note in st.notes:
            print(f"  note: {note}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each strategy")
    parser.add_argument("--speed", type=float, default=50.0, help="sandbox clock factor")
    args = parser.parse_args(argv)
    verdicts = Verdicts()
    warnings = structlog.make_filtering_bound_logger(logging.WARNING)  # gate.failed is one
    structlog.configure(processors=[verdicts], wrapper_class=warnings)
    stats = {kind: Stats() for kind in KINDS}
    with tempfile.TemporaryDirectory(prefix="traffic-bench-") as directory:
        for _ in range(args.runs):
            for kind in KINDS:
                with lab(args.speed, Path(directory)) as lab_:
                    healthy(lab_, kind, stats[kind])
                    failing(lab_, kind, stats[kind], verdicts)
    report(stats, args.runs, args.speed)


if __name__ == "__main__":
    main()
