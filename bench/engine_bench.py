"""Engine performance: orchestration overhead, API requests, reaction time, cold start.

Run: python bench/engine_bench.py [--runs 5] [--cold-runs 10] [--speed 50]

Prints a table, asserts nothing (issue 3 targets: overhead <= 0.3 s, reaction <= 100 ms,
`rollout --help` <= 0.15 s). The sandbox runs in this process (clock sped up so pod
startup is ~20 ms); rollouts have no checks, so no analysis waits are in the figures.

(a) overhead = median wall time of a rolling rollout (in-process `Engine.start`, and the
    `rollout rolling` CLI as a subprocess) minus the median time the sandbox itself
    takes to roll the same Deployment on a plain strategic-merge patch + watch (what
    `kubectl set image` + `kubectl rollout status` do).
(b) API requests per rollout by verb (and verb + resource), from the sandbox's log.
(c) reaction: the last new pod's Ready (store commit) -> the engine's next write,
    split at the Deployment's status turning complete. Request times come from a
    RequestLog subclass that stamps each entry (RequestLog keeps no time).
(d) the analysis path: a rolling rollout with `--batches 50%,100%` and one check
    (success-rate, 2 measurements 0.2 s apart per step) on the sandbox's own counters
    (the demo's CountersProvider, in this process). Overhead there = wall time minus the
    time analysis slept between measurements minus the plain sandbox roll; reaction =
    a step's last measurement -> the engine's next write (resume / record save).
(e) `rollout --help` and `rollout status NAME` vs `python -c pass`, run in turn;
    medians, and the median of the per-round ratios. The CLI overhead is shown with
    and without this cold start (interpreter + imports, mostly the kubernetes client).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import structlog
from kubernetes import client, config, watch

from rollout import analysis, deployments, kube, spec
from rollout.demo import CountersProvider
from rollout.engine import Engine
from rollout.report import Outcome, Reporter
from rollout.sandbox import Sandbox, SandboxConfig
from rollout.sandbox.faults import WRITE_VERBS, Request, RequestLog
from rollout.sandbox.store.watch import Event
from rollout.settings import Settings
from strategies import REGISTRY

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TARGET = spec.ObjectRef("default", "link-manager")
CONTAINER = "link-manager"
REPO = "ghcr.io/example/link-manager"
Obj = dict[str, Any]


class TimedRequestLog(RequestLog):
    """A RequestLog whose entries also carry the monotonic time they were recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.timed: list[tuple[float, Request, int]] = []

    def record(self, req: Request, code: int) -> None:
        self.timed.append((time.monotonic(), req, code))
        super().record(req, code)

    def rollout_requests(self, start: float, end: float) -> list[tuple[float, Request]]:
        """Requests rollout (its user agent) made between `start` and `end`."""
        return [(t, r) for t, r, _ in list(self.timed) if start <= t <= end and is_rollout(r)]


def is_rollout(req: Request) -> bool:
    return req.user_agent.startswith("rollout")


class Timeline:
    """Store commits that matter here: pods turning Ready, the target turning complete."""

    def __init__(self) -> None:
        self.ready: list[float] = []
        self.complete: list[float] = []

    def on_event(self, event: Event) -> None:  # under the store lock: keep it cheap
        if event.type == "DELETED":
            return
        if event.key == "pods" and is_ready(event.obj) and not is_ready(event.old):
            self.ready.append(time.monotonic())
        elif (
            event.key == "deployments.apps"
            and event.obj["metadata"]["name"] == TARGET.name
            and deployments.is_complete(event.obj)
            and not deployments.is_complete(event.old)
        ):
            self.complete.append(time.monotonic())


def is_ready(pod: Obj | None) -> bool:
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@dataclasses.dataclass
class Bench:
    """The sandbox, the clients, and what was measured."""

    box: Sandbox
    log: TimedRequestLog
    timeline: Timeline
    kubeconfig: Path
    api: client.ApiClient
    engine: Engine
    images: Iterator[str]
    samples: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )
    verbs: dict[str, collections.Counter[str]] = dataclasses.field(default_factory=dict)


def start(speed: float, directory: Path) -> Bench:
    """Sandbox with link-manager v1 rolled out, a kubernetes client and an engine."""
    config_ = dataclasses.replace(SandboxConfig.from_yaml(EXAMPLES / "sandbox.yaml"), speed=speed)
    box = Sandbox(config_)
    log, timeline = TimedRequestLog(), Timeline()
    box.requests = box.api.requests = log  # before start: the API records into it
    box.store.add_listener(timeline.on_event)
    box.start()
    box.apply_file(EXAMPLES / "manifests" / "link-manager.yaml")
    path = box.write_kubeconfig(directory / "kubeconfig")
    cfg = client.Configuration()
    config.load_kube_config(str(path), client_configuration=cfg)
    settings = Settings()
    engine = Engine(
        cluster=kube.Cluster.connect(kubeconfig=str(path), settings=settings),
        settings=settings,
        strategies={kind: cls for kind, cls in REGISTRY.items()},
        reporter=Reporter(),
    )
    bench = Bench(box, log, timeline, path, client.ApiClient(cfg), engine, images())
    wait_complete(bench, timeout=30)
    return bench


class SleepTally(analysis.SystemClock):
    """The real clock, adding up how long analysis slept between measurements."""

    def __init__(self) -> None:
        self.slept = 0.0

    def sleep(self, seconds: float) -> None:
        started = time.monotonic()
        super().sleep(seconds)
        self.slept += time.monotonic() - started


class MeasurementTimes(Reporter):
    """Stamps each analysis measurement with the monotonic time it was reported."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def measurement(self, m: analysis.Measurement) -> None:
        self.times.append(time.monotonic())


def images() -> Iterator[str]:
    """A different image for every roll: v2, v1, v2, ..."""
    while True:
        yield f"{REPO}:v2"
        yield f"{REPO}:v1"


def wait_complete(bench: Bench, *, timeout: float) -> None:
    """`kubectl rollout status`: watch the Deployment until its rollout is complete."""
    apps = client.AppsV1Api(bench.api)
    stream = watch.Watch()
    for event in stream.stream(
        apps.list_namespaced_deployment,
        TARGET.namespace,
        field_selector=f"metadata.name={TARGET.name}",
        timeout_seconds=int(timeout),
    ):
        if deployments.is_complete(bench.api.sanitize_for_serialization(event["object"])):
            stream.stop()
            return
    raise TimeoutError(f"Deployment {TARGET} not complete after {timeout}s")


def kubectl_roll(bench: Bench) -> None:
    """Baseline: one strategic-merge patch of the image, then watch until complete."""
    body = {"spec": {"template": {"spec": {"containers": [{"name": CONTAINER, "image": ""}]}}}}
    body["spec"]["template"]["spec"]["containers"][0]["image"] = next(bench.images)
    started = time.monotonic()
    client.AppsV1Api(bench.api).patch_namespaced_deployment(TARGET.name, TARGET.namespace, body)
    wait_complete(bench, timeout=60)
    bench.samples["sandbox roll (patch + watch)"].append(time.monotonic() - started)


def engine_roll(bench: Bench) -> None:
    """`Engine.start` of a rolling rollout without checks, in this process."""
    started = time.monotonic()
    overrides = spec.SpecOverrides(images=(next(bench.images),))
    rolling = spec.spec_from_flags(
        spec.StrategyKind.ROLLING, TARGET.name, namespace=TARGET.namespace, overrides=overrides
    )
    result = bench.engine.start(rolling)
    ended = time.monotonic()
    if result.outcome is not Outcome.PROMOTED:
        raise RuntimeError(f"engine rollout ended {result.outcome.value}: {result.message}")
    bench.samples["engine rollout (in-process)"].append(ended - started)
    count_requests(bench, "in-process", started, ended)
    reaction(bench, "in-process", started, ended)


def analysed_roll(bench: Bench) -> None:
    """`Engine.start` of a rolling rollout in two batches, each gated on a check."""
    clock, stamps = SleepTally(), MeasurementTimes()
    provider = CountersProvider(bench.box.traffic.render)
    engine = dataclasses.replace(
        bench.engine, clock=clock, reporter=stamps, metrics_for=lambda _: provider
    )
    overrides = spec.SpecOverrides(
        images=(next(bench.images),),
        batches="50%,100%",
        checks=(analysis.parse_check("success-rate>=90"),),
        interval="0.2s",
        count=2,
        initial_delay="0.2s",
    )
    rolling = spec.spec_from_flags(
        spec.StrategyKind.ROLLING, TARGET.name, namespace=TARGET.namespace, overrides=overrides
    )
    started = time.monotonic()
    result = engine.start(rolling)
    ended = time.monotonic()
    if result.outcome is not Outcome.PROMOTED:
        raise RuntimeError(f"analysed rollout ended {result.outcome.value}: {result.message}")
    bench.samples["analysed rollout (in-process)"].append(ended - started)
    bench.samples["  of which analysis slept"].append(clock.slept)
    count_requests(bench, "analysed, in-process", started, ended)
    writes = [
        t
        for t, req in bench.log.rollout_requests(started, ended)
        if req.verb in WRITE_VERBS and req.resource != "leases"
    ]
    for last in stamps.times[1::2]:  # count=2: every second measurement ends a step
        after = [t for t in writes if t >= last]
        if after:
            bench.samples["reaction: last measurement -> write"].append(after[0] - last)


def cli_roll(bench: Bench) -> None:
    """`rollout rolling NAME --image X` as a subprocess (cold start included)."""
    started = time.monotonic()
    proc = subprocess.run(
        [*rollout_command(), "rolling", TARGET.name, "--image", next(bench.images),
         "--kubeconfig", str(bench.kubeconfig), "--log-format", "json"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False,
    )  # fmt: skip
    ended = time.monotonic()
    if proc.returncode != 0:
        raise RuntimeError(f"rollout rolling exited {proc.returncode}: {proc.stderr[-500:]}")
    bench.samples["`rollout rolling` (subprocess)"].append(ended - started)
    count_requests(bench, "CLI", started, ended)
    reaction(bench, "CLI", started, ended)


def count_requests(bench: Bench, label: str, start: float, end: float) -> None:
    """Add this rollout's requests (by verb, and by verb + resource) to the tally."""
    tally = bench.verbs.setdefault(label, collections.Counter())
    for _, req in bench.log.rollout_requests(start, end):
        tally[req.verb] += 1
        tally[f"{req.verb} {req.resource}"] += 1
    tally["#rollouts"] += 1


def reaction(bench: Bench, label: str, start: float, end: float) -> None:
    """Last pod Ready -> Deployment complete -> the engine's next write, for one rollout.

    Every record save bumps the Deployment's generation (annotations do, upstream too),
    so "complete" flips on and off during a rollout: take the first one after the
    last pod turned Ready.
    """
    ready = max(t for t in bench.timeline.ready if start <= t <= end)
    done = min(t for t in bench.timeline.complete if ready <= t <= end)
    write = min(
        t
        for t, req in bench.log.rollout_requests(done, end)
        if req.verb in WRITE_VERBS and req.resource != "leases"
    )
    bench.samples[f"reaction ({label}): pod Ready -> write"].append(write - ready)
    bench.samples[f"  ({label}) pod Ready -> Deployment complete"].append(done - ready)
    bench.samples[f"  ({label}) Deployment complete -> write"].append(write - done)


def rollout_command() -> list[str]:
    """The `rollout` console script, else `python -m rollout`."""
    script = shutil.which("rollout")
    return [script] if script else [sys.executable, "-m", "rollout"]


def cold_start(bench: Bench, runs: int) -> dict[str, list[float]]:
    """Each command `runs` times (after one warm-up round), in turn: A B C A B C ..."""
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "rollout --help": [*rollout_command(), "--help"],
        "rollout status NAME": [
            *rollout_command(), "status", TARGET.name, "--kubeconfig", str(bench.kubeconfig),
        ],
    }  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL, check=True)
            if round_:
                times[name].append(time.perf_counter() - started)
    return times


# -- the table ------------------------------------------------------------------------


def row(name: str, value: str, target: str = "", verdict: str = "") -> None:
    print(f"{name:<48} {value:>12}  {target:<10} {verdict}")


def judged(name: str, seconds: float, limit: float | None, unit: str = "s") -> None:
    scale = 1000.0 if unit == "ms" else 1.0
    value = f"{seconds * scale:.{0 if unit == 'ms' else 3}f} {unit}"
    if limit is None:
        row(name, value)
        return
    target = f"<= {limit * scale:g} {unit}"
    row(name, value, target, "ok" if seconds <= limit else "MISSED")


def report(bench: Bench, cold: dict[str, list[float]]) -> None:
    med = {name: statistics.median(values) for name, values in bench.samples.items()}
    base = med["sandbox roll (patch + watch)"]
    row("measure (medians)", "value", "target", "")
    print("-" * 80)
    judged("sandbox roll (patch + watch)", base, None)
    judged("engine rollout (in-process)", med["engine rollout (in-process)"], None)
    judged("  overhead (in-process - sandbox)", med["engine rollout (in-process)"] - base, 0.3)
    cli = med["`rollout rolling` (subprocess)"]
    cold_status = statistics.median(cold["rollout status NAME"])
    judged("`rollout rolling` (subprocess)", cli, None)
    judged("  CLI - sandbox (incl. cold start)", cli - base, None)
    judged("  overhead (CLI - sandbox - `status` cold start)", cli - base - cold_status, 0.3)
    analysed = med["analysed rollout (in-process)"]
    slept = med["  of which analysis slept"]
    judged("analysed rollout, 2 batches x 2 measurements", analysed, None)
    judged("  of which analysis slept", slept, None)
    judged("  overhead (analysed - slept - sandbox)", analysed - slept - base, 0.3)
    judged(
        "reaction: last measurement -> write", med["reaction: last measurement -> write"], 0.1, "ms"
    )
    for label in ("in-process", "CLI"):
        judged(
            f"reaction ({label}): pod Ready -> write",
            med[f"reaction ({label}): pod Ready -> write"],
            0.1,
            "ms",
        )
        for part in ("pod Ready -> Deployment complete", "Deployment complete -> write"):
            judged(f"  ({label}) {part}", med[f"  ({label}) {part}"], None, "ms")
    for label, tally in bench.verbs.items():
        n = tally.pop("#rollouts")
        per = {k: v / n for k, v in sorted(tally.items())}
        verbs = ", ".join(f"{k} {v:.3g}" for k, v in per.items() if " " not in k)
        row(
            f"API requests per rollout ({label})",
            f"{sum(v for k, v in per.items() if ' ' not in k):.3g}",
        )
        print(f"    by verb: {verbs}")
        print("    " + ", ".join(f"{k} {v:.3g}" for k, v in per.items() if " " in k))
    baseline = cold["python -c pass"]
    judged("python -c pass", statistics.median(baseline), None)
    for name, limit in (("rollout --help", 0.15), ("rollout status NAME", None)):
        ratio = statistics.median(a / b for a, b in zip(cold[name], baseline, strict=True))
        judged(f"{name} (x{ratio:.1f} python -c pass)", statistics.median(cold[name]), limit)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rollouts of each kind")
    parser.add_argument("--cold-runs", type=int, default=10, help="runs of each CLI command")
    parser.add_argument("--speed", type=float, default=50.0, help="sandbox clock factor")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as directory:
        bench = start(args.speed, Path(directory))
        try:
            rolls: list[Callable[[Bench], None]] = [
                kubectl_roll, engine_roll, analysed_roll, cli_roll,
            ]  # fmt: skip
            for _ in range(args.runs):
                for roll in rolls:
                    roll(bench)
            cold = cold_start(bench, args.cold_runs)
        finally:
            bench.engine.cluster.close()
            bench.api.close()
            bench.box.stop()
    print(f"{args.runs} rollouts of each kind, 4 replicas, sandbox clock x{args.speed:g}; "
          f"{args.cold_runs} cold starts of each command")  # fmt: skip
    report(bench, cold)


if __name__ == "__main__":
    main()
