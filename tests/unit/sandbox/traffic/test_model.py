"""Traffic model: kube-proxy and Istio routing shares, outcomes, carry-over, pruning."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping

import pytest

from rollout.sandbox import config
from rollout.sandbox.traffic import model, snapshot

NS = "shop"
STABLE_IMAGE = "app:v1"
CANARY_IMAGE = "app:v2"


def make_pod(
    name: str,
    *,
    image: str = STABLE_IMAGE,
    labels: Mapping[str, str] | None = None,
    workload: str = "web",
    istio: bool = False,
    namespace: str = NS,
) -> snapshot.PodSnapshot:
    return snapshot.PodSnapshot(
        namespace=namespace,
        name=name,
        ip="10.0.0.1",
        labels=dict(labels or {"app": "web"}),
        image=image,
        ready=True,
        workload=workload,
        istio=istio,
    )


def stable_and_canary(stable: int, canary: int) -> tuple[snapshot.PodSnapshot, ...]:
    pods = [make_pod(f"web-{i}", labels={"app": "web", "track": "stable"}) for i in range(stable)]
    pods += [
        make_pod(
            f"web-canary-{i}",
            image=CANARY_IMAGE,
            labels={"app": "web", "track": "canary"},
            workload="web-canary",
        )
        for i in range(canary)
    ]
    return tuple(pods)


def service_for(name: str, pods: tuple[snapshot.PodSnapshot, ...]) -> snapshot.ServiceSnapshot:
    return snapshot.ServiceSnapshot(
        namespace=NS, name=name, endpoints=tuple(p.name for p in pods if p.ready)
    )


def traffic_config(rate: float = 100.0, headers: list[object] | None = None) -> dict[str, object]:
    return {
        "images": {STABLE_IMAGE: {}, CANARY_IMAGE: {}},
        "traffic": {"web": {"rate": rate, "headers": headers or []}, "default": 0},
    }


SUBSETS = snapshot.DestinationRuleSnapshot(
    namespace=NS,
    name="web",
    host="web",
    subsets=(
        snapshot.SubsetSnapshot(name="stable", labels={"track": "stable"}),
        snapshot.SubsetSnapshot(name="canary", labels={"track": "canary"}),
    ),
)


def virtual_service(
    http: list[snapshot.HTTPRoute], host: str = "web"
) -> snapshot.VirtualServiceSnapshot:
    return snapshot.VirtualServiceSnapshot(
        namespace=NS, name="web", spec={"hosts": [host], "http": http}
    )


def weighted(stable: int, canary: int, host: str = "web") -> snapshot.HTTPRoute:
    return {
        "route": [
            {"destination": {"host": host, "subset": "stable"}, "weight": stable},
            {"destination": {"host": host, "subset": "canary"}, "weight": canary},
        ]
    }


def run(
    cluster: snapshot.ClusterSnapshot,
    data: dict[str, object],
    *,
    seconds: int = 100,
    seed: int = 7,
) -> model.TrafficModel:
    traffic = model.TrafficModel(config.SandboxConfig.from_dict(data), seed=seed)
    for _ in range(seconds):
        traffic.tick(cluster, 1.0)
    return traffic


def canary_share(traffic: model.TrafficModel) -> float:
    counts = traffic.requests_by_pod()
    canary = sum(n for ref, n in counts.items() if "/web-canary-" in ref)
    return canary / sum(counts.values())


def test_kube_proxy_spreads_requests_by_ready_pod_count() -> None:
    pods = stable_and_canary(9, 1)
    cluster = snapshot.ClusterSnapshot(pods=pods, services=(service_for("web", pods),))

    traffic = run(cluster, traffic_config())

    assert sum(traffic.requests_by_pod().values()) == 10_000
    assert canary_share(traffic) == pytest.approx(0.10, abs=0.03)


def test_virtual_service_weights_split_traffic_between_subsets() -> None:
    pods = stable_and_canary(5, 5)
    cluster = snapshot.ClusterSnapshot(
        pods=pods,
        services=(service_for("web", pods),),
        virtual_services=(virtual_service([weighted(80, 20)]),),
        destination_rules=(SUBSETS,),
    )

    traffic = run(cluster, traffic_config())

    assert canary_share(traffic) == pytest.approx(0.20, abs=0.03)


@pytest.mark.parametrize("host", ["web", f"web.{NS}", f"web.{NS}.svc.cluster.local"])
def test_virtual_service_host_forms_claim_the_service(host: str) -> None:
    pods = stable_and_canary(5, 5)
    cluster = snapshot.ClusterSnapshot(
        pods=pods,
        services=(service_for("web", pods),),
        virtual_services=(virtual_service([weighted(0, 100, host)], host=host),),
        destination_rules=(SUBSETS,),
    )

    assert canary_share(run(cluster, traffic_config(), seconds=5)) == 1.0


def test_virtual_service_for_a_gateway_only_does_not_route_mesh_traffic() -> None:
    pods = stable_and_canary(5, 5)
    vs = virtual_service([weighted(0, 100)])
    gateway_only = snapshot.VirtualServiceSnapshot(
        namespace=NS, name="web", spec={**vs.spec, "gateways": ["shop/public"]}
    )
    cluster = snapshot.ClusterSnapshot(
        pods=pods,
        services=(service_for("web", pods),),
        virtual_services=(gateway_only,),
        destination_rules=(SUBSETS,),
    )

    assert canary_share(run(cluster, traffic_config())) == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize(
    "condition", [{"exact": "true"}, {"prefix": "tr"}, {"regex": "t.*e"}], ids=str
)
def test_header_match_sends_only_matching_requests_to_canary(
    condition: snapshot.StringMatch,
) -> None:
    pods = stable_and_canary(5, 5)
    header_route: snapshot.HTTPRoute = {
        "match": [{"headers": {"X-Canary": condition}}],
        "route": [{"destination": {"host": "web", "subset": "canary"}}],
    }
    cluster = snapshot.ClusterSnapshot(
        pods=pods,
        services=(service_for("web", pods),),
        virtual_services=(virtual_service([header_route, weighted(100, 0)]),),
        destination_rules=(SUBSETS,),
    )
    mix = [{"fraction": 0.1, "set": {"x-canary": "true"}}, {"fraction": 0.2, "set": {"x": "1"}}]

    assert canary_share(run(cluster, traffic_config(headers=mix))) == pytest.approx(0.1, abs=0.03)
    assert canary_share(run(cluster, traffic_config(headers=[]), seconds=10)) == 0.0


def test_mirrored_requests_also_count_at_the_mirror_destination() -> None:
    pods = stable_and_canary(5, 5)
    route: snapshot.HTTPRoute = {
        "route": [{"destination": {"host": "web", "subset": "stable"}}],
        "mirror": {"host": "web", "subset": "canary"},
        "mirrorPercentage": {"value": 50.0},
    }
    cluster = snapshot.ClusterSnapshot(
        pods=pods,
        services=(service_for("web", pods),),
        virtual_services=(virtual_service([route]),),
        destination_rules=(SUBSETS,),
    )

    counts = run(cluster, traffic_config()).requests_by_pod()

    stable = sum(n for ref, n in counts.items() if "/web-canary-" not in ref)
    mirrored = sum(n for ref, n in counts.items() if "/web-canary-" in ref)
    assert stable == 10_000
    assert mirrored / stable == pytest.approx(0.5, abs=0.03)


def test_unmatched_route_and_unknown_subset_reach_no_pod() -> None:
    pods = stable_and_canary(2, 2)
    only_header: snapshot.HTTPRoute = {
        "match": [{"headers": {"x-canary": {"exact": "true"}}}],
        "route": [{"destination": {"host": "web", "subset": "nope"}}],
    }
    cluster = snapshot.ClusterSnapshot(
        pods=pods,
        services=(service_for("web", pods),),
        virtual_services=(virtual_service([only_header]),),
        destination_rules=(SUBSETS,),
    )
    mix = [{"fraction": 0.5, "set": {"x-canary": "true"}}]

    assert run(cluster, traffic_config(headers=mix), seconds=5).requests_by_pod() == {}


def test_fractional_requests_carry_over_between_ticks() -> None:
    pods = stable_and_canary(1, 0)
    cluster = snapshot.ClusterSnapshot(pods=pods, services=(service_for("web", pods),))
    traffic = model.TrafficModel(config.SandboxConfig.from_dict(traffic_config(rate=2.5)))

    for _ in range(40):
        traffic.tick(cluster, 0.1)

    assert traffic.requests_by_pod() == {f"{NS}/web-0": 10}


def test_service_without_ready_endpoints_gets_nothing() -> None:
    pods = stable_and_canary(2, 0)
    cluster = snapshot.ClusterSnapshot(
        pods=pods, services=(snapshot.ServiceSnapshot(namespace=NS, name="web", endpoints=()),)
    )

    assert run(cluster, traffic_config(), seconds=3).requests_by_pod() == {}


def test_error_rate_and_codes_come_out_of_the_samples() -> None:
    pods = stable_and_canary(1, 0)
    cluster = snapshot.ClusterSnapshot(pods=pods, services=(service_for("web", pods),))
    data = traffic_config()
    data["images"] = {STABLE_IMAGE: {"error_rate": 0.2, "error_codes": {500: 1, 503: 1}}}

    (series,) = run(cluster, data).series()

    codes = dict(series.codes)
    assert set(codes) == {200, 500, 503}
    assert (codes[500] + codes[503]) / series.count == pytest.approx(0.2, abs=0.02)
    assert codes[503] / (codes[500] + codes[503]) == pytest.approx(0.5, abs=0.05)


def test_latency_quantiles_come_out_of_the_samples() -> None:
    behaviour = config.SandboxConfig.from_dict(
        {"images": {"default": {"latency": {"p50": "20ms", "p99": "120ms"}}}}
    ).behaviour_for("any:thing")
    rng = random.Random(3)

    samples = sorted(behaviour.sample_latency(rng) for _ in range(50_000))

    assert samples[len(samples) // 2] == pytest.approx(0.020, rel=0.05)
    assert samples[int(len(samples) * 0.99)] == pytest.approx(0.120, rel=0.10)


def test_latency_histogram_buckets_follow_the_image_latency() -> None:
    pods = stable_and_canary(1, 0)
    cluster = snapshot.ClusterSnapshot(pods=pods, services=(service_for("web", pods),))
    data = traffic_config()
    data["images"] = {STABLE_IMAGE: {"latency": {"p50": "25ms", "p99": "250ms"}}}

    (series,) = run(cluster, data).series()

    cumulative = 0
    below: dict[float, float] = {}
    for bound, count in zip(model.BUCKET_BOUNDS_MS, series.buckets, strict=False):
        cumulative += count
        below[bound] = cumulative / series.count
    assert below[25.0] == pytest.approx(0.5, abs=0.03)
    assert below[250.0] == pytest.approx(0.99, abs=0.01)
    sigma = math.log(10) / statistics.NormalDist().inv_cdf(0.99)
    lognormal_mean = 0.025 * math.exp(sigma**2 / 2)
    assert series.sum_seconds / series.count == pytest.approx(lognormal_mean, rel=0.05)


def test_deleted_pods_drop_out_of_series_but_not_of_totals() -> None:
    pods = stable_and_canary(2, 1)
    cluster = snapshot.ClusterSnapshot(pods=pods, services=(service_for("web", pods),))
    traffic = run(cluster, traffic_config(), seconds=5)
    remaining = pods[:2]

    traffic.tick(
        snapshot.ClusterSnapshot(pods=remaining, services=(service_for("web", remaining),)), 1.0
    )

    assert {s.pod for s in traffic.series()} == {"web-0", "web-1"}
    assert f"{NS}/web-canary-0" in traffic.requests_by_pod()


def test_same_seed_same_counts() -> None:
    pods = stable_and_canary(3, 1)
    cluster = snapshot.ClusterSnapshot(pods=pods, services=(service_for("web", pods),))

    first = run(cluster, traffic_config(), seconds=10, seed=1).series()
    second = run(cluster, traffic_config(), seconds=10, seed=1).series()

    assert first == second


def test_negative_dt_is_rejected() -> None:
    traffic = model.TrafficModel(config.SandboxConfig.default())

    with pytest.raises(ValueError, match="dt_seconds"):
        traffic.tick(snapshot.ClusterSnapshot(), -1.0)
