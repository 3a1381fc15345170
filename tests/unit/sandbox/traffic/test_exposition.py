"""Prometheus text exposition of the traffic model: parses, adds up, drops gone pods."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pytest

from rollout.sandbox import config
from rollout.sandbox.traffic import exposition, model, snapshot

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Family:
    kind: str
    help: str
    samples: list[Sample]


def parse(text: str) -> dict[str, Family]:
    """A strict little parser for text format 0.0.4 (no timestamps)."""
    assert text.endswith("\n")
    helps: dict[str, str] = {}
    kinds: dict[str, str] = {}
    samples: list[Sample] = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, doc = line[7:].partition(" ")
            helps[name] = doc
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name not in kinds, f"second TYPE line for {name}"
            kinds[name] = kind
        else:
            match = _SAMPLE.fullmatch(line)
            assert match, f"not a sample line: {line!r}"
            name, raw_labels, value = match.groups()
            samples.append(Sample(name, parse_labels(raw_labels or ""), float(value)))
    families = {name: Family(kind, helps[name], []) for name, kind in kinds.items()}
    for sample in samples:
        base = re.sub(r"_(bucket|sum|count)$", "", sample.name)
        family = families.get(sample.name) or families.get(base)
        assert family is not None, f"sample {sample.name} has no TYPE line"
        family.samples.append(sample)
    return families


def parse_labels(raw: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    position = 0
    while position < len(raw):
        match = _LABEL.match(raw, position)
        assert match, f"bad labels at {raw[position:]!r}"
        key, value, _ = match.groups()
        assert key not in labels
        labels[key] = re.sub(r"\\.", lambda m: _UNESCAPE[m.group(0)], value)
        position = match.end()
    return labels


def series_keys(family: Family) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    return [(s.name, tuple(sorted(s.labels.items()))) for s in family.samples]


def make_pod(name: str, *, image: str, workload: str, istio: bool) -> snapshot.PodSnapshot:
    return snapshot.PodSnapshot(
        namespace="shop",
        name=name,
        ip="10.0.0.1",
        labels={"app": "web"},
        image=image,
        ready=True,
        workload=workload,
        istio=istio,
    )


@pytest.fixture
def traffic_model() -> model.TrafficModel:
    cfg = config.SandboxConfig.from_dict(
        {
            "images": {
                "app:v1": {"latency": {"p50": "20ms", "p99": "100ms"}},
                "app:v3": {"error_rate": 0.2, "error_codes": [500, 503], "latency": "300ms"},
            },
            "traffic": {"web": 100, "default": 0},
        }
    )
    return model.TrafficModel(cfg, seed=5)


def cluster(*pods: snapshot.PodSnapshot) -> snapshot.ClusterSnapshot:
    service = snapshot.ServiceSnapshot("shop", "web", tuple(p.name for p in pods))
    return snapshot.ClusterSnapshot(pods=pods, services=(service,))


def test_plain_metrics_parse_and_add_up(traffic_model: model.TrafficModel) -> None:
    pods = (
        make_pod("web-a", image="app:v1", workload="web", istio=False),
        make_pod("web-canary-a", image="app:v3", workload="web-canary", istio=False),
    )
    for _ in range(20):
        traffic_model.tick(cluster(*pods), 1.0)

    families = parse(exposition.render(traffic_model.series()))

    assert set(families) == {"http_requests_total", "http_request_duration_seconds"}
    requests = families["http_requests_total"]
    assert requests.kind == "counter"
    assert len(series_keys(requests)) == len(set(series_keys(requests)))
    assert sum(s.value for s in requests.samples) == 2000
    canary = [s for s in requests.samples if s.labels["pod"] == "web-canary-a"]
    assert {s.labels["code"] for s in canary} == {"200", "500", "503"}
    assert all(s.labels["namespace"] == "shop" and s.labels["service"] == "web" for s in canary)
    assert_histograms_consistent(families["http_request_duration_seconds"], "seconds")


def test_istio_metrics_only_for_istio_pods(traffic_model: model.TrafficModel) -> None:
    pods = (
        make_pod("web-a", image="app:v1", workload="web", istio=True),
        make_pod("web-b", image="app:v1", workload="web", istio=True),
        make_pod("other", image="app:v1", workload="other", istio=False),
    )
    for _ in range(10):
        traffic_model.tick(cluster(*pods), 1.0)

    families = parse(exposition.render(traffic_model.series()))

    istio = families["istio_requests_total"]
    assert len(series_keys(istio)) == len(set(series_keys(istio)))
    assert {s.labels["pod"] for s in istio.samples} == {"web-a", "web-b"}
    first = istio.samples[0].labels
    assert first["reporter"] == "destination"
    assert first["source_workload"] == "unknown"
    assert first["destination_workload"] == "web"
    assert first["destination_workload_namespace"] == "shop"
    assert first["destination_service_name"] == "web"
    assert first["destination_service_namespace"] == "shop"
    assert first["response_code"] == "200"
    plain_total = sum(
        s.value for s in families["http_requests_total"].samples if s.labels["pod"] != "other"
    )
    assert sum(s.value for s in istio.samples) == plain_total
    assert_histograms_consistent(families["istio_request_duration_milliseconds"], "ms")


def test_fixed_latency_lands_in_the_right_buckets(traffic_model: model.TrafficModel) -> None:
    pods = (make_pod("web-canary-a", image="app:v3", workload="web-canary", istio=True),)
    traffic_model.tick(cluster(*pods), 1.0)

    families = parse(exposition.render(traffic_model.series()))

    seconds = buckets(families["http_request_duration_seconds"])
    assert seconds[0.25] == 0
    assert seconds[0.5] == 100
    millis = buckets(families["istio_request_duration_milliseconds"])
    assert millis[250.0] == 0
    assert millis[500.0] == 100
    (ms_sum,) = [
        s.value
        for s in families["istio_request_duration_milliseconds"].samples
        if s.name.endswith("_sum")
    ]
    assert ms_sum == pytest.approx(100 * 300.0)


def test_gone_pods_drop_out_of_the_output(traffic_model: model.TrafficModel) -> None:
    kept = make_pod("web-a", image="app:v1", workload="web", istio=True)
    gone = make_pod("web-b", image="app:v1", workload="web", istio=True)
    traffic_model.tick(cluster(kept, gone), 1.0)
    traffic_model.tick(cluster(kept), 1.0)

    text = exposition.render(traffic_model.series())

    assert "web-a" in text
    assert "web-b" not in text


def test_label_values_are_escaped() -> None:
    odd = 'we"ird\\name\nx'
    stats = model.SeriesStats(
        namespace="shop",
        service="web",
        pod="web-a",
        workload=odd,
        istio=True,
        codes=((200, 1),),
        buckets=(1,) + (0,) * len(model.BUCKET_BOUNDS_MS),
        sum_seconds=0.0001,
    )

    text = exposition.render([stats])

    assert 'destination_workload="we\\"ird\\\\name\\nx"' in text
    families = parse(text)
    assert families["istio_requests_total"].samples[0].labels["destination_workload"] == odd


def test_empty_model_renders_only_the_plain_families() -> None:
    families = parse(exposition.render([]))

    assert set(families) == {"http_requests_total", "http_request_duration_seconds"}
    assert all(not family.samples for family in families.values())


def buckets(family: Family) -> dict[float, float]:
    return {float(s.labels["le"]): s.value for s in family.samples if s.name.endswith("_bucket")}


def assert_histograms_consistent(family: Family, unit: str) -> None:
    assert family.kind == "histogram"
    expected = exposition.HTTP_BUCKETS_SECONDS if unit == "seconds" else exposition.ISTIO_BUCKETS_MS
    by_series: dict[tuple[tuple[str, str], ...], dict[str, list[Sample]]] = {}
    for sample in family.samples:
        key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        by_series.setdefault(key, {}).setdefault(sample.name.rsplit("_", 1)[-1], []).append(sample)
    assert by_series
    for parts in by_series.values():
        les = [float(s.labels["le"]) for s in parts["bucket"]]
        counts = [s.value for s in parts["bucket"]]
        assert les == [*expected, math.inf]
        assert counts == sorted(counts)
        assert counts[-1] == parts["count"][0].value
        assert parts["sum"][0].value > 0
