"""spec: --image references, tag resolution, durations, percent lists and other flag text."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rollout import errors, spec
from rollout.spec import HeaderMatch, ImageChange

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v2", ImageChange("v2", None, tag_only=True)),
        ("1.4.0-rc1", ImageChange("1.4.0-rc1", None, tag_only=True)),
        ("nginx", ImageChange("nginx", None, tag_only=True)),  # bare word: always a tag
        ("Latest_Build", ImageChange("Latest_Build", None, tag_only=True)),
        (":v2", ImageChange("v2", None, tag_only=True)),
        ("nginx:latest", ImageChange("nginx:latest")),
        ("docker.io/library/nginx", ImageChange("docker.io/library/nginx")),
        ("ghcr.io/x/link-manager:v2", ImageChange("ghcr.io/x/link-manager:v2")),
        ("localhost:5000/app", ImageChange("localhost:5000/app")),
        ("localhost/app:v1", ImageChange("localhost/app:v1")),
        (
            "registry.example.com:5000/team/app:1.2",
            ImageChange("registry.example.com:5000/team/app:1.2"),
        ),
        (f"app@{DIGEST}", ImageChange(f"app@{DIGEST}")),
        (f"reg.io:443/app:v1@{DIGEST}", ImageChange(f"reg.io:443/app:v1@{DIGEST}")),
        ("[::1]:5000/app:v1", ImageChange("[::1]:5000/app:v1")),
        ("MyRegistry/app:v1", ImageChange("MyRegistry/app:v1")),  # uppercase first part: a host
        ("a__b/c-d.e/f---g:TAG_1.x", ImageChange("a__b/c-d.e/f---g:TAG_1.x")),
        ("web=v2", ImageChange("v2", "web", tag_only=True)),
        ("web=ghcr.io/x/web:v2", ImageChange("ghcr.io/x/web:v2", "web")),
        ("sidecar-1=localhost:5000/proxy:1", ImageChange("localhost:5000/proxy:1", "sidecar-1")),
    ],
)
def test_parse_image_accepts_tags_references_and_named_containers(
    text: str, expected: ImageChange
) -> None:
    assert spec.parse_image(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Foo:bar", "repository name must be lowercase"),
        ("ghcr.io/X/app:v1", "repository name must be lowercase"),
        ("app:", "empty tag"),
        ("app:-v1", "invalid tag"),
        ("app:v 1", "invalid tag"),
        ("app:" + "x" * 129, "invalid tag"),
        ("-v2", "invalid tag"),
        ("my app", "invalid tag"),
        ("v2!", "invalid tag"),
        ("app@sha256:abc", "invalid digest"),
        (f"app@md5:{'0' * 64}", "invalid digest"),
        (f"app@{DIGEST.upper()}", "invalid digest"),
        (f"@{DIGEST}", "missing repository name"),
        ("a//b:v1", "empty repository path component"),
        ("ghcr.io/app/", "empty repository path component"),
        ("ghcr.io/-app:v1", "invalid repository path component"),
        ("ghcr.io/app..x:v1", "invalid repository path component"),
        ("bad_host.io/app:v1", "invalid registry host"),
        ("reg.io:port/app", "invalid registry host"),
        ("ghcr.io/" + "a" * 250 + ":v1", "longer than 255"),
        ("", "empty image reference"),
        ("Web=v2", 'container name "Web"'),
        ("=v2", 'container name ""'),
        ("web=", "empty image reference"),
        ("web=Foo:bar", "repository name must be lowercase"),
    ],
)
def test_parse_image_refuses_invalid_references_naming_flag_value_and_reason(
    text: str, reason: str
) -> None:
    with pytest.raises(errors.SpecError) as caught:
        spec.parse_image(text)

    message = str(caught.value)
    assert message.startswith(f'--image "{text[:77]}')
    assert reason in message
    assert "\n" not in message
    assert caught.value.exit_code == 2


def test_parse_image_error_for_lowercase_rule_matches_documented_wording() -> None:
    with pytest.raises(
        errors.SpecError, match=r'^--image "Foo:bar": repository name must be lowercase$'
    ):
        spec.parse_image("Foo:bar")


def test_parse_image_names_the_given_field_in_errors() -> None:
    with pytest.raises(
        errors.SpecError, match=r'^rollout.yaml: image "Foo/": empty repository path component$'
    ):
        spec.parse_image("Foo/", field="rollout.yaml: image")


@pytest.mark.parametrize(
    ("change", "current", "expected"),
    [
        (ImageChange("v2", tag_only=True), "ghcr.io/x/app:v1", "ghcr.io/x/app:v2"),
        (ImageChange("v2", tag_only=True), "nginx", "nginx:v2"),
        (ImageChange("v2", tag_only=True), "localhost:5000/app", "localhost:5000/app:v2"),
        (ImageChange("v2", tag_only=True), "localhost:5000/app:v1", "localhost:5000/app:v2"),
        (ImageChange("v2", tag_only=True), f"reg.io:443/a/b:v1@{DIGEST}", "reg.io:443/a/b:v2"),
        (ImageChange("v2", tag_only=True), f"app@{DIGEST}", "app:v2"),
        (ImageChange("1.4.0-rc1", "web", tag_only=True), "web:1.3", "web:1.4.0-rc1"),
        (ImageChange("ghcr.io/x/app:v3"), "ghcr.io/x/app:v1", "ghcr.io/x/app:v3"),
        (ImageChange(f"other/app@{DIGEST}"), "app:v1", f"other/app@{DIGEST}"),
    ],
)
def test_resolve_image_swaps_only_the_tag_of_the_current_image(
    change: ImageChange, current: str, expected: str
) -> None:
    assert spec.resolve_image(change, current) == expected


def test_resolve_image_refuses_to_retag_an_empty_image() -> None:
    with pytest.raises(errors.SpecError, match=r'^--image "v2": .*no image'):
        spec.resolve_image(ImageChange("v2", tag_only=True), "")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30.0),
        ("2m", 120.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("1m30s500ms", 90.5),
        ("0s", 0.0),
        ("45", 45.0),
        (" 10s ", 10.0),
        (7, 7.0),
        (0.5, 0.5),
    ],
)
def test_parse_duration_reads_units_and_plain_seconds(value: str | float, seconds: float) -> None:
    assert spec.parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["5x", "-5s", "", "1d", "s", "1 m", "inf", -1, float("nan")])
def test_parse_duration_refuses_non_durations_naming_the_field(value: str | float) -> None:
    with pytest.raises(errors.SpecError, match=r"^--timeout .*: .*duration"):
        spec.parse_duration(value, field="--timeout")


def test_parse_duration_refuses_booleans() -> None:
    with pytest.raises(errors.SpecError, match=r"^--timeout True: "):
        spec.parse_duration(True, field="--timeout")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10,25,50", (10, 25, 50)),
        ("10%, 25%,100%", (10, 25, 100)),
        ("100", (100,)),
        ((5, 10), (5, 10)),
    ],
)
def test_parse_steps_reads_increasing_percentages(
    value: str | tuple[int, ...], expected: tuple[int, ...]
) -> None:
    assert spec.parse_steps(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0,10", "0 is outside (0, 100]"),
        ("10,101", "101 is outside (0, 100]"),
        ("-5,10", "-5 is outside (0, 100]"),
        ("10,10", "must strictly increase (10 then 10)"),
        ("50,25", "must strictly increase (50 then 25)"),
        ("10,,20", "empty entry"),
        ("", "at least one"),
        ("ten", "ten is not a whole percentage"),
        ("10.5", "10.5 is not a whole percentage"),
    ],
)
def test_parse_steps_refuses_bad_lists_naming_the_flag(value: str, reason: str) -> None:
    with pytest.raises(errors.SpecError) as caught:
        spec.parse_steps(value)

    assert str(caught.value).startswith(f'--steps "{value}": ')
    assert reason in str(caught.value)


def test_parse_batches_accepts_percent_signs_and_names_its_own_flag() -> None:
    assert spec.parse_batches("25%,50%,100%") == (25, 50, 100)
    with pytest.raises(errors.SpecError, match=r'^--batches "50%,25%": must strictly increase'):
        spec.parse_batches("50%,25%")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2m", 120.0),
        ("manual", spec.PAUSE_MANUAL),
        ("Manual", spec.PAUSE_MANUAL),
        ("0", 0.0),
        (spec.PAUSE_MANUAL, spec.PAUSE_MANUAL),
        (15, 15.0),
    ],
)
def test_parse_pause_reads_durations_and_manual(value: str | float, expected: float) -> None:
    assert spec.parse_pause(value) == expected


def test_parse_pause_refuses_other_words() -> None:
    with pytest.raises(errors.SpecError, match=r'^--pause "soon": must be manual or a duration'):
        spec.parse_pause("soon")


@pytest.mark.parametrize(
    ("value", "expected"), [("25%", "25%"), ("0", 0), (3, 3), ("100%", "100%"), ("007%", "7%")]
)
def test_parse_int_or_percent_keeps_percentages_as_text(value: str | int, expected: object) -> None:
    assert spec.parse_int_or_percent(value, field="--max-surge") == expected


@pytest.mark.parametrize("value", ["101%", "-1", -1, "25 percent", "1.5", True])
def test_parse_int_or_percent_refuses_bad_values(value: str | int) -> None:
    with pytest.raises(errors.SpecError, match=r"^--max-surge "):
        spec.parse_int_or_percent(value, field="--max-surge")


def test_parse_match_header_lowercases_the_name_and_keeps_the_value() -> None:
    assert spec.parse_match_header("X-Canary=true") == HeaderMatch("x-canary", "true")
    assert spec.parse_match_header("cookie=a=b") == HeaderMatch("cookie", "a=b")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("x-canary", "must be NAME=VALUE"),
        ("=true", "must be NAME=VALUE"),
        ("x canary=true", "invalid header name"),
        ("x-canary=", "value must not be empty"),
    ],
)
def test_parse_match_header_refuses_text_that_is_not_name_equals_value(
    text: str, reason: str
) -> None:
    with pytest.raises(errors.SpecError) as caught:
        spec.parse_match_header(text)

    assert str(caught.value).startswith(f'--match-header "{text}": ')
    assert reason in str(caught.value)


def test_parse_strategy_lists_the_valid_names_for_an_unknown_one() -> None:
    assert spec.parse_strategy("istio-canary") is spec.StrategyKind.ISTIO_CANARY
    with pytest.raises(errors.SpecError) as caught:
        spec.parse_strategy("blue-green")

    assert str(caught.value) == (
        'strategy "blue-green": unknown strategy; '
        "must be one of rolling, recreate, bluegreen, canary, istio-canary"
    )


def test_parse_on_interrupt_accepts_abort_and_leave_only() -> None:
    assert spec.parse_on_interrupt("leave") is spec.OnInterrupt.LEAVE
    with pytest.raises(
        errors.SpecError, match=r'^--on-interrupt "ignore": must be one of abort, leave$'
    ):
        spec.parse_on_interrupt("ignore")


def test_flags_table_names_every_override_field() -> None:
    assert spec.FLAGS["images"] == "--image"
    assert spec.FLAGS["checks"] == "--check"
    assert spec.FLAGS["max_surge"] == "--max-surge"
    assert spec.FLAGS["consecutive_error_limit"] == "--consecutive-error-limit"
    assert set(spec.FLAGS) == set(spec.SpecOverrides.__dataclass_fields__)


def test_importing_spec_does_not_import_pydantic_yaml_or_kubernetes() -> None:
    code = (
        "import sys, rollout.spec, rollout.spec_build; "
        "print(sorted(m for m in ('pydantic', 'yaml', 'kubernetes') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
