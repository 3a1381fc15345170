"""The Istio canary's plan: its step list, pauses and canary sizes, from spec and record
alone (no cluster: nothing here runs a step)."""

from __future__ import annotations

from typing import Any

import pytest

from rollout import analysis
from rollout.settings import FAST
from rollout.spec import PAUSE_MANUAL, HeaderMatch, ObjectRef, RolloutSpec, StrategyKind
from rollout.state import RolloutRecord
from strategies.base import Context
from strategies.istio import IstioCanaryStrategy

WEB = ObjectRef("shop", "web")


def plan(**spec: Any) -> IstioCanaryStrategy:
    full = RolloutSpec(target=WEB, strategy=StrategyKind.ISTIO_CANARY, **spec)
    record = RolloutRecord(strategy=StrategyKind.ISTIO_CANARY, spec=full,
                           saved={"replicas": 4, "service": "web"})  # fmt: skip
    ctx = Context(cluster=None, spec=full, record=record, settings=FAST,  # type: ignore[arg-type]
                  provider=None, clock=analysis.SystemClock())  # fmt: skip
    return IstioCanaryStrategy(ctx)


def test_steps_are_routing_then_the_weights_then_one_promote_step() -> None:
    steps = plan(steps=(5, 10, 25, 50), pause=PAUSE_MANUAL).steps()

    assert [(s.name, s.weight) for s in steps] == [
        ("routing", 0), ("weight 5%", 5), ("weight 10%", 10), ("weight 25%", 25),
        ("weight 50%", 50), ("weight 100%", 100), ("promote", 100),
    ]  # fmt: skip
    assert [s.pause for s in steps] == [0.0] + [PAUSE_MANUAL] * 4 + [0.0, 0.0]
    # routing: none; then ready, weights, analysis; the handoff: ready, weights; stable ready
    assert [len(s.gates) for s in steps] == [0, 3, 3, 3, 3, 2, 1]


def test_default_steps_are_10_25_50() -> None:
    assert [s.weight for s in plan().steps()] == [0, 10, 25, 50, 100, 100]


def test_header_match_alone_is_one_a_b_step_instead_of_weights() -> None:
    steps = plan(match_header=HeaderMatch("x-canary", "true")).steps()

    assert [(s.name, s.weight) for s in steps] == [
        ("routing", 0), ("header x-canary=true", 0), ("weight 100%", 100), ("promote", 100),
    ]  # fmt: skip


def test_header_match_with_steps_comes_before_them() -> None:
    steps = plan(steps=(20, 50), match_header=HeaderMatch("x-canary", "true")).steps()

    assert [s.weight for s in steps] == [0, 0, 20, 50, 100, 100]


def test_a_100_step_is_the_promote_step_with_analysis_added() -> None:
    steps = plan(steps=(50, 100)).steps()

    assert [s.name for s in steps] == ["routing", "weight 50%", "weight 100%", "promote"]
    assert len(steps[-2].gates) == 3  # ready, weights 0/100, analysis


@pytest.mark.parametrize(
    ("weight", "mirror", "pods"),
    [(0, 0, 1), (5, 0, 1), (25, 0, 1), (26, 0, 2), (50, 0, 2), (100, 0, 4), (25, 50, 3),
     (100, 50, 4), (90, 50, 4)],
)  # fmt: skip
def test_canary_is_sized_for_its_weight_plus_mirror_at_least_one_pod(
    weight: int, mirror: int, pods: int
) -> None:
    assert plan(mirror=mirror)._size(weight) == pods
