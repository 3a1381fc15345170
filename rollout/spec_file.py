"""Read and validate a rollout spec file (`rollout run -f rollout.yaml`).

Strict pydantic models (unknown fields and wrong types are errors) turn YAML into the
values `spec_build` merges with the flags. Every error is one SpecError line:
`rollout.yaml: analysis.count: must be > 0 (got -1)`. Imports pydantic and yaml, so it
is imported lazily, only when a file is read. The format (every field optional unless
marked; camelCase as in Kubernetes):

    apiVersion: rollout.dev/v1     # optional; if given, exactly this
    kind: Rollout                  # optional; if given, exactly this
    target: {name: link-manager, namespace: default}  # name required; namespace: else -n
    strategy: canary       # required: rolling | recreate | bluegreen | canary | istio-canary
    image: v2              # as --image: a tag, a full reference, or NAME=REF
    images: {link-manager: ghcr.io/x/link-manager:v2}  # or one per container (not both)
    timeout: 5m            # readiness wait per step; durations: 30s 2m 1h30m 250ms, or seconds
    onInterrupt: abort     # abort | leave
    rolling: {batches: [25, 50, 100], maxSurge: 25%, maxUnavailable: 0}
    canary: {steps: [10, 25, 50], pause: manual, shrinkStable: false}  # steps, pause: istio too
    bluegreen: {previewService: link-manager-preview, autoPromote: true, scaleDownDelay: 30s,
                prePromotionChecks: [...], postPromotionChecks: [...]}  # checks as below
    istio: {virtualService: link-manager, destinationRule: link-manager,
            matchHeader: "x-canary=true", mirror: 10, createRouting: false}
    analysis:
      interval: 10s
      count: 3                     # > 0
      initialDelay: 0s
      failureLimit: 0              # limits >= 0
      inconclusiveLimit: 0
      consecutiveErrorLimit: 2
      window: 1m                   # rate window of the built-in queries
      checks:                      # name + min and/or max; no query: the built-in template
        - {name: success-rate, min: 99}            # "99%" also accepted
        - {name: latency-p99, max: 300}            # ms; "300ms" / "0.3s" accepted
        - {name: custom, query: 'sum(rate(x[1m]))', max: 5}
    prometheus: {url: http://prometheus:9090, tokenFile: token, caFile: ca.pem, insecure: false}

Batches and steps are whole percentages in (0, 100], strictly increasing (a list, or a
string "10,25,50"; `%` optional). Only the section of the chosen strategy may set
anything (`istio-canary` uses `canary.steps/pause` and `istio`). Relative `tokenFile`
and `caFile` paths are relative to the spec file. The file sets no dry-run, force or
wait: those are per invocation.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)

from rollout import errors, spec, spec_syntax

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
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TargetModel(_Strict):
    name: DnsName
    namespace: DnsLabel | None = None


class CheckModel(_Strict):
    name: Annotated[str, Field(min_length=1)]
    query: Annotated[str, Field(min_length=1)] | None = None
    min: Threshold | None = None
    max: Threshold | None = None

    @model_validator(mode="after")
    def _has_range(self) -> CheckModel:
        spec_syntax.check_bounds(self.min, self.max)
        return self

    def to_check(self) -> spec.Check:
        return spec.Check(name=self.name, query=self.query, min=self.min, max=self.max)


class RollingModel(_Strict):
    batches: Percents | None = None
    max_surge: IntOrPercent | None = Field(None, alias="maxSurge")
    max_unavailable: IntOrPercent | None = Field(None, alias="maxUnavailable")


class CanaryModel(_Strict):
    steps: Percents | None = None
    pause: Pause | None = None
    shrink_stable: bool | None = Field(None, alias="shrinkStable")


class BlueGreenModel(_Strict):
    preview_service: DnsLabel | None = Field(None, alias="previewService")
    auto_promote: bool | None = Field(None, alias="autoPromote")
    scale_down_delay: Duration | None = Field(None, alias="scaleDownDelay")
    pre_promotion_checks: list[CheckModel] | None = Field(None, alias="prePromotionChecks")
    post_promotion_checks: list[CheckModel] | None = Field(None, alias="postPromotionChecks")


class IstioModel(_Strict):
    virtual_service: DnsName | None = Field(None, alias="virtualService")
    destination_rule: DnsName | None = Field(None, alias="destinationRule")
    match_header: Header | None = Field(None, alias="matchHeader")
    mirror: Annotated[int, Field(gt=0, le=100)] | None = None
    create_routing: bool | None = Field(None, alias="createRouting")


class AnalysisModel(_Strict):
    interval: PositiveDuration | None = None
    count: Annotated[int, Field(gt=0)] | None = None
    initial_delay: Duration | None = Field(None, alias="initialDelay")
    failure_limit: Limit | None = Field(None, alias="failureLimit")
    inconclusive_limit: Limit | None = Field(None, alias="inconclusiveLimit")
    consecutive_error_limit: Limit | None = Field(None, alias="consecutiveErrorLimit")
    window: PositiveDuration | None = None
    checks: list[CheckModel] | None = None


class PrometheusModel(_Strict):
    url: Url | None = None
    token_file: FilePath | None = Field(None, alias="tokenFile")
    ca_file: FilePath | None = Field(None, alias="caFile")
    insecure: bool | None = None


class RolloutFile(_Strict):
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
    canary: CanaryModel | None = None
    bluegreen: BlueGreenModel | None = None
    istio: IstioModel | None = None
    analysis: AnalysisModel | None = None
    prometheus: PrometheusModel | None = None


# SpecOverrides field -> (section, field) in RolloutFile; None: top level.
_PLACES: dict[str, tuple[str | None, str]] = {
    "timeout": (None, "timeout"),
    "on_interrupt": (None, "on_interrupt"),
    "checks": ("analysis", "checks"),
    "interval": ("analysis", "interval"),
    "count": ("analysis", "count"),
    "initial_delay": ("analysis", "initial_delay"),
    "failure_limit": ("analysis", "failure_limit"),
    "inconclusive_limit": ("analysis", "inconclusive_limit"),
    "consecutive_error_limit": ("analysis", "consecutive_error_limit"),
    "window": ("analysis", "window"),
    "prometheus_url": ("prometheus", "url"),
    "prometheus_token_file": ("prometheus", "token_file"),
    "prometheus_ca_file": ("prometheus", "ca_file"),
    "prometheus_insecure": ("prometheus", "insecure"),
    "batches": ("rolling", "batches"),
    "max_surge": ("rolling", "max_surge"),
    "max_unavailable": ("rolling", "max_unavailable"),
    "steps": ("canary", "steps"),
    "pause": ("canary", "pause"),
    "shrink_stable": ("canary", "shrink_stable"),
    "preview_service": ("bluegreen", "preview_service"),
    "auto_promote": ("bluegreen", "auto_promote"),
    "scale_down_delay": ("bluegreen", "scale_down_delay"),
    "pre_promotion_checks": ("bluegreen", "pre_promotion_checks"),
    "post_promotion_checks": ("bluegreen", "post_promotion_checks"),
    "virtual_service": ("istio", "virtual_service"),
    "destination_rule": ("istio", "destination_rule"),
    "match_header": ("istio", "match_header"),
    "mirror": ("istio", "mirror"),
    "create_routing": ("istio", "create_routing"),
}
_RELATIVE_PATHS = ("prometheus_token_file", "prometheus_ca_file")


@dataclasses.dataclass(frozen=True, slots=True)
class LoadedFile:
    """A validated spec file: target, strategy, its values, and each value's label."""

    name: str
    namespace: str | None
    strategy: spec.StrategyKind
    values: spec.SpecOverrides
    labels: Mapping[str, str]  # SpecOverrides field -> "rollout.yaml: canary.steps"


def load(path: str | os.PathLike[str]) -> LoadedFile:
    """Read, parse and validate the spec file at `path`; SpecError on any problem."""
    label = os.fspath(path)
    data = _read_yaml(Path(path), label)
    try:
        model = RolloutFile.model_validate(data)
    except ValidationError as e:
        raise errors.SpecError(f"{label}: {describe(e)}") from None
    if model.image is not None and model.images is not None:
        raise errors.SpecError(f"{label}: image: give either image or images, not both")
    return _loaded(model, label, Path(path).parent)


def _loaded(model: RolloutFile, label: str, base: Path) -> LoadedFile:
    values: dict[str, Any] = {}
    labels: dict[str, str] = {"images": f"{label}: image"}
    if model.image is not None:
        values["images"] = (model.image,)
    if model.images is not None:
        labels["images"] = f"{label}: images"
        values["images"] = tuple(
            dataclasses.replace(change, container=container)
            for container, change in model.images.items()
        )
    for name, (section, attr) in _PLACES.items():
        owner = model if section is None else getattr(model, section)
        value = None if owner is None else getattr(owner, attr)
        labels[name] = f"{label}: {_yaml_path(section, attr)}"
        if value is None:
            continue
        if isinstance(value, list):
            value = tuple(check.to_check() for check in value)
        if name in _RELATIVE_PATHS:
            value = str(base / value)
        values[name] = value
    return LoadedFile(
        name=model.target.name,
        namespace=model.target.namespace,
        strategy=model.strategy,
        values=spec.SpecOverrides(**values),
        labels=labels,
    )


def _yaml_path(section: str | None, attr: str) -> str:
    owner: type[BaseModel] = RolloutFile
    parts = []
    if section is not None:
        parts.append(section)
        owner = _model_in(RolloutFile.model_fields[section].annotation) or RolloutFile
    parts.append(owner.model_fields[attr].alias or attr)
    return ".".join(parts)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f'duplicate key "{key}"', key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path, label: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise errors.SpecError(f"{label}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise errors.SpecError(f"{label}: not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: plain data only
    except yaml.YAMLError as e:
        raise errors.SpecError(f"{label}: {_yaml_problem(e)}") from None
    if data is None:
        raise errors.SpecError(f"{label}: empty; expected a mapping with target and strategy")
    if not isinstance(data, dict):
        raise errors.SpecError(
            f"{label}: must be a mapping with target and strategy (got {_kind(data)})"
        )
    return data


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def describe(error: ValidationError) -> str:
    """The first error as `field.path: reason (got value)`, plus how many more there are."""
    problems = error.errors(include_url=False)
    first = problems[0]
    text = f"{_loc(first['loc'])}: {_reason(first)}"
    if len(problems) > 1:
        text += f" (and {len(problems) - 1} more)"
    return " ".join(text.splitlines())


def _loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "[key]":
            text += f".{part}" if text else part
    return text or "(top level)"


_REASONS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda ctx: "required",
    "greater_than": lambda ctx: f"must be > {ctx['gt']}",
    "greater_than_equal": lambda ctx: f"must be >= {ctx['ge']}",
    "less_than": lambda ctx: f"must be < {ctx['lt']}",
    "less_than_equal": lambda ctx: f"must be <= {ctx['le']}",
    "int_type": lambda ctx: "must be a whole number",
    "float_type": lambda ctx: "must be a number",
    "bool_type": lambda ctx: "must be true or false",
    "string_type": lambda ctx: "must be a string",
    "string_too_short": lambda ctx: "must not be empty",
    "dict_type": lambda ctx: "must be a mapping",
    "model_type": lambda ctx: "must be a mapping",
    "list_type": lambda ctx: "must be a list",
    "literal_error": lambda ctx: f"must be {ctx['expected']}",
    "value_error": lambda ctx: str(ctx["error"]),
}


def _reason(problem: Mapping[str, Any]) -> str:
    kind = problem["type"]
    if kind == "extra_forbidden":
        valid = _valid_fields(problem["loc"][:-1])
        return f"unknown field (valid: {', '.join(valid)})"
    ctx = problem.get("ctx") or {}
    explain = _REASONS.get(kind)
    reason = explain(ctx) if explain else str(problem["msg"])
    value = problem.get("input")
    if kind != "missing" and not (kind == "value_error" and isinstance(value, (dict, list))):
        reason += f" (got {_kind(value)})"
    return reason


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return spec.show(value)


def _valid_fields(loc: tuple[int | str, ...]) -> list[str]:
    owner: type[BaseModel] = RolloutFile
    for part in loc:
        if isinstance(part, str):
            fields = {info.alias or name: info for name, info in owner.model_fields.items()}
            inner = _model_in(fields[part].annotation) if part in fields else None
            owner = inner or owner
    return [info.alias or name for name, info in owner.model_fields.items()]


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The first BaseModel class inside a type annotation (`list[CheckModel] | None`...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
