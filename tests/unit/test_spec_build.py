"""spec_build: flags alone, flags over a file (field by field), and the cross-field rules."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from rollout import errors, spec
from rollout.spec import (
    AnalysisSpec,
    Check,
    HeaderMatch,
    ImageChange,
    ObjectRef,
    OnInterrupt,
    PrometheusSpec,
    RolloutSpec,
    SpecOverrides,
    StrategyKind,
)

CANARY_FILE = """\
target: {name: link-manager, namespace: shop}
strategy: canary
image: v2
timeout: 5m
onInterrupt: abort
canary: {steps: [10, 25, 50], pause: 1m}
analysis:
  interval: 10s
  count: 3
  initialDelay: 5s
  failureLimit: 0
  inconclusiveLimit: 0
  consecutiveErrorLimit: 2
  checks: [{name: success-rate, min: 99}]
prometheus: {url: "http://prometheus:9090", tokenFile: /run/token, caFile: /etc/ca.pem}
"""

FILE_SPEC = RolloutSpec(
    target=ObjectRef("shop", "link-manager"),
    strategy=StrategyKind.CANARY,
    images=(ImageChange("v2", tag_only=True),),
    timeout=300.0,
    steps=(10, 25, 50),
    pause=60.0,
    analysis=AnalysisSpec(
        checks=(Check("success-rate", min=99.0),), initial_delay=5.0, interval=10.0, count=3
    ),
    prometheus=PrometheusSpec(
        url="http://prometheus:9090", token_file="/run/token", ca_file="/etc/ca.pem"
    ),
)


@pytest.fixture
def canary_file(tmp_path: Path) -> Path:
    path = tmp_path / "rollout.yaml"
    path.write_text(CANARY_FILE, encoding="utf-8")
    return path


def flags(strategy: StrategyKind = StrategyKind.CANARY, **given: Any) -> RolloutSpec:
    given.setdefault("images", ("v2",))
    return spec.spec_from_flags(
        strategy, "link-manager", namespace="shop", overrides=SpecOverrides(**given)
    )


def flag_error(strategy: StrategyKind = StrategyKind.CANARY, **given: Any) -> str:
    with pytest.raises(errors.SpecError) as caught:
        flags(strategy, **given)
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_file_without_flags_gives_the_file_spec(canary_file: Path) -> None:
    assert spec.spec_from_file(canary_file) == FILE_SPEC


def test_flags_alone_build_a_canary_spec_from_text() -> None:
    checks = (Check("success-rate", min=99.0), Check("latency-p99", max=300.0))

    built = flags(
        images=("link-manager=ghcr.io/x/link-manager:v2",),
        timeout="10m",
        on_interrupt="leave",
        dry_run=True,
        force=True,
        wait=True,
        checks=checks,
        interval="30s",
        count=5,
        prometheus_url="https://prom.example.com",
        prometheus_token="secret",
        prometheus_insecure=True,
        steps="10,50",
        pause="manual",
        shrink_stable=True,
    )

    assert built == RolloutSpec(
        target=ObjectRef("shop", "link-manager"),
        strategy=StrategyKind.CANARY,
        images=(ImageChange("ghcr.io/x/link-manager:v2", "link-manager"),),
        timeout=600.0,
        on_interrupt=OnInterrupt.LEAVE,
        dry_run=True,
        force=True,
        wait_for_lock=True,
        analysis=AnalysisSpec(checks=checks, interval=30.0, count=5),
        prometheus=PrometheusSpec(
            url="https://prom.example.com", bearer_token="secret", insecure=True
        ),
        steps=(10, 50),
        pause=spec.PAUSE_MANUAL,
        shrink_stable=True,
    )


def test_flags_alone_leave_unset_options_at_their_defaults() -> None:
    assert flags(StrategyKind.RECREATE) == RolloutSpec(
        target=ObjectRef("shop", "link-manager"),
        strategy=StrategyKind.RECREATE,
        images=(ImageChange("v2", tag_only=True),),
    )


def test_flags_accept_already_parsed_values() -> None:
    built = flags(
        StrategyKind.ISTIO_CANARY,
        images=(ImageChange("v3", tag_only=True),),
        timeout=30.0,
        on_interrupt=OnInterrupt.LEAVE,
        steps=(5, 100),
        match_header=HeaderMatch("x-canary", "1"),
        mirror=20,
    )

    assert built.images == (ImageChange("v3", tag_only=True),)
    assert (built.timeout, built.on_interrupt, built.steps) == (30.0, OnInterrupt.LEAVE, (5, 100))
    assert (built.match_header, built.mirror) == (HeaderMatch("x-canary", "1"), 20)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"images": ("ghcr.io/x/app:v3",)}, {"images": (ImageChange("ghcr.io/x/app:v3"),)}),
        ({"timeout": "2m"}, {"timeout": 120.0}),
        ({"on_interrupt": "leave"}, {"on_interrupt": OnInterrupt.LEAVE}),
        ({"dry_run": True}, {"dry_run": True}),
        ({"steps": "20,40"}, {"steps": (20, 40)}),
        ({"pause": "manual"}, {"pause": spec.PAUSE_MANUAL}),
        ({"pause": "0"}, {"pause": 0.0}),
        ({"shrink_stable": True}, {"shrink_stable": True}),
        (
            {"checks": (Check("latency-p99", max=250.0),)},
            {"analysis.checks": (Check("latency-p99", max=250.0),)},
        ),
        ({"interval": "1m"}, {"analysis.interval": 60.0}),
        ({"count": 7}, {"analysis.count": 7}),
        ({"initial_delay": "0s"}, {"analysis.initial_delay": 0.0}),
        ({"failure_limit": 2}, {"analysis.failure_limit": 2}),
        ({"inconclusive_limit": 1}, {"analysis.inconclusive_limit": 1}),
        ({"consecutive_error_limit": 0}, {"analysis.consecutive_error_limit": 0}),
        ({"window": "5m"}, {"analysis.window": 300.0}),
        ({"prometheus_url": "http://other:9090"}, {"prometheus.url": "http://other:9090"}),
        ({"prometheus_ca_file": "/tmp/ca"}, {"prometheus.ca_file": "/tmp/ca"}),
        ({"prometheus_insecure": True}, {"prometheus.insecure": True}),
        ({"prometheus_token_file": "/tmp/t"}, {"prometheus.token_file": "/tmp/t"}),
        # a token flag replaces the file's token file: one credential, not two
        (
            {"prometheus_token": "abc"},
            {"prometheus.bearer_token": "abc", "prometheus.token_file": None},
        ),
    ],
)
def test_each_flag_overrides_only_its_own_field_of_the_file(
    canary_file: Path, given: dict[str, Any], expected: dict[str, Any]
) -> None:
    built = spec.spec_from_file(canary_file, overrides=SpecOverrides(**given))

    assert built == _with(FILE_SPEC, expected)


def test_empty_and_none_overrides_keep_every_file_value(canary_file: Path) -> None:
    not_given = SpecOverrides(images=(), checks=(), steps=None, timeout=None, dry_run=None)

    assert spec.spec_from_file(canary_file, overrides=not_given) == FILE_SPEC


def test_namespace_flag_fills_a_file_without_one(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("target: {name: web}\nstrategy: recreate\nimage: v2\n", encoding="utf-8")

    assert spec.spec_from_file(path, namespace="prod").target == ObjectRef("prod", "web")
    assert spec.spec_from_file(path).target == ObjectRef("default", "web")


def test_namespace_flag_that_contradicts_the_file_is_refused(canary_file: Path) -> None:
    with pytest.raises(errors.SpecError) as caught:
        spec.spec_from_file(canary_file, namespace="prod")

    assert str(caught.value) == (
        f'{canary_file}: target.namespace "shop" does not match --namespace "prod"; '
        "drop one or make them agree"
    )


def test_flag_error_names_the_flag_even_when_a_file_is_used(canary_file: Path) -> None:
    with pytest.raises(errors.SpecError, match=r'^--steps "50,10": must strictly increase'):
        spec.spec_from_file(canary_file, overrides=SpecOverrides(steps="50,10"))


def test_flag_for_another_strategy_is_refused_even_over_a_file(canary_file: Path) -> None:
    with pytest.raises(errors.SpecError) as caught:
        spec.spec_from_file(canary_file, overrides=SpecOverrides(batches="50,100"))

    assert str(caught.value) == "--batches: does not apply to strategy canary (only rolling)"


BAD_FLAGS = [
    ({"images": ()}, "--image: required"),
    ({"images": ("Foo:bar",)}, '--image "Foo:bar": repository name must be lowercase'),
    (
        {"images": ("v2", "sidecar=v3")},
        "--image: 2 images given; name each container with NAME=REF",
    ),
    ({"images": ("web=v2", "web=v3")}, '--image: container "web" given twice'),
    ({"timeout": "soon"}, '--timeout "soon": not a duration'),
    ({"timeout": "0"}, '--timeout "0": must be > 0'),
    ({"on_interrupt": "stop"}, '--on-interrupt "stop": must be one of abort, leave'),
    ({"interval": "0s"}, '--interval "0s": must be > 0'),
    ({"count": 0}, "--count 0: must be >= 1"),
    ({"count": -1}, "--count -1: must be >= 1"),
    ({"failure_limit": -1}, "--failure-limit -1: must be >= 0"),
    ({"inconclusive_limit": -2}, "--inconclusive-limit -2: must be >= 0"),
    ({"consecutive_error_limit": -1}, "--consecutive-error-limit -1: must be >= 0"),
    ({"initial_delay": "-1s"}, '--initial-delay "-1s": not a duration'),
    ({"checks": (Check("success-rate"),)}, '--check "success-rate": needs min or max'),
    ({"checks": (Check("x", min=5, max=1),)}, '--check "x": min 5 is greater than max 1'),
    ({"checks": (Check("x", min=1), Check("x", max=2))}, '--check "x": check name given twice'),
    ({"checks": (Check("x", query=" ", min=1),)}, '--check "x": query must not be empty'),
    ({"prometheus_url": "prom:9090"}, '--prometheus-url "prom:9090": must be an http://'),
    (
        {"prometheus_token": "t", "prometheus_token_file": "/f"},
        "--prometheus-token: give a token or a token file",
    ),
    ({"steps": "10,200"}, '--steps "10,200": 200 is outside (0, 100]'),
    ({"steps": "25,10"}, '--steps "25,10": must strictly increase (25 then 10)'),
    ({"steps": "0"}, '--steps "0": 0 is outside (0, 100]'),
    ({"pause": "later"}, '--pause "later": must be manual or a duration'),
    ({"batches": "25,50"}, "--batches: does not apply to strategy canary (only rolling)"),
    ({"max_surge": "1"}, "--max-surge: does not apply to strategy canary (only rolling)"),
    (
        {"preview_service": "p"},
        "--preview-service: does not apply to strategy canary (only bluegreen)",
    ),
    ({"auto_promote": False}, "--auto-promote: does not apply to strategy canary (only bluegreen)"),
    (
        {"match_header": "x=1"},
        "--match-header: does not apply to strategy canary (only istio-canary)",
    ),
    ({"mirror": 10}, "--mirror: does not apply to strategy canary (only istio-canary)"),
    (
        {"pre_promotion_checks": (Check("a", min=1),)},
        "--pre-promotion-check: does not apply to strategy canary",
    ),
]


@pytest.mark.parametrize(("given", "expected"), BAD_FLAGS)
def test_bad_flag_is_refused_with_one_line_naming_the_flag(
    given: dict[str, Any], expected: str
) -> None:
    assert flag_error(**given).startswith(expected)


def test_bad_flag_table_is_large_enough() -> None:
    assert len(BAD_FLAGS) >= 25


@pytest.mark.parametrize(
    ("strategy", "given", "expected"),
    [
        (StrategyKind.ROLLING, {"steps": "10"}, "--steps: does not apply to strategy rolling"),
        (
            StrategyKind.ROLLING,
            {"max_surge": 0, "max_unavailable": "0%"},
            "--max-surge: maxSurge and maxUnavailable cannot both be 0",
        ),
        (StrategyKind.ROLLING, {"max_surge": "150%"}, '--max-surge "150%": must be at most 100%'),
        (StrategyKind.ROLLING, {"batches": "25,50,101"}, '--batches "25,50,101": 101 is outside'),
        (
            StrategyKind.RECREATE,
            {"batches": "50"},
            "--batches: does not apply to strategy recreate",
        ),
        (StrategyKind.BLUEGREEN, {"pause": "1m"}, "--pause: does not apply to strategy bluegreen"),
        (StrategyKind.BLUEGREEN, {"steps": "10"}, "--steps: does not apply to strategy bluegreen"),
        (
            StrategyKind.BLUEGREEN,
            {"preview_service": "Preview"},
            '--preview-service "Preview": must be a DNS-1123 label',
        ),
        (
            StrategyKind.BLUEGREEN,
            {"scale_down_delay": "x"},
            '--scale-down-delay "x": not a duration',
        ),
        (
            StrategyKind.BLUEGREEN,
            {"post_promotion_checks": (Check("a"),)},
            '--post-promotion-check "a": needs min or max',
        ),
        (
            StrategyKind.ISTIO_CANARY,
            {"match_header": "x-canary"},
            '--match-header "x-canary": must be NAME=VALUE',
        ),
        (StrategyKind.ISTIO_CANARY, {"mirror": 0}, "--mirror 0: must be between 1 and 100"),
        (StrategyKind.ISTIO_CANARY, {"mirror": 101}, "--mirror 101: must be between 1 and 100"),
        (
            StrategyKind.ISTIO_CANARY,
            {"virtual_service": "VS"},
            '--virtual-service "VS": must be a DNS',
        ),
        (
            StrategyKind.ISTIO_CANARY,
            {"shrink_stable": True},
            "--shrink-stable: does not apply to strategy istio-canary (only canary)",
        ),
    ],
)
def test_strategy_specific_flag_is_checked_against_the_strategy(
    strategy: StrategyKind, given: dict[str, Any], expected: str
) -> None:
    assert flag_error(strategy, **given).startswith(expected)


@pytest.mark.parametrize(
    ("name", "namespace", "expected"),
    [
        ("Link_Manager", "shop", 'NAME "Link_Manager": must be a DNS-1123 name'),
        ("web", "Shop", '--namespace "Shop": must be a DNS-1123 label'),
        ("web", "", '--namespace "": must be a DNS-1123 label'),
    ],
)
def test_invalid_target_names_are_refused(name: str, namespace: str, expected: str) -> None:
    with pytest.raises(errors.SpecError) as caught:
        spec.spec_from_flags(
            StrategyKind.ROLLING, name, namespace=namespace, overrides=SpecOverrides(images=("v2",))
        )

    assert str(caught.value).startswith(expected)


def test_the_longest_target_name_leaves_room_for_the_lease_name() -> None:
    with pytest.raises(errors.SpecError, match=r'^NAME "a+\.\.\.": at most 245 characters'):
        _canary_named("a" * 246)
    assert len("rollout-" + _canary_named("a" * 245).target.name) == 253


def _canary_named(name: str) -> spec.RolloutSpec:
    return spec.spec_from_flags(
        StrategyKind.CANARY, name, namespace="shop", overrides=SpecOverrides(images=("v2",))
    )


def test_rolling_flags_keep_max_surge_percentages_and_counts() -> None:
    built = flags(
        StrategyKind.ROLLING, batches="25%,50%,100%", max_surge="25%", max_unavailable="0"
    )

    assert (built.batches, built.max_surge, built.max_unavailable) == ((25, 50, 100), "25%", 0)


def test_bluegreen_flags_set_promotion_options() -> None:
    pre = (Check("success-rate", min=99.0),)

    built = flags(
        StrategyKind.BLUEGREEN,
        preview_service="link-manager-preview",
        auto_promote=False,
        scale_down_delay="2m",
        pre_promotion_checks=pre,
    )

    assert (built.preview_service, built.auto_promote, built.scale_down_delay) == (
        "link-manager-preview",
        False,
        120.0,
    )
    assert (built.pre_promotion_checks, built.post_promotion_checks) == (pre, ())


def _with(base: RolloutSpec, changes: dict[str, Any]) -> RolloutSpec:
    """`base` with dotted fields (`analysis.count`) replaced."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in changes.items():
        outer, _, inner = key.partition(".")
        if inner:
            nested.setdefault(outer, {})[inner] = value
        else:
            top[key] = value
    for outer, inner_changes in nested.items():
        top[outer] = dataclasses.replace(getattr(base, outer), **inner_changes)
    return dataclasses.replace(base, **top)


def test_bare_check_flag_takes_bounds_and_query_from_the_file_check_of_that_name(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "target: {name: web}\nstrategy: canary\nimage: v2\nanalysis:\n  checks:\n"
        "    - {name: success-rate, min: 99}\n"
        "    - {name: custom, query: 'sum(x)', max: 5}\n",
        encoding="utf-8",
    )
    given = (Check("custom"), Check("latency-p99", max=300.0))

    built = spec.spec_from_file(path, overrides=SpecOverrides(checks=given))

    assert built.analysis.checks == (
        Check("custom", query="sum(x)", max=5.0),
        Check("latency-p99", max=300.0),
    )


def test_bare_check_flag_without_a_file_check_of_that_name_is_refused(canary_file: Path) -> None:
    with pytest.raises(errors.SpecError, match=r'^--check "latency-p99": needs min or max'):
        spec.spec_from_file(canary_file, overrides=SpecOverrides(checks=(Check("latency-p99"),)))
