"""The shape of a spec file (`rollout run -f rollout.yaml`) as strict pydantic models.

One model per section (target, the strategy sections, analysis and its checks,
prometheus) and `RolloutFile`, the whole file; the format is documented in `spec_file`.
Field types parse text with `spec_syntax` into `spec` values. No I/O and no messages:
`spec_file` reads the YAML and words the errors. Imports pydantic, so it is imported
only through `spec_file`, lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    model_validator,
)

from rollout import spec, spec_syntax

T = TypeVar("T")


def _text(check: Callable[[str], T]) -> Callable[[object], T]:
    """A validator for text fields: strings only, then `check`."""

    def validate(value: object) -> T:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return check(value)

    return validate


def _positive(value: object) -> float:
    seconds = spec_syntax.duration_seconds(value)
    if seconds <= 0:
        raise ValueError("must be > 0")
    return seconds


def _pause(value: object) -> float:
    seconds = spec_syntax.pause_seconds(value)
    return spec.PAUSE_MANUAL if seconds is None else seconds


def _image(text: str) -> spec.ImageChange:
    container, image, tag_only = spec_syntax.image_arg(text)
    return spec.ImageChange(image=image, container=container, tag_only=tag_only)


def _container_image(text: str) -> spec.ImageChange:
    if "=" in text:
        raise ValueError("write CONTAINER: REF here, not NAME=REF")
    return _image(text)


def _header(text: str) -> spec.HeaderMatch:
    name, value = spec_syntax.header_match(text)
    return spec.HeaderMatch(name=name, value=value)


def _strategy(value: object) -> spec.StrategyKind:
    return spec.StrategyKind(spec_syntax.choice(value, spec.STRATEGY_NAMES))


def _on_interrupt(value: object) -> spec.OnInterrupt:
    return spec.OnInterrupt(spec_syntax.choice(value, [m.value for m in spec.OnInterrupt]))


# Field types: each checks or parses one YAML value (through spec_syntax).
Duration = Annotated[float, PlainValidator(spec_syntax.duration_seconds)]
PositiveDuration = Annotated[float, PlainValidator(_positive)]
Percents = Annotated[tuple[int, ...], PlainValidator(spec_syntax.percent_list)]
IntOrPercent = Annotated[int | str, PlainValidator(spec_syntax.int_or_percent)]
Pause = Annotated[float, PlainValidator(_pause)]
Threshold = Annotated[float, PlainValidator(spec_syntax.threshold)]
DnsLabel = Annotated[str, AfterValidator(spec_syntax.check_dns_label)]
DnsName = Annotated[str, AfterValidator(spec_syntax.check_dns_subdomain)]
Image = Annotated[spec.ImageChange, PlainValidator(_text(_image))]
ContainerImage = Annotated[spec.ImageChange, PlainValidator(_text(_container_image))]
Header = Annotated[spec.HeaderMatch, PlainValidator(_text(_header))]
Url = Annotated[str, PlainValidator(_text(spec_syntax.http_url))]
FilePath = Annotated[str, Field(min_length=1)]
Limit = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    """Unknown fields, wrong types and mutation are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TargetModel(_Strict):
    """`target`: the Deployment to roll."""

    name: Annotated[str, AfterValidator(spec_syntax.check_target_name)]
    namespace: DnsLabel | None = None


class CheckModel(_Strict):
    """One analysis check: a name, an optional query, and min and/or max."""

    name: Annotated[str, Field(min_length=1)]
    query: Annotated[str, Field(min_length=1)] | None = None
    min: Threshold | None = None
    max: Threshold | None = None

    @model_validator(mode="after")
    def _has_range(self) -> CheckModel:
        spec_syntax.check_bounds(self.min, self.max)
        return self

    def to_check(self) -> spec.Check:
        """This check as the spec value."""
        return spec.Check(name=self.name, query=self.query, min=self.min, max=self.max)


class RollingModel(_Strict):
    """`rolling`: batches, the native surge/unavailable limits, the pause after each batch."""

    batches: Percents | None = None
    max_surge: IntOrPercent | None = Field(None, alias="maxSurge")
    max_unavailable: IntOrPercent | None = Field(None, alias="maxUnavailable")
    pause: Pause | None = None


class RecreateModel(_Strict):
    """`recreate`: the pause once the new version is up and analysed."""

    pause: Pause | None = None


class CanaryModel(_Strict):
    """`canary`: steps and pause (istio-canary too), shrinkStable."""

    steps: Percents | None = None
    pause: Pause | None = None
    shrink_stable: bool | None = Field(None, alias="shrinkStable")


class BlueGreenModel(_Strict):
    """`bluegreen`: preview Service, promotion and its checks, scale-down delay."""

    preview_service: DnsLabel | None = Field(None, alias="previewService")
    auto_promote: bool | None = Field(None, alias="autoPromote")
    scale_down_delay: Duration | None = Field(None, alias="scaleDownDelay")
    pre_promotion_checks: list[CheckModel] | None = Field(None, alias="prePromotionChecks")
    post_promotion_checks: list[CheckModel] | None = Field(None, alias="postPromotionChecks")


class IstioModel(_Strict):
    """`istio`: routing objects, header match, mirror, createRouting."""

    virtual_service: DnsName | None = Field(None, alias="virtualService")
    destination_rule: DnsName | None = Field(None, alias="destinationRule")
    match_header: Header | None = Field(None, alias="matchHeader")
    mirror: Annotated[int, Field(gt=0, le=100)] | None = None
    create_routing: bool | None = Field(None, alias="createRouting")


class AnalysisModel(_Strict):
    """`analysis`: timing, limits and checks for every gate."""

    interval: PositiveDuration | None = None
    count: Annotated[int, Field(gt=0)] | None = None
    initial_delay: Duration | None = Field(None, alias="initialDelay")
    failure_limit: Limit | None = Field(None, alias="failureLimit")
    inconclusive_limit: Limit | None = Field(None, alias="inconclusiveLimit")
    consecutive_error_limit: Limit | None = Field(None, alias="consecutiveErrorLimit")
    window: PositiveDuration | None = None
    checks: list[CheckModel] | None = None


class PrometheusModel(_Strict):
    """`prometheus`: where and how to query."""

    url: Url | None = None
    token_file: FilePath | None = Field(None, alias="tokenFile")
    ca_file: FilePath | None = Field(None, alias="caFile")
    insecure: bool | None = None


class RolloutFile(_Strict):
    """A whole spec file: target and strategy (required), then each section."""

    api_version: Literal["rollout.dev/v1"] | None = Field(None, alias="apiVersion")
    kind: Literal["Rollout"] | None = None
    target: TargetModel
    strategy: Annotated[spec.StrategyKind, PlainValidator(_strategy)]
    image: Image | None = None
    images: dict[DnsLabel, ContainerImage] | None = None
    timeout: PositiveDuration | None = None
    on_interrupt: Annotated[spec.OnInterrupt, PlainValidator(_on_interrupt)] | None = Field(
        None, alias="onInterrupt"
    )
    rolling: RollingModel | None = None
    recreate: RecreateModel | None = None
    canary: CanaryModel | None = None
    bluegreen: BlueGreenModel | None = None
    istio: IstioModel | None = None
    analysis: AnalysisModel | None = None
    prometheus: PrometheusModel | None = None
