"""`rollout demo`: the link-manager example on an in-process sandbox, rolled to a healthy
v2 (promoted) and then to a failing v3 (rolled back), gated on metrics.

Gates on a real Prometheus scraping the sandbox when the `prometheus` binary is
installed, else on the sandbox's own request counters through `CountersProvider`,
which answers the built-in check templates (and nothing else) like Prometheus would.
Runs the engine in-process; imported only by the CLI's `demo` command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import io
import math
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from rollout import analysis, errors, kube, metrics, report, spec
from rollout.engine import Engine
from rollout.report import Outcome, Result
from rollout.settings import Settings
from strategies import REGISTRY

if TYPE_CHECKING:
    from rollout.sandbox import Sandbox, counters

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TARGET = spec.ObjectRef("default", "link-manager")
CHECKS = ("success-rate>=99", "latency-p99<=300ms")
SCRAPE_INTERVAL = "1s"


class MetricsSource(enum.Enum):
    """Where the demo's checks get their numbers."""

    AUTO = "auto"  # Prometheus when installed, else the sandbox's counters
    PROMETHEUS = "prometheus"
    COUNTERS = "counters"


@dataclass(frozen=True, slots=True)
class Stage:
    """One rollout of the demo and what it should end in."""

    image: str
    about: str
    expect: Outcome


STAGES = (
    Stage("v2", "healthy", Outcome.PROMOTED),
    Stage("v3", "fails 20% of requests and is slow", Outcome.ROLLED_BACK),
)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What `rollout demo` was asked for."""

    strategy: str = "rolling"
    metrics: MetricsSource = MetricsSource.AUTO
    speed: float = 5.0  # sandbox clock factor
    interval: str = "2s"
    count: int = 3
    live: bool = False  # the rich live view (a TTY) instead of log lines
    verbose: int = 0


@dataclass(frozen=True, slots=True)
class StageResult:
    """How one stage ended."""

    stage: Stage
    result: Result
    seconds: float

    @property
    def as_expected(self) -> bool:
        return self.result.outcome is self.stage.expect

    def line(self) -> str:
        """`v2: promoted as expected in 6.5s (success-rate 100, latency-p99 97.7): now on ...`."""
        verdict = (
            "as expected" if self.as_expected else f"but {self.stage.expect.value} was expected"
        )
        values = ", ".join(f"{c} {v}" for c, v in _last_values(self.result).items())
        measured = f" ({values})" if values else ""
        return (
            f"{self.stage.image}: {self.result.outcome.value} {verdict} in {self.seconds:.1f}s"
            f"{measured}: {self.result.message}"
        )


def strategy_kind(name: str) -> spec.StrategyKind:
    """STRATEGY -> its kind; SpecError lists the valid names."""
    return spec.parse_strategy(name, field="STRATEGY")


def run_demo(options: DemoOptions, *, echo: Callable[[str], None]) -> int:
    """Run both stages; 0 when v2 was promoted and v3 rolled back, else 1."""
    kind = strategy_kind(options.strategy)
    if options.live:  # log lines go through rich's stderr proxy, above the live view
        report.configure_logging(
            log_format="text", verbose=options.verbose, stream=cast("IO[str]", _Stderr())
        )
    stages = " then ".join(f"{s.image} ({s.about})" for s in STAGES)
    echo(f"rollout demo: {kind.value} {TARGET} from v1 to {stages}")
    with contextlib.ExitStack() as stack:
        box = stack.enter_context(_sandbox(options.speed))
        kubeconfig = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rollout-")))
        path = box.write_kubeconfig(kubeconfig / "kubeconfig")
        echo(f"sandbox: {box.url} (clock x{options.speed:g}); kubeconfig: {path}")
        provider = stack.enter_context(_metrics(box, options.metrics, echo))
        settings = Settings()
        cluster = stack.enter_context(kube.Cluster.connect(kubeconfig=str(path), settings=settings))
        cluster.check_reachable()
        results = []
        for i, stage in enumerate(STAGES, 1):
            echo(
                f"== {i}/{len(STAGES)}: {kind.value} to {stage.image} ({stage.about}); "
                f"expect {stage.expect.value}"
            )
            results.append(_run_stage(cluster, settings, provider, kind, stage, options))
            echo(f"-> {results[-1].result.outcome.value}: {results[-1].result.message}")
        crashed = len(box.manager.failures)
    echo("summary:")
    for done in results:
        echo("  " + done.line())
    if crashed:
        echo(f"the sandbox's controllers crashed {crashed} time(s); the demo is not valid")
    ok = all(done.as_expected for done in results) and not crashed
    echo("demo passed" if ok else "demo FAILED: not every rollout ended as expected")
    return 0 if ok else 1


def _run_stage(
    cluster: kube.Cluster,
    settings: Settings,
    provider: metrics.MetricProvider,
    kind: spec.StrategyKind,
    stage: Stage,
    options: DemoOptions,
) -> StageResult:
    overrides = spec.SpecOverrides(
        images=(stage.image,),
        timeout="2m",
        checks=tuple(analysis.parse_check(c) for c in CHECKS),
        interval=options.interval,
        count=options.count,
        initial_delay=options.interval,  # let the new pods' first requests be scraped
        failure_limit=1,  # one unlucky measurement of a healthy version is noise
        inconclusive_limit=1,
        scale_down_delay="2s" if kind is spec.StrategyKind.BLUEGREEN else None,
    )
    rollout_spec = spec.spec_from_flags(
        kind, TARGET.name, namespace=TARGET.namespace, overrides=overrides
    )
    reporter: report.Reporter = report.LiveReporter() if options.live else report.LogReporter()
    engine = Engine(
        cluster=cluster,
        settings=settings,
        strategies={k: cls for k, cls in REGISTRY.items()},
        metrics_for=lambda _: provider,
        reporter=reporter,
    )
    started = time.monotonic()
    try:
        result = engine.start(rollout_spec)
    finally:
        if isinstance(reporter, report.LiveReporter):
            reporter.close()
    return StageResult(stage, result, time.monotonic() - started)


def _last_values(result: Result) -> dict[str, str]:
    """The last measured value of each check, as text."""
    values: dict[str, str] = {}
    for step in result.record.steps if result.record else []:
        for m in step.measurements:
            value = m.get("value")
            values[str(m.get("check"))] = "no data" if value is None else f"{value:.4g}"
    return values


@contextlib.contextmanager
def _sandbox(speed: float) -> Iterator[Sandbox]:
    """examples/sandbox.yaml at `speed`, with the link-manager example applied."""
    from rollout.sandbox import ConfigError, Sandbox, SandboxConfig
    from rollout.sandbox import kinds as box_kinds

    try:
        config = SandboxConfig.from_yaml(EXAMPLES / "sandbox.yaml")
        config = dataclasses.replace(config, speed=speed)
    except (ConfigError, ValueError) as e:
        raise errors.SpecError(f"--speed {speed:g}: {e}") from e
    box = Sandbox(config)
    box.start()
    try:
        box.apply_file(EXAMPLES / "manifests" / "link-manager.yaml")
        # the sandbox emits Istio's metrics only for injected namespaces (istio-canary)
        box.store.update(
            box_kinds.BY_KEY["namespaces"],
            "",
            "default",
            lambda ns: (
                ns["metadata"].setdefault("labels", {}).update({"istio-injection": "enabled"})
            ),
        )
        yield box
    finally:
        box.stop()


@contextlib.contextmanager
def _metrics(
    box: Sandbox, source: MetricsSource, echo: Callable[[str], None]
) -> Iterator[metrics.MetricProvider]:
    """A real Prometheus scraping the sandbox, or the sandbox's counters; says which."""
    from rollout.sandbox import prometheus

    use = source
    if source is MetricsSource.AUTO:
        use = MetricsSource.PROMETHEUS if prometheus.is_installed() else MetricsSource.COUNTERS
    if use is MetricsSource.COUNTERS:
        why = " (no `prometheus` binary on PATH)" if source is MetricsSource.AUTO else ""
        echo(f"metrics: the sandbox's own request counters{why}")
        yield CountersProvider(box.traffic.render)
        return
    if not prometheus.is_installed():
        raise errors.PreconditionError(
            "--metrics prometheus: no `prometheus` binary on PATH; install the Debian "
            "package prometheus, or pass --metrics counters"
        )
    server = prometheus.PrometheusServer(
        [box.url.removeprefix("http://")], scrape_interval=SCRAPE_INTERVAL
    )
    try:
        server.start()
        found = " (found on PATH; --metrics counters skips it)" if source is not use else ""
        echo(
            f"metrics: Prometheus{found} on {server.url}, scraping the sandbox every "
            f"{SCRAPE_INTERVAL}; waiting for its first scrape"
        )
        server.wait_for_scrape()
    except prometheus.PrometheusError as e:
        server.stop()
        raise errors.InfraError(f"Prometheus for the demo: {e}") from e
    try:
        with metrics.PrometheusProvider(
            spec.PrometheusSpec(url=server.url), settings=Settings()
        ) as provider:
            yield provider
    finally:
        server.stop()


class _Stderr(io.TextIOBase):
    """Writes to whatever sys.stderr is at the time (rich swaps in a proxy while live)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


# -- the counters provider ------------------------------------------------------------

_RATE = re.compile(r"rate\((?P<metric>\w+)\{(?P<selector>[^{}]*)\}\[(?P<window>\w+)\]\)")
_MATCHER = re.compile(r'(\w+)(=~|=)"([^"]*)"')
_QUANTILE = re.compile(r"histogram_quantile\((?P<q>[0-9.]+),")
_DURATION = re.compile(r"^(?P<n>\d+)(?P<unit>ms|s|m|h)$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class CountersProvider:
    """A MetricProvider over the sandbox's counters (`read` returns its /metrics text).

    Answers exactly the built-in templates of `metrics.BUILTINS` as rendered by analysis
    (namespace, pod regex or workload, window): success-rate, error-rate, latency-pNN.
    Any other query raises MetricsError. The window is exact (no extrapolation) and
    starts no earlier than this provider's creation.
    """

    def __init__(self, read: Callable[[], str]) -> None:
        from rollout.sandbox import counters

        self._history = counters.CounterHistory(read)
        self._shapes = [
            (name, _shape(template.for_mesh(mesh)))
            for name, template in metrics.BUILTINS.items()
            for mesh in metrics.Mesh
        ]

    def check_online(self) -> None:
        try:
            self._history.increase("http_requests_total", (), 1.0)
        except ValueError as e:
            raise errors.MetricsError(f"sandbox counters: {e}") from e

    def query(self, promql: str) -> float | None:
        name = next((n for n, shape in self._shapes if shape.fullmatch(promql)), None)
        if name is None:
            raise errors.MetricsError(
                "the sandbox's counters answer only the built-in checks "
                f"({', '.join(metrics.BUILTINS)}); use Prometheus for: {promql[:120]}"
            )
        try:
            value = self._evaluate(name, promql)
        except (ValueError, re.error) as e:
            raise errors.MetricsError(f"sandbox counters: {e}") from e
        return None if math.isnan(value) else value

    def _evaluate(self, name: str, promql: str) -> float:
        from rollout.sandbox import counters as c

        selections = [
            (m["metric"], _matchers(m["selector"]), _seconds(m["window"]))
            for m in _RATE.finditer(promql)
        ]
        if name.startswith("latency-"):
            quantile = _QUANTILE.search(promql)
            assert quantile is not None  # the shape has it
            buckets = c.by_label(self._history.increase(*selections[0]), "le")
            value = c.histogram_quantile(float(quantile["q"]), buckets)
            return 1000.0 * value if promql.startswith("1000 * ") else value
        failures, requests = (c.total(self._history.increase(*s)) for s in selections)
        percent = c.error_percent(failures, requests)
        return 100.0 - percent if name == "success-rate" else percent


def _shape(template: str) -> re.Pattern[str]:
    """A template as a regex: each `{{variable}}` quote-free text (the window a duration),
    the same text at each place it appears."""
    seen: set[str] = set()

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in seen:
            return f"(?P={name})"
        seen.add(name)
        return f"(?P<{name}>[0-9a-z]+)" if name == "interval" else f'(?P<{name}>[^"]+)'

    return re.compile(re.sub(r"\\\{\\\{(\w+)\\\}\\\}", variable, re.escape(template)))


def _matchers(selector: str) -> list[counters.Matcher]:
    from rollout.sandbox.counters import Matcher

    return [
        Matcher(name, value, regex=op == "=~") for name, op, value in _MATCHER.findall(selector)
    ]


def _seconds(window: str) -> float:
    match = _DURATION.match(window)
    if match is None:
        raise ValueError(f"window {window!r} is not like 60s or 1500ms")
    return int(match["n"]) * _UNIT[match["unit"]]
