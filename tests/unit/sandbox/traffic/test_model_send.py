"""TrafficModel.send (exact request counts for tests) and pre-initialised status codes."""

from __future__ import annotations

import pytest

from rollout.sandbox import config
from rollout.sandbox.traffic import model, snapshot

NS = "shop"


def pod(name: str, image: str) -> snapshot.PodSnapshot:
    return snapshot.PodSnapshot(
        namespace=NS,
        name=name,
        ip="10.0.0.1",
        labels={"app": "web"},
        image=image,
        ready=True,
        workload="web",
        istio=False,
    )


def cluster(*pods: snapshot.PodSnapshot) -> snapshot.ClusterSnapshot:
    service = snapshot.ServiceSnapshot(NS, "web", tuple(p.name for p in pods))
    return snapshot.ClusterSnapshot(pods=pods, services=(service,))


def traffic_model(**images: dict[str, object]) -> model.TrafficModel:
    data = {"images": images, "traffic": {"default": {"rate": 1000}}}
    return model.TrafficModel(config.SandboxConfig.from_dict(data), seed=1)


def test_send_delivers_exactly_that_many_requests_to_one_service() -> None:
    traffic = traffic_model()
    traffic.send(cluster(pod("web-1", "app:v1"), pod("web-2", "app:v1")), NS, "web", 1234)

    assert sum(traffic.requests_by_pod().values()) == 1234


def test_send_to_an_unknown_service_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="shop/nope"):
        traffic_model().send(cluster(), NS, "nope", 1)


def test_every_code_an_image_can_answer_is_exported_from_the_first_request() -> None:
    traffic = traffic_model(**{"app:v3": {"error_rate": 0.001, "error_codes": [500, 503]}})
    traffic.send(cluster(pod("web-1", "app:v3"), pod("web-2", "app:v1")), NS, "web", 50)

    codes = {s.pod: {code for code, _ in s.codes} for s in traffic.series()}

    assert codes == {"web-1": {200, 500, 503}, "web-2": {200}}
