"""Weights and the router factory."""

from __future__ import annotations

from typing import Any

import pytest

from rollout import errors, routers
from rollout.routers.base import ALL_STABLE, Weights
from rollout.spec import ObjectRef

ROUTING = routers.Routing(
    service=ObjectRef("shop", "web"), stable=ObjectRef("shop", "web"),
    canary=ObjectRef("shop", "web-canary"),
)  # fmt: skip


@pytest.mark.parametrize(
    ("stable", "canary"), [(90, 20), (-10, 110), (50.5, 49.5), (True, 99), (100, 1)]
)
def test_weights_that_are_not_whole_and_summing_to_100_are_refused(
    stable: Any, canary: Any
) -> None:
    with pytest.raises(errors.SpecError, match="sum to 100"):
        Weights(stable, canary)


def test_canary_share_leaves_the_rest_to_stable() -> None:
    assert Weights.canary_share(25) == Weights(75, 25)
    assert Weights.canary_share(0) == ALL_STABLE
    assert str(Weights(75, 25)) == "75/25"


def test_for_mesh_refuses_unknown_names_listing_the_valid_ones() -> None:
    with pytest.raises(errors.SpecError, match='router "linkerd": unknown; valid: istio'):
        routers.for_mesh("linkerd", None, ROUTING, {})  # type: ignore[arg-type]


def test_for_mesh_builds_the_istio_router() -> None:
    router = routers.for_mesh("istio", None, ROUTING, {})  # type: ignore[arg-type]

    assert isinstance(router, routers.IstioRouter)
