"""`rollout demo` end to end (a subprocess, as a user runs it), and the counters provider
it gates on when Prometheus is not installed."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import pytest

from rollout import analysis, errors, metrics
from rollout.demo import CountersProvider
from rollout.sandbox.prometheus import is_installed
from rollout.spec import AnalysisSpec, Check, StrategyKind
from strategies import REGISTRY

FAST = ("--speed", "20", "--interval", "1s", "--count", "2")


def demo(*args: str, timeout: float = 100) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rollout", "demo", *args, "--log-format", "text"],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_both_outcomes(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "v2: promoted as expected" in proc.stdout, proc.stdout
    assert "v3: rolled-back as expected" in proc.stdout, proc.stdout
    assert "success-rate" in proc.stdout.split("v3: rolled-back")[1], proc.stdout
    assert "demo passed" in proc.stdout


def test_demo_promotes_v2_and_rolls_back_v3_on_sandbox_counters() -> None:
    proc = demo("--metrics", "counters", *FAST)
    assert "metrics: the sandbox's own request counters" in proc.stdout
    assert_both_outcomes(proc)


@pytest.mark.prometheus
def test_demo_promotes_v2_and_rolls_back_v3_on_prometheus() -> None:
    if not is_installed():
        pytest.fail("the prometheus binary is missing: `apt-get install prometheus`")
    proc = demo("--metrics", "prometheus", *FAST)
    assert "metrics: Prometheus on http://127.0.0.1:" in proc.stdout
    assert_both_outcomes(proc)


def test_demo_refuses_an_unknown_strategy_listing_the_valid_ones() -> None:
    proc = demo("nope")
    assert proc.returncode == 2
    assert "rolling" in proc.stderr and "sandbox" not in proc.stdout


def test_every_strategy_the_demo_accepts_has_an_implementation() -> None:
    assert set(REGISTRY) == set(StrategyKind)


# -- the counters provider over a fixed /metrics text ----------------------------------


def exposition(ok: int, failed: int, buckets: dict[str, int], pod: str = "web-abc-x1") -> str:
    labels = f'namespace="shop",pod="{pod}",service="web"'
    lines = [
        f'http_requests_total{{{labels},code="200"}} {ok}',
        f'http_requests_total{{{labels},code="503"}} {failed}',
    ]
    lines += [
        f'http_request_duration_seconds_bucket{{{labels},le="{le}"}} {n}'
        for le, n in buckets.items()
    ]
    return "\n".join(lines) + "\n"


def rendered(name: str, mesh: metrics.Mesh = metrics.Mesh.PLAIN) -> str:
    variables = analysis.Variables(
        namespace="shop", service="web", canary="web", canary_pods="web-abc-[a-z0-9]+", mesh=mesh
    )
    spec = AnalysisSpec(checks=(Check(name, min=0),), window=30)
    return analysis.render_queries(spec, variables)[0][1]


class Counters:
    """A /metrics text that tests change between queries."""

    def __init__(self) -> None:
        self.text = exposition(0, 0, {"0.1": 0, "0.25": 0, "+Inf": 0})

    def __call__(self) -> str:
        return self.text


def test_counters_provider_answers_builtin_templates_over_the_increase() -> None:
    counters = Counters()
    provider = CountersProvider(counters)
    counters.text = exposition(990, 10, {"0.1": 900, "0.25": 990, "+Inf": 1000})
    assert provider.query(rendered("success-rate")) == pytest.approx(99.0)
    assert provider.query(rendered("error-rate")) == pytest.approx(1.0)
    # rank 990 of 1000 is the last of the (0.1, 0.25] bucket: its upper bound, in ms
    assert provider.query(rendered("latency-p99")) == pytest.approx(250.0)
    # rank 500 falls in the first bucket, interpolated from 0: 0.1 * 500/900 s
    assert provider.query(rendered("latency-p50")) == pytest.approx(1000 * 0.1 * 500 / 900)


def test_counters_provider_ignores_pods_the_regex_does_not_select() -> None:
    provider = CountersProvider(
        lambda: exposition(10, 90, {"+Inf": 100, "0.1": 100}, pod="other-abc-x1")
    )
    assert provider.query(rendered("success-rate")) is None  # no requests: no data
    assert provider.query(rendered("latency-p99")) is None


def test_counters_provider_refuses_queries_that_are_not_builtin_templates() -> None:
    provider = CountersProvider(Counters())
    for query in ("up", rendered("success-rate").replace("100 - ", "99 - "), "vector(1)"):
        with pytest.raises(errors.MetricsError, match="built-in checks"):
            provider.query(query)


def test_counters_provider_matches_every_builtin_template_shape() -> None:
    provider = CountersProvider(Counters())
    for name, mesh in itertools.product(metrics.BUILTINS, metrics.Mesh):
        value = provider.query(rendered(name, mesh))
        assert value is None or math.isfinite(value)  # no counts yet: no data, not an error
