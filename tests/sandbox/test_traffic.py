"""Traffic through Services and Istio routes, measured per pod, and /metrics over HTTP.

Workloads are deployed through the real kubernetes client; each test then sends an
exact number of requests to a Service (`sandbox.traffic.send`) on top of the
background traffic and compares per-pod deltas.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from rollout.sandbox import Sandbox, SandboxConfig
from rollout.sandbox.config import HeaderRule, ServiceTraffic
from tests.factories import make_service, make_virtual_service
from tests.sandbox.conftest import example_config
from tests.sandbox.workloads import (
    ISTIO,
    by_workload,
    create_subsets,
    deltas,
    deploy,
    deploy_stable_and_canary,
    label_namespace,
    wait_for_endpoints,
)

RATE = 2000.0  # background requests per second per Service
REQUESTS = 5000  # requests each measurement sends on top
HEADER_SHARE = 0.25  # fraction of requests carrying x-canary: true
WORKLOADS = ["web", "web-canary"]
SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>.*)\} (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """The example images, a high request rate and a 25% x-canary header mix everywhere."""
    base = example_config()
    header = HeaderRule(fraction=HEADER_SHARE, headers=(("x-canary", "true"),))
    return SandboxConfig(
        images=base.images,
        speed=base.speed,
        traffic={"default": ServiceTraffic(rate=RATE, headers=(header,))},
    )


def measure(sandbox: Sandbox, namespace: str, service: str = "web") -> dict[str, int]:
    """Send REQUESTS to a Service; the requests each pod of the namespace received meanwhile."""
    before = sandbox.traffic.requests_by_pod()
    sandbox.traffic.send(namespace, service, REQUESTS)
    return deltas(before, sandbox.traffic.requests_by_pod(), namespace)


def canary_share(per_pod: dict[str, int]) -> float:
    counts = by_workload(per_pod, WORKLOADS)
    total = sum(counts.values())
    assert total >= REQUESTS, counts
    return counts["web-canary"] / total


def weighted_route(host: str, stable: int, canary: int) -> list[dict[str, Any]]:
    return [
        {"destination": {"host": host, "subset": "stable"}, "weight": stable},
        {"destination": {"host": host, "subset": "canary"}, "weight": canary},
    ]


def test_canary_with_one_of_ten_ready_pods_receives_ten_percent(
    sandbox: Sandbox, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    deploy_stable_and_canary(apps, core, namespace, stable=9, canary=1)
    wait_for_endpoints(core, namespace, "web", ready=10)

    assert canary_share(measure(sandbox, namespace)) == pytest.approx(0.10, abs=0.03)


def test_virtual_service_at_80_20_sends_twenty_percent_to_the_canary_subset(
    sandbox: Sandbox,
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    deploy_stable_and_canary(apps, core, namespace, stable=5, canary=5)  # kube-proxy: 50%
    create_subsets(custom, namespace)
    custom.create_namespaced_custom_object(
        *ISTIO, namespace, "virtualservices", make_virtual_service("web", weights=(80, 20))
    )
    wait_for_endpoints(core, namespace, "web", ready=10)

    assert canary_share(measure(sandbox, namespace)) == pytest.approx(0.20, abs=0.03)


def test_virtual_service_weight_patch_to_100_0_stops_canary_traffic(
    sandbox: Sandbox,
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    deploy_stable_and_canary(apps, core, namespace, stable=2, canary=2)
    create_subsets(custom, namespace)
    custom.create_namespaced_custom_object(
        *ISTIO, namespace, "virtualservices", make_virtual_service("web", weights=(50, 50))
    )
    wait_for_endpoints(core, namespace, "web", ready=4)
    assert canary_share(measure(sandbox, namespace)) == pytest.approx(0.5, abs=0.05)

    custom.patch_namespaced_custom_object(
        *ISTIO,
        namespace,
        "virtualservices",
        "web",
        {"spec": {"http": [{"name": "primary", "route": weighted_route("web", 100, 0)}]}},
    )

    assert canary_share(measure(sandbox, namespace)) == 0.0


def header_routes(value: str) -> list[dict[str, Any]]:
    """x-canary: <value> goes to the canary subset; everything else to stable."""
    return [
        {
            "name": "ab",
            "match": [{"headers": {"x-canary": {"exact": value}}}],
            "route": [{"destination": {"host": "web", "subset": "canary"}}],
        },
        {"name": "primary", "route": [{"destination": {"host": "web", "subset": "stable"}}]},
    ]


def test_header_match_sends_only_matching_requests_to_the_canary(
    sandbox: Sandbox,
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    deploy_stable_and_canary(apps, core, namespace, stable=3, canary=3)
    create_subsets(custom, namespace)
    vs = make_virtual_service("web")
    vs["spec"]["http"] = header_routes("true")
    custom.create_namespaced_custom_object(*ISTIO, namespace, "virtualservices", vs)
    wait_for_endpoints(core, namespace, "web", ready=6)
    assert canary_share(measure(sandbox, namespace)) == pytest.approx(HEADER_SHARE, abs=0.03)

    custom.patch_namespaced_custom_object(
        *ISTIO,
        namespace,
        "virtualservices",
        "web",
        {"spec": {"http": header_routes("nobody-sends-this")}},
    )

    assert canary_share(measure(sandbox, namespace)) == 0.0


def test_pod_that_is_not_ready_receives_no_traffic(
    sandbox: Sandbox, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    deploy_stable_and_canary(
        apps, core, namespace, stable=9, canary=1, canary_image="app:never-ready"
    )
    wait_for_endpoints(core, namespace, "web", ready=9, not_ready=1)

    per_pod = measure(sandbox, namespace)

    canary = {pod: n for pod, n in per_pod.items() if pod.startswith("web-canary-")}
    stable = {pod: n for pod, n in per_pod.items() if not pod.startswith("web-canary-")}
    assert sum(canary.values()) == 0, canary
    assert len(stable) == 9
    assert all(n > 0 for n in stable.values()), stable


# -- /metrics ---------------------------------------------------------------


def scrape(sandbox: Sandbox) -> list[tuple[str, dict[str, str], float]]:
    """GET /metrics and parse every sample line into (name, labels, value)."""
    with urllib.request.urlopen(f"{sandbox.url}/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    return list(_samples(text))


def _samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match is not None, f"unparseable sample line: {line!r}"
        labels = dict(LABEL.findall(match["labels"]))
        yield match["name"], labels, float(match["value"])


def pods_in(
    samples: list[tuple[str, dict[str, str], float]],
    name: str,
    namespace_label: str,
    namespace: str,
) -> set[str]:
    return {lb["pod"] for n, lb, _ in samples if n == name and lb.get(namespace_label) == namespace}


@pytest.fixture
def mesh_and_plain(
    sandbox: Sandbox, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> tuple[str, str]:
    """Two namespaces serving traffic to `web` (2 pods): one istio-injected, one not."""
    mesh = f"{namespace}-mesh"
    core.create_namespace({"metadata": {"name": mesh}})
    label_namespace(core, mesh, {"istio-injection": "enabled"})
    for ns in (namespace, mesh):
        deploy(apps, ns, "web", replicas=2, image="app:v1", labels={"app": "web"})
        core.create_namespaced_service(ns, make_service("web"))
    for ns in (namespace, mesh):
        wait_for_endpoints(core, ns, "web", ready=2)
        sandbox.traffic.send(ns, "web", 1000)
    return namespace, mesh


def test_metrics_endpoint_serves_labelled_request_counters_and_histograms(
    sandbox: Sandbox, mesh_and_plain: tuple[str, str]
) -> None:
    plain, mesh = mesh_and_plain
    samples = scrape(sandbox)

    for ns in (plain, mesh):
        requests = [
            (lb, v) for n, lb, v in samples if n == "http_requests_total" and lb["namespace"] == ns
        ]
        assert {tuple(sorted(lb)) for lb, _ in requests} == {
            ("code", "namespace", "pod", "service")
        }
        assert len({lb["pod"] for lb, _ in requests}) == 2
        assert sum(v for _, v in requests) >= 1000
        counts = {
            lb["pod"]: v
            for n, lb, v in samples
            if n == "http_request_duration_seconds_count" and lb["namespace"] == ns
        }
        for pod, count in counts.items():
            assert count == sum(v for lb, v in requests if lb["pod"] == pod)
            inf = [
                v
                for n, lb, v in samples
                if n == "http_request_duration_seconds_bucket"
                and lb["pod"] == pod
                and lb["le"] == "+Inf"
            ]
            assert inf == [count]


def test_istio_metrics_appear_only_for_pods_in_injected_namespaces(
    sandbox: Sandbox, mesh_and_plain: tuple[str, str]
) -> None:
    plain, mesh = mesh_and_plain
    samples = scrape(sandbox)

    mesh_pods = pods_in(samples, "http_requests_total", "namespace", mesh)
    assert len(mesh_pods) == 2
    for family in ("istio_requests_total", "istio_request_duration_milliseconds_bucket"):
        assert pods_in(samples, family, "destination_workload_namespace", mesh) == mesh_pods
        assert pods_in(samples, family, "destination_workload_namespace", plain) == set()
    istio = [lb for n, lb, _ in samples if n == "istio_requests_total"]
    assert {
        (lb["reporter"], lb["destination_workload"], lb["destination_service_name"]) for lb in istio
    } == {("destination", "web", "web")}
    assert all(lb["response_code"].isdigit() for lb in istio)
