"""run_analysis with the built-in checks against a real Prometheus scraping the sandbox.

One module fixture deploys link-manager v1 (`link-manager`, 0.1% errors, p99 100ms) and
v3 (`link-manager-canary`, 20% errors, p99 600ms) behind one Service in an
istio-injection namespace (so both metric families exist), sends a warm-up burst (so
every series has a sample before the measured one), then a measured burst, and waits
until Prometheus has scraped both. The gates then run for real: interval 1s, count 2.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kubernetes import client

from rollout import analysis, metrics
from rollout.analysis import MeasurementOutcome, VerdictOutcome
from rollout.sandbox import Sandbox
from rollout.sandbox.prometheus import PrometheusServer
from rollout.settings import FAST
from rollout.spec import AnalysisSpec, Check, PrometheusSpec
from tests.factories import make_service
from tests.sandbox.conftest import api_client_for
from tests.sandbox.workloads import deploy, wait_for_endpoints

pytestmark = pytest.mark.prometheus

IMAGE = "ghcr.io/example/link-manager:{}"
REPLICAS = 2
WARMUP, MEASURED = 400, 10_000  # requests to the Service, split evenly over its 4 pods
WINDOW = 30.0  # rate window: covers both bursts for the module's lifetime; costs no wall time
_ids = itertools.count()


@dataclass(frozen=True)
class Deployed:
    provider: metrics.PrometheusProvider
    namespace: str

    def variables(
        self, workload: str, mesh: analysis.Mesh = analysis.Mesh.PLAIN
    ) -> analysis.Variables:
        """`workload` (link-manager or link-manager-canary) as the version under analysis."""
        return analysis.Variables(
            namespace=self.namespace,
            service="link-manager",
            stable="link-manager",
            canary=workload,
            stable_pods="link-manager-[a-z0-9]+-[a-z0-9]+",
            canary_pods=f"{workload}-[a-z0-9]+-[a-z0-9]+",
            mesh=mesh,
        )


def gate(*checks: str | Check, **limits: int) -> AnalysisSpec:
    parsed = tuple(c if isinstance(c, Check) else analysis.parse_check(c) for c in checks)
    return AnalysisSpec(checks=parsed, interval=1, count=2, window=WINDOW, **limits)


def wait_for_scraped(
    provider: metrics.PrometheusProvider, namespace: str, total: int, timeout: float = 20.0
) -> None:
    """Until Prometheus has scraped `total` requests in `namespace` (it has no watch API:
    a short poll through the Clock, bounded by `timeout`)."""
    clock = analysis.SystemClock()
    deadline = clock.now() + timeout
    promql = f'sum(http_requests_total{{namespace="{namespace}"}})'
    seen = provider.query(promql)
    while seen is None or seen < total:
        assert clock.now() < deadline, f"Prometheus saw {seen} of {total} requests in {timeout}s"
        clock.sleep(0.2)
        seen = provider.query(promql)


def send_and_wait(
    box: Sandbox, provider: metrics.PrometheusProvider, namespace: str, count: int
) -> None:
    box.traffic.send(namespace, "link-manager", count)
    sent = sum(
        n for ref, n in box.traffic.requests_by_pod().items() if ref.startswith(f"{namespace}/")
    )
    wait_for_scraped(provider, namespace, sent)


@pytest.fixture(scope="module")
def deployed(
    shared_sandbox: Sandbox, prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    namespace = f"analysis{os.getpid()}-{next(_ids)}"
    kubeconfig = shared_sandbox.write_kubeconfig(tmp_path_factory.mktemp(namespace) / "kc")
    api = api_client_for(kubeconfig)
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    provider = metrics.PrometheusProvider(
        PrometheusSpec(url=prometheus.url), settings=FAST, environ={}
    )
    try:
        core.create_namespace(
            {"metadata": {"name": namespace, "labels": {"istio-injection": "enabled"}}}
        )
        for name, version, track in (
            ("link-manager", "v1", "stable"),
            ("link-manager-canary", "v3", "canary"),
        ):
            deploy(
                apps,
                namespace,
                name,
                replicas=REPLICAS,
                image=IMAGE.format(version),
                labels={"app": "link-manager", "track": track},
            )
        core.create_namespaced_service(
            namespace, make_service("link-manager", selector={"app": "link-manager"})
        )
        wait_for_endpoints(core, namespace, "link-manager", ready=2 * REPLICAS)
        send_and_wait(shared_sandbox, provider, namespace, WARMUP)
        send_and_wait(shared_sandbox, provider, namespace, MEASURED)
        yield Deployed(provider, namespace)
        core.delete_namespaced_service("link-manager", namespace)  # stop background traffic
    finally:
        provider.close()
        api.close()


@pytest.mark.parametrize("mesh", list(analysis.Mesh))
def test_success_rate_gate_passes_v1_and_fails_v3_keeping_the_measured_value(
    deployed: Deployed, mesh: analysis.Mesh
) -> None:
    clock = analysis.SystemClock()

    v1 = analysis.run_analysis(
        deployed.provider,
        gate("success-rate>=99"),
        deployed.variables("link-manager", mesh),
        clock=clock,
    )
    v3 = analysis.run_analysis(
        deployed.provider,
        gate("success-rate>=99"),
        deployed.variables("link-manager-canary", mesh),
        clock=clock,
    )

    assert v1.outcome is VerdictOutcome.PASSED, v1.message
    assert [m.outcome for m in v1.measurements] == [MeasurementOutcome.PASS] * 2
    assert all(m.value is not None and 99.0 <= m.value <= 100.0 for m in v1.measurements)
    assert v1.measurements[1].at - v1.measurements[0].at == pytest.approx(1.0, abs=0.5)
    assert v3.outcome is VerdictOutcome.FAILED and not v3.passed
    (measured,) = v3.measurements  # failure_limit 0: the first failure decides
    assert measured.value is not None and 75.0 < measured.value < 85.0
    assert v3.message.startswith("success-rate 8") or v3.message.startswith("success-rate 7")
    assert v3.message.endswith("< min 99 (1 of 1 failed)")


def test_latency_gate_tells_the_slow_version_apart(deployed: Deployed) -> None:
    clock = analysis.SystemClock()
    spec = gate("latency-p99<=300ms", "latency-p50<=0.1s")

    v1 = analysis.run_analysis(
        deployed.provider, spec, deployed.variables("link-manager"), clock=clock
    )
    v3 = analysis.run_analysis(
        deployed.provider, spec, deployed.variables("link-manager-canary"), clock=clock
    )

    assert v1.passed, v1.message
    assert v3.outcome is VerdictOutcome.FAILED
    assert v3.measurements[0].check == "latency-p99"
    assert v3.measurements[0].value is not None and v3.measurements[0].value > 300


def test_a_metric_that_does_not_exist_is_inconclusive_never_a_pass(deployed: Deployed) -> None:
    ghost = Check(
        "ghost",
        query='sum(rate(no_such_metric_total{namespace="{{namespace}}"}[{{interval}}]))',
        min=0,
    )

    verdict = analysis.run_analysis(
        deployed.provider,
        gate(ghost, inconclusive_limit=5),
        deployed.variables("link-manager"),
        clock=analysis.SystemClock(),
    )

    assert verdict.outcome is VerdictOutcome.INCONCLUSIVE and not verdict.passed
    assert [m.value for m in verdict.measurements] == [None, None]
    assert f'namespace="{deployed.namespace}"' in verdict.measurements[0].query
    assert "[30s]" in verdict.measurements[0].query
