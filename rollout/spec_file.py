"""Read and validate a rollout spec file (`rollout run -f rollout.yaml`).

The strict pydantic models of `spec_schema` (unknown fields and wrong types are errors)
turn YAML into the values `spec_build` merges with the flags. Every error is one SpecError
line: `rollout.yaml: analysis.count: must be > 0 (got -1)`. Imports pydantic and yaml, so
it is imported lazily, only when a file is read. The format (every field optional unless
marked; camelCase as in Kubernetes):

    apiVersion: rollout.dev/v1     # optional; if given, exactly this
    kind: Rollout                  # optional; if given, exactly this
    target: {name: link-manager, namespace: default}  # name required; namespace: else -n
    strategy: canary       # required: rolling | recreate | bluegreen | canary | istio-canary
    image: v2              # as --image: a tag, a full reference, or NAME=REF
    images: {link-manager: ghcr.io/x/link-manager:v2}  # or one per container (not both)
    timeout: 5m            # readiness wait per step; durations: 30s 2m 1h30m 250ms, or seconds
    onInterrupt: abort     # abort | leave
    rolling: {batches: [25, 50, 100], maxSurge: 25%, maxUnavailable: 0, pause: manual}
    recreate: {pause: 10m}
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
string "10,25,50"; `%` optional). `pause` (after each step: a duration, or `manual` to
wait for `rollout promote`) sits in the chosen strategy's section. Only the section of
the chosen strategy may set anything (`istio-canary` uses `canary.steps/pause` and
`istio`). Relative `tokenFile`
and `caFile` paths are relative to the spec file. The file sets no dry-run, force or
wait: those are per invocation.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from rollout import errors, spec, spec_schema

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
# `pause` is read from the chosen strategy's own section.
_PAUSE_SECTION: dict[spec.StrategyKind, str] = {
    spec.StrategyKind.ROLLING: "rolling",
    spec.StrategyKind.RECREATE: "recreate",
    spec.StrategyKind.CANARY: "canary",
    spec.StrategyKind.ISTIO_CANARY: "canary",
}


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
        model = spec_schema.RolloutFile.model_validate(data)
    except ValidationError as e:
        raise errors.SpecError(f"{label}: {describe(e)}") from None
    if model.image is not None and model.images is not None:
        raise errors.SpecError(f"{label}: image: give either image or images, not both")
    return _loaded(model, label, Path(path).parent)


def _loaded(model: spec_schema.RolloutFile, label: str, base: Path) -> LoadedFile:
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
        elif name in _RELATIVE_PATHS:
            value = str(base / value)
        values[name] = value
    own = _PAUSE_SECTION.get(model.strategy)
    if own is not None:
        labels["pause"] = f"{label}: {own}.pause"
    pause = _pause(model, label, own)
    if pause is not None:
        values["pause"] = pause
    return LoadedFile(
        name=model.target.name,
        namespace=model.target.namespace,
        strategy=model.strategy,
        values=spec.SpecOverrides(**values),
        labels=labels,
    )


def _pause(model: spec_schema.RolloutFile, label: str, own: str | None) -> float | None:
    """`pause` of the strategy's own section; SpecError if another section sets one."""
    takers = ", ".join(s.value for s in spec.StrategyKind if s in _PAUSE_SECTION)
    for section in sorted(set(_PAUSE_SECTION.values()) - {own}):
        owner = getattr(model, section)
        if owner is not None and owner.pause is not None:
            hint = f"set {own}.pause" if own else f"only {takers}"
            raise errors.SpecError(
                f"{label}: {section}.pause: does not apply to strategy "
                f"{model.strategy.value} ({hint})"
            )
    owner = getattr(model, own) if own else None
    pause: float | None = None if owner is None else owner.pause
    return pause


def _yaml_path(section: str | None, attr: str) -> str:
    root = spec_schema.RolloutFile
    owner: type[BaseModel] = root
    parts = []
    if section is not None:
        parts.append(section)
        owner = _model_in(root.model_fields[section].annotation) or root
    parts.append(owner.model_fields[attr].alias or attr)
    return ".".join(parts)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # e.g. a mapping as a key: SafeLoader's own error says so below
            if key in seen:
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
    owner: type[BaseModel] = spec_schema.RolloutFile
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
