"""A real Prometheus scraping the shared sandbox: PromQL sees the configured behaviour.

One module fixture deploys link-manager v1, v2 and v3 (examples/sandbox.yaml: 0.1%,
0.1% and 20% errors) in a fresh namespace and a stable/canary pair behind Istio in an
istio-injection namespace. It sends a small batch of requests, waits for a scrape
showing it (so every series exists before the measurement), sends the measured batch
and waits for the scrape showing that; the tests then only query.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client

from rollout.sandbox import Sandbox
from rollout.sandbox.prometheus import PrometheusServer
from tests.factories import make_service, make_virtual_service
from tests.sandbox.conftest import api_client_for, example_config
from tests.sandbox.workloads import (
    ISTIO,
    create_subsets,
    deploy,
    deploy_stable_and_canary,
    label_namespace,
    wait_for_endpoints,
)

pytestmark = pytest.mark.prometheus

IMAGE = "ghcr.io/example/link-manager:{}"
VERSIONS = ("v1", "v2", "v3")
REPLICAS = 3
WARMUP = 300  # requests per Service before the first awaited scrape
MEASURED = 40_000  # requests per Service between the two awaited scrapes
WINDOW = "1m"  # longer than the module's lifetime: rate() sees every sample
_ids = itertools.count()


@dataclass(frozen=True)
class Scraped:
    """What the module fixture deployed and Prometheus has scraped."""

    prometheus: PrometheusServer
    plain: str  # namespace with lm-v1, lm-v2, lm-v3 (one Service each)
    mesh: str  # istio-injection namespace: web (v1) + web-canary (v3) at 50/50


def query(prometheus: PrometheusServer, promql: str) -> list[dict[str, Any]]:
    """Run an instant query over the HTTP API; the result vector."""
    url = f"{prometheus.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def scalar(prometheus: PrometheusServer, promql: str) -> float | None:
    """The single value of a query, or None when the result is empty."""
    result = query(prometheus, promql)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


def wait_for_scraped_total(
    prometheus: PrometheusServer, namespace: str, total: int, timeout: float = 15.0
) -> None:
    """Poll (Prometheus has no watch API) until it has scraped `total` requests in `namespace`."""
    promql = f'sum(http_requests_total{{namespace="{namespace}"}})'
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    seen = None
    while time.monotonic() < deadline:
        seen = scalar(prometheus, promql)
        if seen is not None and seen >= total:
            return
        pause.wait(0.2)
    raise AssertionError(
        f"Prometheus saw {seen} requests in {namespace}, not {total}, within {timeout:.0f}s"
    )


def send_and_wait(
    box: Sandbox, prometheus: PrometheusServer, services: dict[str, list[str]], count: int
) -> None:
    """Send `count` requests to each Service, then wait until Prometheus has them all."""
    for namespace, names in services.items():
        for name in names:
            box.traffic.send(namespace, name, count)
    totals = box.traffic.requests_by_pod()
    for namespace in services:
        total = sum(n for ref, n in totals.items() if ref.startswith(f"{namespace}/"))
        wait_for_scraped_total(prometheus, namespace, total)


def deploy_workloads(api: client.ApiClient, plain: str, mesh: str) -> None:
    apps, core, custom = client.AppsV1Api(api), client.CoreV1Api(api), client.CustomObjectsApi(api)
    for ns in (plain, mesh):
        core.create_namespace({"metadata": {"name": ns}})
    label_namespace(core, mesh, {"istio-injection": "enabled"})
    for version in VERSIONS:
        deploy(
            apps,
            plain,
            f"lm-{version}",
            replicas=REPLICAS,
            image=IMAGE.format(version),
            labels={"app": f"lm-{version}"},
        )
        core.create_namespaced_service(plain, make_service(f"lm-{version}"))
    deploy_stable_and_canary(
        apps,
        core,
        mesh,
        stable=REPLICAS,
        canary=REPLICAS,
        stable_image=IMAGE.format("v1"),
        canary_image=IMAGE.format("v3"),
    )
    create_subsets(custom, mesh)
    custom.create_namespaced_custom_object(
        *ISTIO, mesh, "virtualservices", make_virtual_service("web", weights=(50, 50))
    )
    for version in VERSIONS:
        wait_for_endpoints(core, plain, f"lm-{version}", ready=REPLICAS)
    wait_for_endpoints(core, mesh, "web", ready=2 * REPLICAS)


@pytest.fixture(scope="module")
def scraped(
    shared_sandbox: Sandbox, prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scraped]:
    run = f"prom{os.getpid()}-{next(_ids)}"
    plain, mesh = f"{run}-plain", f"{run}-mesh"
    kubeconfig = shared_sandbox.write_kubeconfig(tmp_path_factory.mktemp(run) / "kubeconfig")
    api = api_client_for(kubeconfig)
    try:
        deploy_workloads(api, plain, mesh)
        services = {plain: [f"lm-{v}" for v in VERSIONS], mesh: ["web"]}
        send_and_wait(shared_sandbox, prometheus, services, WARMUP)
        send_and_wait(shared_sandbox, prometheus, services, MEASURED)
        yield Scraped(prometheus, plain, mesh)
    finally:
        api.close()


def success_rate(scraped: Scraped, workload: str) -> float | None:
    """The per-workload success-rate query a rollout analysis would run."""
    selector = f'namespace="{scraped.plain}",pod=~"{workload}-.*"'
    return scalar(
        scraped.prometheus,
        f'sum(rate(http_requests_total{{{selector},code!~"5.."}}[{WINDOW}]))'
        f" / sum(rate(http_requests_total{{{selector}}}[{WINDOW}]))",
    )


def p99_seconds(scraped: Scraped, workload: str) -> float | None:
    selector = f'namespace="{scraped.plain}",pod=~"{workload}-.*"'
    return scalar(
        scraped.prometheus,
        "histogram_quantile(0.99, sum by (le) ("
        f"rate(http_request_duration_seconds_bucket{{{selector}}}[{WINDOW}])))",
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_success_rate_query_returns_the_configured_error_rate(
    scraped: Scraped, version: str
) -> None:
    configured = example_config().behaviour_for(IMAGE.format(version)).error_rate
    tolerance = 0.0007 if configured < 0.01 else 0.02

    rate = success_rate(scraped, f"lm-{version}")

    assert rate is not None
    assert 1.0 - rate == pytest.approx(configured, abs=tolerance)


def test_p99_latency_from_the_histogram_roughly_matches_the_configured_p99(
    scraped: Scraped,
) -> None:
    p99: dict[str, float] = {}
    for version in ("v1", "v3"):
        measured = p99_seconds(scraped, f"lm-{version}")
        configured = example_config().behaviour_for(IMAGE.format(version)).latency.p99
        assert measured is not None
        assert configured / 2 <= measured <= configured * 2, (version, measured, configured)
        p99[version] = measured

    assert p99["v3"] > 3 * p99["v1"]


def istio_selector(scraped: Scraped, workload: str) -> str:
    return (
        f'reporter="destination",destination_workload_namespace="{scraped.mesh}",'
        f'destination_workload="{workload}"'
    )


def test_istio_success_rate_per_destination_workload_matches_the_images(scraped: Scraped) -> None:
    rates = {}
    for workload in ("web", "web-canary"):
        selector = istio_selector(scraped, workload)
        rates[workload] = scalar(
            scraped.prometheus,
            f'sum(rate(istio_requests_total{{{selector},response_code!~"5.."}}[{WINDOW}]))'
            f" / sum(rate(istio_requests_total{{{selector}}}[{WINDOW}]))",
        )

    assert rates["web"] == pytest.approx(0.999, abs=0.001)
    assert rates["web-canary"] == pytest.approx(0.8, abs=0.02)


def test_istio_latency_histogram_is_in_milliseconds(scraped: Scraped) -> None:
    selector = istio_selector(scraped, "web-canary")
    p99_ms = scalar(
        scraped.prometheus,
        "histogram_quantile(0.99, sum by (le) ("
        f"rate(istio_request_duration_milliseconds_bucket{{{selector}}}[{WINDOW}])))",
    )

    assert p99_ms is not None
    assert 300 <= p99_ms <= 1200  # v3: p99 600ms


def test_istio_metrics_exist_only_for_the_injected_namespace(scraped: Scraped) -> None:
    def series(namespace: str) -> float | None:
        return scalar(
            scraped.prometheus,
            f'count(istio_requests_total{{destination_workload_namespace="{namespace}"}})',
        )

    assert series(scraped.mesh) is not None
    assert series(scraped.plain) is None
    assert (
        scalar(scraped.prometheus, f'count(http_requests_total{{namespace="{scraped.plain}"}})')
        is not None
    )
