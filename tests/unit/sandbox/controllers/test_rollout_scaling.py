"""Unit tests for the pure Deployment-controller scaling decisions in rollout_scaling.

The replay tests run the discrete-event world of `rollout_sim` over a recording of a
real kube-controller-manager rollout and check the same scale decisions come out.
"""

from __future__ import annotations

import functools

import pytest

from rollout.sandbox.controllers import rollout_scaling as scaling
from tests.unit.sandbox.controllers.rollout_sim import (
    Timing,
    load_recording,
    recorded_decision_times,
    recorded_timing,
    simulate,
)


def rolling(
    desired: int = 10,
    surge: scaling.IntOrPercent = "25%",
    unavailable: scaling.IntOrPercent = "25%",
) -> scaling.DeploymentParams:
    return scaling.DeploymentParams(desired, max_surge=surge, max_unavailable=unavailable)


def test_rolling_step_makes_the_recorded_upstream_decisions_given_the_recorded_timing() -> None:
    recording = load_recording()

    world = simulate(recording.spec, recorded_timing(recording.trace))

    assert world.decisions == recording.decisions
    assert world.max_pods <= recording.max_pods == recording.spec.max_pods
    assert world.min_available >= recording.min_available == recording.spec.min_available
    for ours, theirs in zip(world.times, recorded_decision_times(recording.trace), strict=True):
        assert abs(ours - theirs) < 0.05  # upstream took 3-27 ms per API write


def test_instant_status_model_gives_different_decisions_than_the_recording() -> None:
    world = simulate(rolling(), Timing())

    assert world.decisions != load_recording().decisions  # the timing matters, not just the math
    assert world.decisions == [(10, 0), (10, 3), (8, 3), (8, 5), (3, 5), (3, 10), (0, 10)]


@pytest.mark.parametrize(
    ("desired", "surge", "unavailable"),
    [
        (10, "25%", "25%"),
        (10, 0, 1),
        (10, 1, 0),
        (3, "50%", "50%"),
        (5, "100%", 0),
        (1, 0, "1%"),
        (7, "30%", "10%"),
    ],
)
def test_rolling_update_stays_within_fenceposts_and_completes(
    desired: int, surge: scaling.IntOrPercent, unavailable: scaling.IntOrPercent
) -> None:
    spec = rolling(desired, surge, unavailable)

    world = simulate(spec, Timing())

    assert world.decisions[-1] == (0, desired)
    assert world.max_pods <= spec.max_pods
    assert world.min_available >= spec.min_available


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 10, (3, 2)),  # surge rounds up, unavailable rounds down
        ("25%", "25%", 4, (1, 1)),
        ("25%", "25%", 1, (1, 0)),
        (None, None, 10, (3, 2)),  # API defaults
        ("50%", "50%", 3, (2, 1)),
        ("1%", "1%", 2, (1, 0)),
        (0, "1%", 2, (0, 1)),  # both resolve to zero: unavailable becomes 1
        ("0%", "0%", 5, (0, 1)),
        (2, "10%", 10, (2, 1)),
        ("100%", 0, 5, (5, 0)),
        ("25%", "25%", 0, (0, 1)),
    ],
)
def test_resolve_fenceposts_rounds_like_upstream(
    surge: scaling.IntOrPercent,
    unavailable: scaling.IntOrPercent,
    desired: int,
    expected: tuple[int, int],
) -> None:
    assert scaling.resolve_fenceposts(surge, unavailable, desired) == expected


def test_max_unavailable_is_capped_at_desired_and_zero_without_replicas() -> None:
    assert rolling(3, 0, 5).unavailable == 3
    assert rolling(0, "25%", "25%").unavailable == 0
    assert rolling(10).max_pods == 13
    assert rolling(10).min_available == 8


def test_recreate_has_no_surge_and_needs_every_replica_available() -> None:
    spec = scaling.DeploymentParams(
        4, strategy=scaling.Strategy.RECREATE, max_surge=2, max_unavailable=2
    )

    assert (spec.surge, spec.unavailable, spec.min_available) == (0, 0, 4)


def test_resolve_fenceposts_rejects_strings_that_are_not_percentages() -> None:
    with pytest.raises(ValueError, match="int-or-percent"):
        scaling.resolve_fenceposts("3", "25%", 10)


def test_replica_annotations_record_desired_and_max_replicas() -> None:
    assert scaling.replica_annotations(rolling(10)) == {
        scaling.DESIRED_REPLICAS_ANNOTATION: "10",
        scaling.MAX_REPLICAS_ANNOTATION: "13",
    }


def old_rs(
    name: str, replicas: int, available: int | None = None, created: float = 0.0
) -> scaling.RSState:
    avail = replicas if available is None else available
    return scaling.RSState(
        name, replicas, available=avail, ready=avail, actual=replicas, created=created
    )


@pytest.mark.parametrize(
    ("new", "olds", "expected"),
    [
        pytest.param(
            scaling.RSState("new", 0), [old_rs("old", 10)], {"new": 3}, id="new-rs-within-surge"
        ),
        pytest.param(
            scaling.RSState("new", 12, available=12),
            [old_rs("old", 0)],
            {"new": 10},
            id="shrink-new",
        ),
        pytest.param(
            scaling.RSState("new", 10, available=10), [old_rs("old", 0)], {}, id="complete"
        ),
        pytest.param(
            scaling.RSState("new", 3, available=3, created=2.0),
            [old_rs("older", 4, created=1.0), old_rs("oldest", 6)],
            {"oldest": 1},
            id="oldest-old-rs-first",
        ),
        pytest.param(  # 2 unhealthy old pods go; availability (7) forbids more
            scaling.RSState("new", 3),
            [old_rs("old", 10, available=7)],
            {"old": 8},
            id="unhealthy-first",
        ),
        pytest.param(  # old status still counts a removed pod: upstream's cleanup bails out
            scaling.RSState("new", 8, available=4),
            [old_rs("old", 5, available=6)],
            {},
            id="stale-old",
        ),
        pytest.param(
            scaling.RSState("new", 8, available=4), [old_rs("old", 5)], {"old": 4}, id="fresh"
        ),
    ],
)
def test_rolling_step_decides_like_upstream(
    new: scaling.RSState, olds: list[scaling.RSState], expected: scaling.ScalePlan
) -> None:
    assert scaling.rolling_step(rolling(10), new=new, olds=olds) == expected


def test_rolling_step_keeps_old_pods_while_new_pods_are_unavailable() -> None:
    # Upstream's "case 1": new pods crashloop and an old pod fails; 13 - 8 - 5 = 0.
    new = scaling.RSState("new", 5, available=0)

    assert (
        scaling.rolling_step(rolling(10, 3, 2), new=new, olds=[old_rs("old", 8, available=7)]) == {}
    )


def test_new_rs_replicas_never_exceeds_desired() -> None:
    new = scaling.RSState("new", 9, available=9)

    assert scaling.new_rs_replicas(rolling(10, 5, 0), new=new, olds=[old_rs("old", 1)]) == 10


def test_recreate_stops_every_old_pod_before_starting_new_ones() -> None:
    spec = scaling.DeploymentParams(3, strategy=scaling.Strategy.RECREATE)
    step = functools.partial(scaling.recreate_step, spec, new=scaling.RSState("new", 0))
    running = [old_rs("a", 3), old_rs("b", 1), old_rs("c", 0)]

    assert step(olds=running, old_pods=4) == {"a": 0, "b": 0}
    assert step(olds=[scaling.RSState("a", 0)], old_pods=2) == {}  # old pods still terminating
    assert step(olds=[scaling.RSState("a", 0, actual=2)], old_pods=0) == {}  # status not caught up
    assert step(olds=[scaling.RSState("a", 0)], old_pods=0) == {"new": 3}
    done = scaling.RSState("new", 3, available=3)
    assert scaling.recreate_step(spec, new=done, olds=[], old_pods=0) == {}


def annotated(
    name: str, replicas: int, *, created: float, desired: int = 10, max_: int = 13
) -> scaling.RSState:
    return scaling.RSState(
        name, replicas, created=created, annotated_desired=desired, annotated_max=max_
    )


@pytest.mark.parametrize(
    ("desired", "new", "old", "expected"),
    [
        pytest.param(20, 5, 8, {"old": 15, "new": 10}, id="up-keeps-8:5-within-25"),
        pytest.param(5, 5, 8, {"old": 4, "new": 3}, id="down-keeps-8:5-within-7"),
        pytest.param(11, 5, 5, {"new": 9, "old": 5}, id="up-leftover-to-newer"),
        pytest.param(6, 5, 5, {"old": 3, "new": 5}, id="down-leftover-from-older"),
        pytest.param(10, 5, 8, {}, id="no-change"),
    ],
)
def test_scaling_mid_rollout_resizes_replica_sets_proportionally(
    desired: int, new: int, old: int, expected: scaling.ScalePlan
) -> None:
    rss = {"new": annotated("new", new, created=1.0), "old": annotated("old", old, created=0.0)}

    plan = scaling.proportional_scale(
        rolling(desired), new=rss["new"], olds=[rss["old"]], status_replicas=new + old
    )

    assert plan == expected  # also names unresized ReplicaSets whose annotations are stale


def test_scaling_event_detected_from_desired_replicas_annotation() -> None:
    rss = [annotated("new", 5, created=1.0), annotated("old", 8, created=0.0)]

    assert scaling.is_scaling_event(rolling(20), replica_sets=rss)
    assert not scaling.is_scaling_event(rolling(10), replica_sets=rss)


def test_scaling_a_settled_deployment_resizes_its_only_active_replica_set() -> None:
    new, old = annotated("new", 10, created=1.0), annotated("old", 0, created=0.0)

    assert scaling.proportional_scale(rolling(4), new=new, olds=[old], status_replicas=10) == {
        "new": 4
    }


def test_scaling_with_a_saturated_new_replica_set_drops_old_ones() -> None:
    new = scaling.RSState("new", 10, available=10, created=1.0, annotated_desired=10)
    old = annotated("old", 2, created=0.0)

    assert scaling.proportional_scale(rolling(10), new=new, olds=[old], status_replicas=12) == {
        "old": 0
    }


def test_proportional_scale_refreshes_stale_annotations_without_resizing() -> None:
    new, old = annotated("new", 5, created=1.0), annotated("old", 8, created=0.0, desired=9)

    assert scaling.proportional_scale(rolling(10), new=new, olds=[old], status_replicas=13) == {
        "old": 8
    }
