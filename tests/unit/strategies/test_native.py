"""Rolling's and recreate's plans: the pause sits at the end of every step, the last
one included (from spec and record alone; no cluster: nothing here runs a step)."""

from __future__ import annotations

from typing import Any

from rollout import analysis
from rollout.settings import FAST
from rollout.spec import PAUSE_MANUAL, ObjectRef, RolloutSpec
from rollout.state import RolloutRecord
from strategies.base import Context, Strategy
from strategies.recreate import RecreateStrategy
from strategies.rolling import RollingStrategy

WEB = ObjectRef("shop", "web")


def plan(cls: type[Strategy], **spec: Any) -> Strategy:
    full = RolloutSpec(target=WEB, strategy=cls.kind, **spec)
    record = RolloutRecord(strategy=cls.kind, spec=full)
    ctx = Context(cluster=None, spec=full, record=record, settings=FAST,  # type: ignore[arg-type]
                  provider=None, clock=analysis.SystemClock())  # fmt: skip
    return cls(ctx)


def test_rolling_pauses_after_every_batch_and_after_the_last() -> None:
    steps = plan(RollingStrategy, batches=(25, 50), pause=PAUSE_MANUAL).steps()

    assert [(s.name, s.weight, s.pause) for s in steps] == [
        ("batch 25%", 25, PAUSE_MANUAL),
        ("batch 50%", 50, PAUSE_MANUAL),
        ("batch 100%", 100, PAUSE_MANUAL),
    ]


def test_rolling_without_batches_is_one_step_with_the_pause() -> None:
    steps = plan(RollingStrategy, pause=90.0).steps()

    assert [(s.name, s.pause) for s in steps] == [("batch 100%", 90.0)]


def test_recreate_is_one_step_whose_pause_comes_before_completion() -> None:
    assert [(s.name, s.pause) for s in plan(RecreateStrategy, pause=PAUSE_MANUAL).steps()] == [
        ("recreate", PAUSE_MANUAL)
    ]
    assert [s.pause for s in plan(RecreateStrategy).steps()] == [0.0]
