"""What a rollout should do, validated before anything touches the cluster.

Values (frozen dataclasses and enums), the CLI's overrides, and the parsers for flag
text (image references, durations, percentages), each raising SpecError with a one-line
message naming the flag. The YAML file format is documented and read in `spec_file`;
flags and file are merged and checked as a whole in `spec_build`. Pure: no I/O here,
no pydantic/yaml/kubernetes at import time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from rollout import errors, spec_syntax

if TYPE_CHECKING:
    import os


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A namespaced object name; `str()` is `namespace/name`."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class StrategyKind(enum.Enum):
    """The five strategies; values are the CLI/YAML names."""

    ROLLING = "rolling"
    RECREATE = "recreate"
    BLUEGREEN = "bluegreen"
    CANARY = "canary"
    ISTIO_CANARY = "istio-canary"


class OnInterrupt(enum.Enum):
    """What SIGINT/SIGTERM does to a running rollout."""

    ABORT = "abort"
    LEAVE = "leave"


@dataclass(frozen=True, slots=True)
class ImageChange:
    """Set `container` (None: the only container) to `image`.

    `image` is a full reference, or a bare tag (`tag_only`) that keeps the current
    repository, resolved against the Deployment by the strategy.
    """

    image: str
    container: str | None = None
    tag_only: bool = False


@dataclass(frozen=True, slots=True)
class Check:
    """One analysis check: a PromQL query (or built-in template name) and its pass range."""

    name: str
    query: str | None = None  # None: the built-in template called `name`
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class AnalysisSpec:
    """How checks are run at each gate (DESIGN §4)."""

    checks: tuple[Check, ...] = ()
    interval: float = 10.0  # seconds between measurements
    count: int = 3  # measurements per gate
    initial_delay: float = 0.0
    failure_limit: int = 0  # failed measurements tolerated
    inconclusive_limit: int = 0  # inconclusive measurements tolerated
    consecutive_error_limit: int = 2  # query errors in a row tolerated
    window: float | None = None  # rate window ({{interval}}), s; None: max(interval, 60)


@dataclass(frozen=True, slots=True)
class PrometheusSpec:
    """Where and how to reach Prometheus."""

    url: str | None = None
    bearer_token: str | None = None
    token_file: str | None = None  # read by metrics.py at connect time (not here: no I/O)
    ca_file: str | None = None
    insecure: bool = False


PAUSE_MANUAL = -1.0
"""`Step.pause` value meaning: wait for `rollout promote`."""


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """istio-canary A/B: requests whose header `name` (lowercase) equals `value` go to canary."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class RolloutSpec:
    """A whole rollout request: target, strategy, image, gates and strategy options."""

    target: ObjectRef
    strategy: StrategyKind
    images: tuple[ImageChange, ...] = ()
    timeout: float = 600.0  # readiness wait per step, seconds
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)
    prometheus: PrometheusSpec = field(default_factory=PrometheusSpec)
    on_interrupt: OnInterrupt = OnInterrupt.ABORT
    dry_run: bool = False
    force: bool = False  # roll out even if the image is unchanged
    wait_for_lock: bool = False
    # rolling / recreate
    batches: tuple[int, ...] = ()  # percentages, increasing, last <= 100
    max_surge: int | str | None = None
    max_unavailable: int | str | None = None
    # canary / istio-canary / bluegreen (issue 4)
    steps: tuple[int, ...] = ()  # percentages, increasing, each in (0, 100]; (): strategy default
    pause: float = 0.0  # after each step (rolling, recreate, canaries): seconds, or PAUSE_MANUAL
    shrink_stable: bool = False  # canary: shrink stable so the total replica count stays
    # bluegreen
    preview_service: str | None = None  # Service pointed at the new colour before the swap
    auto_promote: bool = True  # False: pause (PAUSE_MANUAL-like) before the swap
    scale_down_delay: float = 30.0  # seconds the old colour stays up after the swap
    pre_promotion_checks: tuple[Check, ...] = ()  # analysis on the new colour before the swap
    post_promotion_checks: tuple[Check, ...] = ()  # ... and after it, within scale_down_delay
    # istio-canary
    virtual_service: str | None = None  # None: discover the one routing the Service's host
    destination_rule: str | None = None
    match_header: HeaderMatch | None = None
    mirror: int = 0  # percent of traffic mirrored to the canary; 0: off
    create_routing: bool = False  # create the VirtualService/DestinationRule if none routes


@dataclass(frozen=True, slots=True)
class SpecOverrides:
    """What the command line may set. None (or an empty tuple) means "not given": the spec
    file's value, else the default, stays. Flags replace file values field by field
    (`images` and each check list as a whole).

    Text fields take the flag's text as typed (parsed in `spec_build`, errors name the
    flag from FLAGS); already-parsed values (numbers, tuples, ImageChange, HeaderMatch)
    are accepted too. Checks come parsed (`analysis.parse_check`).
    """

    images: tuple[str | ImageChange, ...] = ()
    timeout: str | float | None = None
    on_interrupt: str | OnInterrupt | None = None
    dry_run: bool | None = None
    force: bool | None = None
    wait: bool | None = None
    # analysis
    checks: tuple[Check, ...] = ()
    interval: str | float | None = None
    count: int | None = None
    initial_delay: str | float | None = None
    failure_limit: int | None = None
    inconclusive_limit: int | None = None
    consecutive_error_limit: int | None = None
    window: str | float | None = None
    # prometheus (a token or a token file; either flag replaces the file's tokenFile)
    prometheus_url: str | None = None
    prometheus_token: str | None = None
    prometheus_token_file: str | None = None
    prometheus_ca_file: str | None = None
    prometheus_insecure: bool | None = None
    # rolling
    batches: str | tuple[int, ...] | None = None
    max_surge: str | int | None = None
    max_unavailable: str | int | None = None
    # canary / istio-canary (pause: rolling and recreate too)
    steps: str | tuple[int, ...] | None = None
    pause: str | float | None = None
    shrink_stable: bool | None = None
    # bluegreen
    preview_service: str | None = None
    auto_promote: bool | None = None
    scale_down_delay: str | float | None = None
    pre_promotion_checks: tuple[Check, ...] = ()
    post_promotion_checks: tuple[Check, ...] = ()
    # istio-canary
    virtual_service: str | None = None
    destination_rule: str | None = None
    match_header: str | HeaderMatch | None = None
    mirror: int | None = None
    create_routing: bool | None = None


_FLAG_NAMES = {
    "images": "--image",
    "checks": "--check",
    "window": "--analysis-window",
    "pre_promotion_checks": "--pre-promotion-check",
    "post_promotion_checks": "--post-promotion-check",
}
FLAGS: dict[str, str] = {
    f.name: _FLAG_NAMES.get(f.name, "--" + f.name.replace("_", "-")) for f in fields(SpecOverrides)
}
"""SpecOverrides field -> the CLI flag named in error messages (`--max-surge`, `--image`)."""


def invalid(field_name: str, value: object, reason: str) -> errors.SpecError:
    """`<field> "<value>": <reason>` as a one-line SpecError (for the caller to raise)."""
    return errors.SpecError(f"{field_name} {show(value)}: {reason}")


def show(value: object) -> str:
    """A value as quoted in messages: strings in double quotes, on one line, shortened."""
    is_list = isinstance(value, (list, tuple))
    text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    text = text.replace("\n", "\\n")
    if len(text) > 80:
        text = text[:77] + "..."
    return f'"{text}"' if is_list or isinstance(value, str) else text


def parse_image(text: str, *, field: str = "--image") -> ImageChange:
    """`--image` text -> ImageChange.

    - `NAME=REF`: set container NAME (a DNS-1123 label) to REF (either form below).
    - a full reference `[registry[:port]/]repo[:tag][@sha256:<64 hex>]`, checked against
      the docker/distribution grammar (lowercase repository path, tag `[\\w][\\w.-]{0,127}`).
    - a bare tag (`v2`, `1.4.0-rc1`, or `:v2`): keeps the container's repository.
      Ambiguity rule: a word with no `/`, `:` or `@` is always a tag, so `nginx` alone
      means tag "nginx"; write `nginx:latest` or `docker.io/library/nginx` for a repo.
    """
    try:
        container, image, tag_only = spec_syntax.image_arg(text)
    except ValueError as e:
        raise invalid(field, text, str(e)) from None
    return ImageChange(image=image, container=container, tag_only=tag_only)


def resolve_image(change: ImageChange, current: str) -> str:
    """The image to set: a full reference as is; a tag swapped into `current`.

    `current` keeps its registry (and port) and repository; its tag and digest go.
    """
    if not change.tag_only:
        return change.image
    if not current:
        raise errors.SpecError(f'--image "{change.image}": the container has no image to re-tag')
    return f"{spec_syntax.image_without_tag(current)}:{change.image}"


def parse_duration(value: str | float, *, field: str = "duration") -> float:
    """`30s`, `2m`, `1h30m`, `250ms`, `1.5s`, or a number of seconds -> seconds (>= 0)."""
    try:
        return spec_syntax.duration_seconds(value)
    except ValueError as e:
        raise invalid(field, value, str(e)) from None


def parse_steps(value: str | tuple[int, ...], *, field: str = "--steps") -> tuple[int, ...]:
    """`10,25,50` (or a sequence) -> (10, 25, 50): whole percentages, each in (0, 100],
    strictly increasing; `%` is optional."""
    try:
        return spec_syntax.percent_list(value)
    except ValueError as e:
        raise invalid(field, value, str(e)) from None


def parse_batches(value: str | tuple[int, ...], *, field: str = "--batches") -> tuple[int, ...]:
    """`25%,50%,100%` -> (25, 50, 100); the same rules as parse_steps."""
    return parse_steps(value, field=field)


def parse_pause(value: str | float, *, field: str = "--pause") -> float:
    """`manual` (or PAUSE_MANUAL itself) -> PAUSE_MANUAL; `2m`, `0`, a number -> seconds."""
    if value == PAUSE_MANUAL and not isinstance(value, bool):
        return PAUSE_MANUAL
    try:
        seconds = spec_syntax.pause_seconds(value)
    except ValueError as e:
        raise invalid(field, value, str(e)) from None
    return PAUSE_MANUAL if seconds is None else seconds


def parse_int_or_percent(value: str | int, *, field: str) -> int | str:
    """maxSurge/maxUnavailable: `1` -> 1, `25%` -> "25%"."""
    try:
        return spec_syntax.int_or_percent(value)
    except ValueError as e:
        raise invalid(field, value, str(e)) from None


def parse_match_header(text: str, *, field: str = "--match-header") -> HeaderMatch:
    """`x-canary=true` -> HeaderMatch("x-canary", "true")."""
    try:
        name, value = spec_syntax.header_match(text)
    except ValueError as e:
        raise invalid(field, text, str(e)) from None
    return HeaderMatch(name=name, value=value)


STRATEGY_NAMES = tuple(kind.value for kind in StrategyKind)


def parse_strategy(text: str, *, field: str = "strategy") -> StrategyKind:
    """`canary` -> StrategyKind.CANARY; unknown names list the valid ones."""
    try:
        return StrategyKind(spec_syntax.choice(text, STRATEGY_NAMES))
    except ValueError as e:
        raise invalid(field, text, f"unknown strategy; {e}") from None


def parse_on_interrupt(text: str, *, field: str = "--on-interrupt") -> OnInterrupt:
    """`abort` | `leave` -> OnInterrupt."""
    try:
        return OnInterrupt(spec_syntax.choice(text, [mode.value for mode in OnInterrupt]))
    except ValueError as e:
        raise invalid(field, text, str(e)) from None


def spec_from_flags(
    strategy: StrategyKind, name: str, *, namespace: str, overrides: SpecOverrides | None = None
) -> RolloutSpec:
    """A RolloutSpec from `rollout <strategy> NAME` and its flags (see spec_build)."""
    from rollout import spec_build  # spec_build imports this module

    return spec_build.spec_from_flags(strategy, name, namespace=namespace, overrides=overrides)


def spec_from_file(
    path: str | os.PathLike[str],
    *,
    namespace: str | None = None,
    overrides: SpecOverrides | None = None,
) -> RolloutSpec:
    """A RolloutSpec from a YAML file (format: spec_file) with flags overriding it."""
    from rollout import spec_build  # spec_build imports this module

    return spec_build.spec_from_file(path, namespace=namespace, overrides=overrides)
