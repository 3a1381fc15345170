"""spec_file: rollout.yaml parses into the expected RolloutSpec or fails in one line."""

from __future__ import annotations

import textwrap
from pathlib import Path

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
    StrategyKind,
)

HEAD = "target: {name: link-manager}\nimage: v2\n"


def write(tmp_path: Path, text: str, name: str = "rollout.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(errors.SpecError) as caught:
        spec.spec_from_file(path)
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


def test_canary_file_with_every_section_round_trips_to_the_expected_spec(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        apiVersion: rollout.dev/v1
        kind: Rollout
        target: {name: link-manager, namespace: shop}
        strategy: canary
        image: v2
        timeout: 5m
        onInterrupt: leave
        canary: {steps: [10, 25, 50], pause: manual, shrinkStable: true}
        analysis:
          interval: 15s
          count: 4
          initialDelay: 30s
          failureLimit: 1
          inconclusiveLimit: 2
          consecutiveErrorLimit: 3
          window: 2m
          checks:
            - {name: success-rate, min: 99}
            - {name: latency-p99, max: 300}
            - {name: latency-p95, max: "0.25s"}
            - {name: custom, query: 'sum(rate(x[1m]))', min: "1%", max: 5}
        prometheus: {url: "http://prometheus:9090", tokenFile: token, caFile: /etc/ca.pem}
        """,
    )

    assert spec.spec_from_file(path) == RolloutSpec(
        target=ObjectRef("shop", "link-manager"),
        strategy=StrategyKind.CANARY,
        images=(ImageChange("v2", tag_only=True),),
        timeout=300.0,
        on_interrupt=OnInterrupt.LEAVE,
        steps=(10, 25, 50),
        pause=spec.PAUSE_MANUAL,
        shrink_stable=True,
        analysis=AnalysisSpec(
            checks=(
                Check("success-rate", min=99.0),
                Check("latency-p99", max=300.0),
                Check("latency-p95", max=250.0),
                Check("custom", query="sum(rate(x[1m]))", min=1.0, max=5.0),
            ),
            interval=15.0,
            count=4,
            initial_delay=30.0,
            failure_limit=1,
            inconclusive_limit=2,
            consecutive_error_limit=3,
            window=120.0,
        ),
        prometheus=PrometheusSpec(
            url="http://prometheus:9090", token_file=str(tmp_path / "token"), ca_file="/etc/ca.pem"
        ),
    )


def test_rolling_file_with_images_per_container_round_trips(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        target: {name: web}
        strategy: rolling
        images: {web: "ghcr.io/x/web:v2", proxy: "1.25"}
        rolling: {batches: "25%,50%,100%", maxSurge: 25%, maxUnavailable: 0}
        """,
    )

    assert spec.spec_from_file(path) == RolloutSpec(
        target=ObjectRef("default", "web"),
        strategy=StrategyKind.ROLLING,
        images=(
            ImageChange("ghcr.io/x/web:v2", "web"),
            ImageChange("1.25", "proxy", tag_only=True),
        ),
        batches=(25, 50, 100),
        max_surge="25%",
        max_unavailable=0,
    )


def test_bluegreen_file_round_trips_with_promotion_checks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        target: {name: link-manager}
        strategy: bluegreen
        image: link-manager=ghcr.io/x/link-manager:v2
        bluegreen:
          previewService: link-manager-preview
          autoPromote: false
          scaleDownDelay: 1m
          prePromotionChecks: [{name: success-rate, min: 99}]
          postPromotionChecks: [{name: latency-p99, max: 300ms}]
        """,
    )

    assert spec.spec_from_file(path) == RolloutSpec(
        target=ObjectRef("default", "link-manager"),
        strategy=StrategyKind.BLUEGREEN,
        images=(ImageChange("ghcr.io/x/link-manager:v2", "link-manager"),),
        preview_service="link-manager-preview",
        auto_promote=False,
        scale_down_delay=60.0,
        pre_promotion_checks=(Check("success-rate", min=99.0),),
        post_promotion_checks=(Check("latency-p99", max=300.0),),
    )


def test_istio_canary_file_round_trips_with_routing_options(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        target: {name: link-manager}
        strategy: istio-canary
        image: v2
        canary: {steps: [5, 10, 25, 50], pause: 2m}
        istio:
          virtualService: link-manager
          destinationRule: link-manager.shop
          matchHeader: "X-Canary=true"
          mirror: 10
          createRouting: true
        """,
    )

    assert spec.spec_from_file(path) == RolloutSpec(
        target=ObjectRef("default", "link-manager"),
        strategy=StrategyKind.ISTIO_CANARY,
        images=(ImageChange("v2", tag_only=True),),
        steps=(5, 10, 25, 50),
        pause=120.0,
        virtual_service="link-manager",
        destination_rule="link-manager.shop",
        match_header=HeaderMatch("x-canary", "true"),
        mirror=10,
        create_routing=True,
    )


def test_minimal_recreate_file_takes_every_default(tmp_path: Path) -> None:
    path = write(tmp_path, "target: {name: web}\nstrategy: recreate\nimage: v2\n")

    assert spec.spec_from_file(path) == RolloutSpec(
        target=ObjectRef("default", "web"),
        strategy=StrategyKind.RECREATE,
        images=(ImageChange("v2", tag_only=True),),
    )


BAD_FILES = [
    # (yaml after `target` + `image`, expected message after "<path>: ")
    (
        "strategy: canary\nanalysis: {count: -1}",
        "analysis.count: must be > 0 (got -1)",
    ),
    (
        "strategy: blue",
        "strategy: must be one of rolling, recreate, bluegreen, canary, istio-canary",
    ),
    ("strategy: 3", "strategy: must be one of"),
    ("kind: Deployment\nstrategy: canary", "kind: must be 'Rollout' (got \"Deployment\")"),
    ("apiVersion: apps/v1\nstrategy: canary", "apiVersion: must be 'rollout.dev/v1'"),
    (
        "strategy: canary\ncanary: {stpes: [10]}",
        "canary.stpes: unknown field (valid: steps, pause, shrinkStable)",
    ),
    ("strategy: canary\nbogus: 1", "bogus: unknown field (valid: apiVersion, kind, target,"),
    (
        "strategy: canary\ncanary: {steps: [10, 5]}",
        "canary.steps: must strictly increase (10 then 5)",
    ),
    ("strategy: canary\ncanary: {steps: [0, 10]}", "canary.steps: 0 is outside (0, 100]"),
    ("strategy: canary\ncanary: {steps: [50, 101]}", "canary.steps: 101 is outside (0, 100]"),
    ("strategy: canary\ncanary: {steps: []}", "canary.steps: must list at least one percentage"),
    ("strategy: canary\ncanary: {steps: 10}", "canary.steps: must be a list of percentages"),
    ("strategy: canary\ncanary: {pause: later}", "canary.pause: must be manual or a duration"),
    (
        "strategy: rolling\nrolling: {batches: [25%, 50%, 120%]}",
        "rolling.batches: 120 is outside (0, 100]",
    ),
    ("strategy: rolling\nrolling: {batches: [50, 50]}", "rolling.batches: must strictly increase"),
    ("strategy: rolling\nrolling: {maxSurge: 200%}", "rolling.maxSurge: must be at most 100%"),
    (
        "strategy: rolling\nrolling: {maxSurge: 0, maxUnavailable: 0%}",
        "rolling.maxSurge: maxSurge and maxUnavailable cannot both be 0",
    ),
    (
        "strategy: canary\ntimeout: 5x",
        'timeout: not a duration; use e.g. 30s, 2m, 1h30m, 250ms or a number of seconds (got "5x")',
    ),
    ("strategy: canary\ntimeout: 0s", 'timeout: must be > 0 (got "0s")'),
    (
        "strategy: canary\nanalysis: {interval: -3}",
        "analysis.interval: must be a duration >= 0 (got -3)",
    ),
    (
        "strategy: canary\nanalysis: {count: three}",
        'analysis.count: must be a whole number (got "three")',
    ),
    (
        "strategy: canary\nanalysis: {count: true}",
        "analysis.count: must be a whole number (got true)",
    ),
    (
        "strategy: canary\nanalysis: {failureLimit: -1}",
        "analysis.failureLimit: must be >= 0 (got -1)",
    ),
    (
        "strategy: canary\nanalysis: {checks: [{name: success-rate}]}",
        "analysis.checks[0]: needs min or max",
    ),
    (
        "strategy: canary\nanalysis: {checks: [{name: a, min: 1}, {name: b, min: 5, max: 1}]}",
        "analysis.checks[1]: min 5 is greater than max 1",
    ),
    (
        "strategy: canary\nanalysis: {checks: [{name: a, min: 1, extra: 2}]}",
        "analysis.checks[0].extra: unknown field (valid: name, query, min, max)",
    ),
    (
        "strategy: canary\nanalysis: {checks: [{name: a, max: soon}]}",
        "analysis.checks[0].max: must be a number, a percentage or a latency like 300ms",
    ),
    (
        "strategy: canary\nanalysis: {checks: [{name: latency-p99, max: 1m}]}",
        'analysis.checks[0].max: must be a number, a percentage or a latency like 300ms (got "1m")',
    ),
    (
        "strategy: canary\nanalysis: {checks: [{name: a, min: 1}, {name: a, min: 2}]}",
        'analysis.checks "a": check name given twice',
    ),
    ("strategy: canary\nanalysis: {checks: [{min: 1}]}", "analysis.checks[0].name: required"),
    (
        "strategy: canary\nanalysis: {checks: {name: a}}",
        "analysis.checks: must be a list (got a mapping)",
    ),
    (
        "strategy: canary\nprometheus: {url: prometheus:9090}",
        "prometheus.url: must be an http:// or https:// URL",
    ),
    (
        "strategy: canary\nprometheus: {insecure: 'no'}",
        'prometheus.insecure: must be true or false (got "no")',
    ),
    ("strategy: canary\nprometheus: {tokenFile: ''}", "prometheus.tokenFile: must not be empty"),
    ("strategy: canary\nonInterrupt: ignore", "onInterrupt: must be one of abort, leave"),
    (
        "strategy: istio-canary\nistio: {matchHeader: x-canary}",
        "istio.matchHeader: must be NAME=VALUE",
    ),
    ("strategy: istio-canary\nistio: {mirror: 0}", "istio.mirror: must be > 0 (got 0)"),
    ("strategy: istio-canary\nistio: {mirror: 150}", "istio.mirror: must be <= 100 (got 150)"),
    (
        "strategy: istio-canary\nistio: {virtualService: My_VS}",
        "istio.virtualService: must be a DNS-1123 name",
    ),
    (
        "strategy: bluegreen\nbluegreen: {previewService: Preview}",
        "bluegreen.previewService: must be a DNS-1123 label",
    ),
    (
        "strategy: rolling\ncanary: {steps: [10]}",
        "canary.steps: does not apply to strategy rolling (only canary, istio-canary)",
    ),
    (
        "strategy: istio-canary\ncanary: {shrinkStable: true}",
        "canary.shrinkStable: does not apply to strategy istio-canary (only canary)",
    ),
    (
        "strategy: canary\nrolling: {maxSurge: 1}",
        "rolling.maxSurge: does not apply to strategy canary (only rolling)",
    ),
    (
        "strategy: recreate\nbluegreen: {autoPromote: false}",
        "bluegreen.autoPromote: does not apply to strategy recreate (only bluegreen)",
    ),
    (
        "strategy: canary\nistio: {mirror: 5}",
        "istio.mirror: does not apply to strategy canary (only istio-canary)",
    ),
    ("strategy: canary\nimages: {web: v2}", "image: give either image or images, not both"),
]


@pytest.mark.parametrize(("body", "expected"), BAD_FILES)
def test_bad_file_is_refused_with_one_line_naming_the_field(
    tmp_path: Path, body: str, expected: str
) -> None:
    assert load_error(tmp_path, HEAD + body).startswith(expected)


def test_bad_file_table_is_large_enough() -> None:
    assert len(BAD_FILES) >= 25


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "strategy: canary\nimage: Foo:bar\ntarget: {name: web}",
            'image: repository name must be lowercase (got "Foo:bar")',
        ),
        (
            "strategy: canary\nimages: {web: 'Foo:bar'}\ntarget: {name: web}",
            'images.web: repository name must be lowercase (got "Foo:bar")',
        ),
        (
            "strategy: canary\nimages: {Web: v2}\ntarget: {name: web}",
            "images.Web: must be a DNS-1123 label",
        ),
        (
            "strategy: canary\nimages: {web: 'a=b'}\ntarget: {name: web}",
            "images.web: write CONTAINER: REF here, not NAME=REF",
        ),
        (
            "strategy: canary\ntarget: {name: web}",
            "image: required (set image or images, or pass --image)",
        ),
        ("strategy: canary\nimage: v2", "target: required"),
        (
            "strategy: canary\nimage: v2\ntarget: {name: Web_1}",
            "target.name: must be a DNS-1123 name",
        ),
        (
            f"strategy: canary\nimage: v2\ntarget: {{name: {'a' * 246}}}",
            "target.name: at most 245 characters",
        ),
        (
            "strategy: canary\nimage: v2\ntarget: {name: web, namespace: a.b}",
            "target.namespace: must be a DNS-1123 label",
        ),
        ("image: v2\ntarget: {name: web}", "strategy: required"),
        ("image: v2\ntarget: web\nstrategy: canary", 'target: must be a mapping (got "web")'),
    ],
)
def test_bad_target_or_image_is_refused_naming_the_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert load_error(tmp_path, text).startswith(expected)


def test_several_errors_report_the_first_and_count_the_rest(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, HEAD + "strategy: canary\nanalysis: {count: 0, failureLimit: -1}\nx: 1"
    )

    assert message == "analysis.count: must be > 0 (got 0) (and 2 more)"


def test_malformed_yaml_is_refused_with_its_line_number(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, "target: {name: web}\nstrategy: canary\nimage: v2\n  timeout: 5m\n"
    )

    assert message.startswith("invalid YAML at line 4, column 10: ")


def test_unclosed_flow_mapping_is_refused_with_its_line_number(tmp_path: Path) -> None:
    message = load_error(tmp_path, "target: {name: web\nstrategy: canary\n")

    assert message.startswith("invalid YAML at line 2")


def test_duplicate_key_is_refused_instead_of_silently_keeping_the_last(tmp_path: Path) -> None:
    message = load_error(tmp_path, "target: {name: web}\nstrategy: canary\nimage: v1\nimage: v2\n")

    assert message == 'invalid YAML at line 4, column 1: duplicate key "image"'


def test_a_mapping_as_a_key_is_invalid_yaml_not_a_crash(tmp_path: Path) -> None:
    message = load_error(tmp_path, "target: {name: web}\n{1: 2}: 3\n")

    assert message.startswith("invalid YAML at line 2"), message
    assert "unhashable key" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty; expected a mapping with target and strategy"),
        ("# only a comment\n", "empty; expected a mapping with target and strategy"),
        ("- target: web\n", "must be a mapping with target and strategy (got a list)"),
        ("just text\n", 'must be a mapping with target and strategy (got "just text")'),
    ],
)
def test_file_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    assert load_error(tmp_path, text) == expected


def test_missing_file_is_refused_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(errors.SpecError) as caught:
        spec.spec_from_file(path)

    assert str(caught.value) == f"{path}: cannot read: No such file or directory"


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rollout.yaml"
    path.write_bytes(b"target: {name: \xff}\n")
    with pytest.raises(errors.SpecError, match=r": not UTF-8 text$"):
        spec.spec_from_file(path)


def test_check_range_error_quotes_no_mapping_as_the_value(tmp_path: Path) -> None:
    body = "strategy: canary\nanalysis: {checks: [{name: a, min: 1}, {name: b, min: 5, max: 1}]}"

    assert load_error(tmp_path, HEAD + body) == "analysis.checks[1]: min 5 is greater than max 1"
