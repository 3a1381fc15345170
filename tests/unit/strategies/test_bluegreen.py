"""Blue/green's pure pieces: selectors per colour, the colour Deployment and preview
Service rollout creates, ownership, the endpoint share, and the Layout round trip
through the rollout record annotation."""

from __future__ import annotations

import copy

import pytest

from rollout import deployments
from rollout.spec import ObjectRef, RolloutSpec, StrategyKind
from rollout.state import RolloutRecord
from strategies import bluegreen_layout as bg
from tests.factories import make_deployment, make_service

TARGET = "link-manager"


def _target() -> dict[str, object]:
    d = make_deployment(
        TARGET,
        replicas=4,
        image="repo/lm:v1",
        minReadySeconds=5,
        strategy={"type": "RollingUpdate"},
    )
    d["metadata"].update(namespace="shop", annotations={"argocd.argoproj.io/tracking-id": "x"})
    d["metadata"]["labels"]["app.kubernetes.io/instance"] = "shop"
    return d


def _layout(**changes: object) -> bg.Layout:
    base = {"app": TARGET}
    fields: dict[str, object] = {
        "service": TARGET,
        "original": base,
        "old": bg.Side(bg.BLUE, TARGET, {**base, bg.HASH: "5d8f7c9b4"}),
        "new": bg.Side(bg.GREEN, f"{TARGET}-green", {**base, bg.COLOR: bg.GREEN}),
        "replicas": 4,
        "adopt": True,
        "created": True,
        **changes,
    }
    return bg.Layout(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("selector", "base"),
    [
        ({"app": "a"}, {"app": "a"}),
        ({"app": "a", bg.COLOR: "green"}, {"app": "a"}),
        ({"app": "a", bg.HASH: "abc"}, {"app": "a"}),
        (None, {}),
    ],
)
def test_base_selector_drops_only_colour_and_hash(
    selector: dict[str, str] | None, base: dict[str, str]
) -> None:
    assert bg.base_selector(selector) == base


@pytest.mark.parametrize(("live", "new"), [(None, "green"), ("blue", "green"), ("green", "blue")])
def test_new_colour_alternates_and_an_uncoloured_app_gets_green(live: str | None, new: str) -> None:
    assert bg.other_color(live) == new


def test_an_empty_selector_selects_nothing() -> None:
    assert not deployments.selects({}, {"app": "a"})
    assert deployments.selects({"app": "a"}, {"app": "a", "tier": "web"})
    assert not deployments.selects({"app": "a", "tier": "web"}, {"app": "a"})


def test_colour_deployment_copies_the_target_with_colour_on_selector_and_pods() -> None:
    target = _target()
    before = copy.deepcopy(target)
    template = copy.deepcopy(target["spec"]["template"])  # type: ignore[index]
    side = bg.Side(bg.GREEN, f"{TARGET}-green", {"app": TARGET, bg.COLOR: bg.GREEN})

    body = bg.colour_deployment(target, side, template=template, replicas=3)

    assert target == before  # the user's object is not touched
    assert body["metadata"] == {
        "name": f"{TARGET}-green",
        "labels": {bg.MANAGED_BY: "rollout", bg.COLOR: bg.GREEN},  # no GitOps tracking label
        "annotations": {bg.OWNER: f"Deployment/{TARGET}"},
    }
    assert body["spec"]["selector"] == {"matchLabels": {"app": TARGET, bg.COLOR: bg.GREEN}}
    assert body["spec"]["template"]["metadata"]["labels"] == {"app": TARGET, bg.COLOR: bg.GREEN}
    assert body["spec"]["replicas"] == 3
    assert body["spec"]["minReadySeconds"] == 5
    assert body["spec"]["strategy"] == {"type": "RollingUpdate"}
    assert bg.is_owned(body, TARGET)
    assert not bg.is_owned(body, "other-app")
    assert not bg.is_owned(target, TARGET)


def test_preview_service_copies_ports_without_node_ports() -> None:
    active = make_service(TARGET)
    active["spec"]["ports"][0]["nodePort"] = 30080
    selector = {"app": TARGET, bg.COLOR: bg.BLUE}

    body = bg.preview_service(active, "lm-preview", TARGET, selector)

    assert body["spec"] == {
        "selector": selector,
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
    }
    assert bg.is_owned(body, TARGET)


def test_ready_share_counts_ready_new_pods_and_stale_not_ready_ones() -> None:
    def address(pod: str) -> dict[str, object]:
        return {"ip": "10.0.0.1", "targetRef": {"kind": "Pod", "name": pod}}

    ep = {
        "subsets": [
            {
                "addresses": [
                    address("lm-green-abc-1"),
                    address("lm-green-abc-2"),
                    address("lm-x-1"),
                ],
                "notReadyAddresses": [address("lm-y-2"), address("lm-green-abc-3")],
            }
        ]
    }

    assert bg.ready_share(ep, "lm-green-") == (2, 3, 1)
    assert bg.ready_share(None, "lm-green-") == (0, 0, 0)


def test_layout_round_trips_through_the_record_annotation() -> None:
    layout = _layout(preview="lm-preview", preview_original={"app": TARGET})
    record = RolloutRecord(
        StrategyKind.BLUEGREEN, RolloutSpec(ObjectRef("shop", TARGET), StrategyKind.BLUEGREEN)
    )
    record.saved.update(layout.to_json())

    back = RolloutRecord.from_annotation(record.to_annotation())

    assert bg.Layout.from_json(back.saved) == layout


def test_label_query_is_sorted_key_value_pairs() -> None:
    assert bg.label_query({"b": "2", "a": "1"}) == "a=1,b=2"
