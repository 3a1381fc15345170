"""The replica canary's pure helpers: the split per step, which steps a replica count can
express, and the refusal message."""

from __future__ import annotations

import pytest

from rollout import errors
from rollout.spec import ObjectRef
from strategies import canary
from strategies.canary import Split, check_reachable, replicas_needed, split_for, unreachable

WEB = ObjectRef("shop", "web")


@pytest.mark.parametrize(
    ("replicas", "weight", "shrink", "expected"),
    [
        (4, 20, False, Split(1, 4)),  # 1 of 5 pods
        (4, 50, False, Split(4, 4)),  # the canary never outgrows the stable
        (4, 25, False, Split(1, 4)),  # 20% is nearer 25% than 2 of 6 (33%)
        (10, 10, False, Split(1, 10)),  # 9.1%
        (8, 25, False, Split(3, 8)),  # 27.3%
        (4, 100, False, Split(4, 4)),  # as near 100% as a full stable allows: 50%
        (4, 25, True, Split(1, 3)),  # total constant
        (4, 50, True, Split(2, 2)),
        (4, 100, True, Split(4, 0)),
        (10, 25, True, Split(2, 8)),  # 2.5 pods: the tie goes to the smaller canary
        (10, 10, True, Split(1, 9)),
        (1, 5, True, Split(1, 0)),  # at least one canary pod
        (1, 50, False, Split(1, 1)),
    ],
)
def test_split_is_the_nearest_share_the_replica_count_allows(
    replicas: int, weight: int, shrink: bool, expected: Split
) -> None:
    assert split_for(replicas, weight, shrink=shrink) == expected


def test_split_percent_is_the_canary_share_of_all_pods() -> None:
    assert Split(1, 4).percent == 20.0
    assert Split(4, 0).percent == 100.0
    assert Split(0, 0).percent == 0.0


def test_four_replicas_cannot_express_ten_percent() -> None:
    assert unreachable(4, (10, 25, 50), shrink=False) == [10]  # 20% is the smallest share
    assert unreachable(4, (10, 25, 50), shrink=True) == [10]  # 25% is the smallest share
    assert unreachable(4, (20, 50), shrink=False) == []
    assert unreachable(8, (10, 25, 50), shrink=False) == []


def test_above_half_needs_shrink_stable() -> None:
    assert unreachable(100, (75,), shrink=False) == [75]
    assert unreachable(4, (75, 100), shrink=True) == []
    assert replicas_needed((75,), shrink=False) is None


def test_replicas_needed_is_the_smallest_count_that_reaches_every_step() -> None:
    assert replicas_needed((10, 25, 50), shrink=False, start=4) == 6  # 14.3%, 25%, 50%
    assert unreachable(7, (10, 25, 50), shrink=True) == [50]  # 3 or 4 of 7: 7 points off
    assert replicas_needed((10, 25, 50), shrink=True, start=4) == 8  # 12.5%, 25%, 50%
    assert replicas_needed((20, 50), shrink=False, start=4) == 4
    n = replicas_needed((5,), shrink=True)
    assert n is not None and not unreachable(n, (5,), shrink=True)
    assert unreachable(n - 1, (5,), shrink=True) == [5]


def test_refusal_names_the_step_the_nearest_split_and_the_fixes() -> None:
    with pytest.raises(errors.SpecError) as e:
        check_reachable(WEB, (10, 25, 50), 4, shrink=False)

    message = str(e.value)
    assert e.value.exit_code == 2
    assert "\n" not in message
    assert message.startswith("Deployment shop/web: step 10% cannot be reached with 4 replicas")
    assert "1 canary beside 4 stable = 20%" in message
    assert "scale to 6 replicas" in message
    assert "choose other --steps" in message


def test_refusal_suggests_shrink_stable_when_that_would_do() -> None:
    with pytest.raises(errors.SpecError, match="pass --shrink-stable"):
        check_reachable(WEB, (25, 50, 75), 4, shrink=False)


def test_reachable_steps_pass_silently() -> None:
    check_reachable(WEB, (20, 50), 4, shrink=False)
    check_reachable(WEB, (25, 50, 75, 100), 4, shrink=True)


def test_default_steps_fit_the_example_app() -> None:
    assert unreachable(4, canary.DEFAULT_STEPS, shrink=False) == []
    assert [split_for(4, w, shrink=False).percent for w in canary.DEFAULT_STEPS] == [20.0, 50.0]
