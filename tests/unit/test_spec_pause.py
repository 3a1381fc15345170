"""`pause` for every strategy that takes one (rolling, recreate, canary, istio-canary):
the same value from `--pause` or from the chosen strategy's own section of rollout.yaml,
and a one-line refusal anywhere else."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rollout import errors, spec
from rollout.spec import PAUSE_MANUAL, SpecOverrides, StrategyKind

HEAD = "target: {name: link-manager}\nimage: v2\n"


def from_file(tmp_path: Path, body: str) -> spec.RolloutSpec:
    path = tmp_path / "rollout.yaml"
    path.write_text(HEAD + textwrap.dedent(body), encoding="utf-8")
    return spec.spec_from_file(path)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("strategy: rolling\nrolling: {batches: [50, 100], pause: manual}", PAUSE_MANUAL),
        ("strategy: recreate\nrecreate: {pause: 2m}", 120.0),
        ("strategy: canary\ncanary: {pause: 30s}", 30.0),
        ("strategy: istio-canary\ncanary: {pause: manual}", PAUSE_MANUAL),
        ("strategy: recreate\n", 0.0),
    ],
)
def test_pause_is_read_from_the_strategy_s_own_section(
    tmp_path: Path, body: str, expected: float
) -> None:
    assert from_file(tmp_path, body).pause == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("strategy: rolling\ncanary: {pause: manual}",
         "canary.pause: does not apply to strategy rolling (set rolling.pause)"),
        ("strategy: canary\nrecreate: {pause: 1m}",
         "recreate.pause: does not apply to strategy canary (set canary.pause)"),
        ("strategy: bluegreen\nrolling: {pause: manual}",
         "rolling.pause: does not apply to strategy bluegreen "
         "(only rolling, recreate, canary, istio-canary)"),
        ("strategy: recreate\nrecreate: {pause: later}",
         "recreate.pause: must be manual or a duration"),
        ("strategy: recreate\nrecreate: {batches: [50]}",
         "recreate.batches: unknown field (valid: pause)"),
    ],
)  # fmt: skip
def test_pause_elsewhere_is_refused_in_one_line(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(errors.SpecError) as caught:
        from_file(tmp_path, body)

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'rollout.yaml'}: {expected}"), message


@pytest.mark.parametrize("strategy", [StrategyKind.ROLLING, StrategyKind.RECREATE])
def test_pause_flag_applies_to_rolling_and_recreate(strategy: StrategyKind) -> None:
    values = SpecOverrides(images=("v2",), pause="manual")

    assert spec.spec_from_flags(strategy, "web", namespace="shop", overrides=values).pause == (
        PAUSE_MANUAL
    )


def test_pause_flag_overrides_the_file_s_section(tmp_path: Path) -> None:
    path = tmp_path / "rollout.yaml"
    path.write_text(HEAD + "strategy: rolling\nrolling: {pause: manual}\n", encoding="utf-8")

    got = spec.spec_from_file(path, overrides=SpecOverrides(pause="45s"))

    assert got.pause == 45.0
