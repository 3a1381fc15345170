"""Assemble a RolloutSpec from CLI flags and/or a spec file, and check it as a whole.

Flags override file values field by field; then every value is parsed and the
cross-field rules are checked (which options apply to which strategy, the image list,
check ranges). Errors are one-line SpecErrors naming the flag or file field. No I/O:
the file is read by `spec_file`, imported lazily (it pulls in pydantic and yaml).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from rollout import errors, spec, spec_syntax

if TYPE_CHECKING:
    import os

T = TypeVar("T")

_S = spec.StrategyKind
APPLIES_TO: dict[str, frozenset[spec.StrategyKind]] = {
    "batches": frozenset({_S.ROLLING}),
    "max_surge": frozenset({_S.ROLLING}),
    "max_unavailable": frozenset({_S.ROLLING}),
    "steps": frozenset({_S.CANARY, _S.ISTIO_CANARY}),
    "pause": frozenset({_S.ROLLING, _S.RECREATE, _S.CANARY, _S.ISTIO_CANARY}),
    "shrink_stable": frozenset({_S.CANARY}),
    "preview_service": frozenset({_S.BLUEGREEN}),
    "auto_promote": frozenset({_S.BLUEGREEN}),
    "scale_down_delay": frozenset({_S.BLUEGREEN}),
    "pre_promotion_checks": frozenset({_S.BLUEGREEN}),
    "post_promotion_checks": frozenset({_S.BLUEGREEN}),
    "virtual_service": frozenset({_S.ISTIO_CANARY}),
    "destination_rule": frozenset({_S.ISTIO_CANARY}),
    "match_header": frozenset({_S.ISTIO_CANARY}),
    "mirror": frozenset({_S.ISTIO_CANARY}),
    "create_routing": frozenset({_S.ISTIO_CANARY}),
}
"""Strategy-specific SpecOverrides fields and the strategies they apply to."""


def spec_from_flags(
    strategy: spec.StrategyKind,
    name: str,
    *,
    namespace: str,
    overrides: spec.SpecOverrides | None = None,
) -> spec.RolloutSpec:
    """`rollout <strategy> NAME [flags]` -> RolloutSpec; at least one `--image` is required."""
    values = overrides or spec.SpecOverrides()
    target = target_ref(name, namespace, name_field="NAME", namespace_field="--namespace")
    if not values.images:
        raise errors.SpecError("--image: required (the new image or just its tag, e.g. --image v2)")
    return build(target, strategy, values, labels=spec.FLAGS)


def spec_from_file(
    path: str | os.PathLike[str],
    *,
    namespace: str | None = None,
    overrides: spec.SpecOverrides | None = None,
) -> spec.RolloutSpec:
    """`rollout run -f FILE [flags]` -> RolloutSpec.

    `namespace` (the global `-n`, None when not given) fills in a file without
    `target.namespace`; if both are given they must agree (as `kubectl apply -f` does).
    """
    from rollout import spec_file  # pydantic + yaml: only when a file is read

    loaded = spec_file.load(path)
    label = str(path)
    if loaded.namespace and namespace and loaded.namespace != namespace:
        raise errors.SpecError(
            f'{label}: target.namespace "{loaded.namespace}" does not match --namespace '
            f'"{namespace}"; drop one or make them agree'
        )
    target = target_ref(
        loaded.name,
        loaded.namespace or namespace or "default",
        name_field=f"{label}: target.name",
        namespace_field=f"{label}: target.namespace" if loaded.namespace else "--namespace",
    )
    values, labels = merge(loaded.values, loaded.labels, overrides or spec.SpecOverrides())
    if not values.images:
        raise errors.SpecError(f"{label}: image: required (set image or images, or pass --image)")
    return build(target, loaded.strategy, values, labels=labels)


def target_ref(
    name: str, namespace: str, *, name_field: str, namespace_field: str
) -> spec.ObjectRef:
    """A checked ObjectRef: a DNS-1123 Deployment name in a DNS-1123 label namespace."""
    _parse(spec_syntax.check_target_name, name, name_field)
    _parse(spec_syntax.check_dns_label, namespace, namespace_field)
    return spec.ObjectRef(namespace=namespace, name=name)


def merge(
    file_values: spec.SpecOverrides,
    file_labels: Mapping[str, str],
    flags: spec.SpecOverrides,
) -> tuple[spec.SpecOverrides, dict[str, str]]:
    """File values with every given flag on top, and the label of each value's source.

    A flag replaces the whole value (all images, all checks), except that a bare
    `--check NAME` (no bounds, no query) takes the file's check called NAME.
    """
    labels = {**spec.FLAGS, **file_labels}
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(spec.SpecOverrides):
        value = getattr(flags, f.name)
        if _is_given(value):
            changes[f.name] = value
            labels[f.name] = spec.FLAGS[f.name]
    # `--check NAME` without bounds or query takes the file's check of that name.
    for name in ("checks", "pre_promotion_checks", "post_promotion_checks"):
        if name in changes:
            changes[name] = _complete_checks(changes[name], getattr(file_values, name))
    # A token and a token file are one credential: a flag for either replaces the file's.
    if _is_given(flags.prometheus_token) and not _is_given(flags.prometheus_token_file):
        changes["prometheus_token_file"] = None
    return dataclasses.replace(file_values, **changes), labels


def _complete_checks(
    flagged: tuple[spec.Check, ...], in_file: tuple[spec.Check, ...]
) -> tuple[spec.Check, ...]:
    by_name = {check.name: check for check in in_file}
    return tuple(
        by_name.get(check.name, check)
        if check.query is None and check.min is None and check.max is None
        else check
        for check in flagged
    )


def build(
    target: spec.ObjectRef,
    strategy: spec.StrategyKind,
    values: spec.SpecOverrides,
    *,
    labels: Mapping[str, str],
) -> spec.RolloutSpec:
    """Parse and check every given value; what is not given keeps RolloutSpec's default."""
    for name, strategies in APPLIES_TO.items():
        if _is_given(getattr(values, name)) and strategy not in strategies:
            only = ", ".join(s.value for s in spec.StrategyKind if s in strategies)
            raise errors.SpecError(
                f"{labels[name]}: does not apply to strategy {strategy.value} (only {only})"
            )
    chosen: dict[str, Any] = {
        "images": _images(values.images, labels["images"]),
        "analysis": _analysis(values, labels),
        "prometheus": _prometheus(values, labels),
        "pre_promotion_checks": _checks(
            values.pre_promotion_checks, labels["pre_promotion_checks"]
        ),
        "post_promotion_checks": _checks(
            values.post_promotion_checks, labels["post_promotion_checks"]
        ),
        "timeout": _given(values, labels, "timeout", _positive_duration),
        "on_interrupt": _given(values, labels, "on_interrupt", _on_interrupt),
        "dry_run": values.dry_run,
        "force": values.force,
        "wait_for_lock": values.wait,
        "batches": _given(values, labels, "batches", spec.parse_batches),
        "max_surge": _given(values, labels, "max_surge", spec.parse_int_or_percent),
        "max_unavailable": _given(values, labels, "max_unavailable", spec.parse_int_or_percent),
        "steps": _given(values, labels, "steps", spec.parse_steps),
        "pause": _given(values, labels, "pause", spec.parse_pause),
        "shrink_stable": values.shrink_stable,
        "preview_service": _given(values, labels, "preview_service", _dns_label),
        "auto_promote": values.auto_promote,
        "scale_down_delay": _given(values, labels, "scale_down_delay", spec.parse_duration),
        "virtual_service": _given(values, labels, "virtual_service", _dns_name),
        "destination_rule": _given(values, labels, "destination_rule", _dns_name),
        "match_header": _given(values, labels, "match_header", _match_header),
        "mirror": _given(values, labels, "mirror", _mirror),
        "create_routing": values.create_routing,
    }
    if _is_zero(chosen["max_surge"]) and _is_zero(chosen["max_unavailable"]):
        raise errors.SpecError(
            f"{labels['max_surge']}: maxSurge and maxUnavailable cannot both be 0 "
            "(the rollout could never make progress)"
        )
    return spec.RolloutSpec(
        target=target,
        strategy=strategy,
        **{key: value for key, value in chosen.items() if _is_given(value)},
    )


def _analysis(values: spec.SpecOverrides, labels: Mapping[str, str]) -> spec.AnalysisSpec:
    chosen: dict[str, Any] = {
        "checks": _checks(values.checks, labels["checks"]),
        "interval": _given(values, labels, "interval", _positive_duration),
        "count": _given(values, labels, "count", _count),
        "initial_delay": _given(values, labels, "initial_delay", spec.parse_duration),
        "failure_limit": _given(values, labels, "failure_limit", _limit),
        "inconclusive_limit": _given(values, labels, "inconclusive_limit", _limit),
        "consecutive_error_limit": _given(values, labels, "consecutive_error_limit", _limit),
        "window": _given(values, labels, "window", _positive_duration),
    }
    return spec.AnalysisSpec(**{k: v for k, v in chosen.items() if _is_given(v)})


def _prometheus(values: spec.SpecOverrides, labels: Mapping[str, str]) -> spec.PrometheusSpec:
    if _is_given(values.prometheus_token) and _is_given(values.prometheus_token_file):
        raise errors.SpecError(
            f"{labels['prometheus_token']}: give a token or a token file "
            f"({labels['prometheus_token_file']}), not both"
        )
    chosen: dict[str, Any] = {
        "url": _given(values, labels, "prometheus_url", _url),
        "bearer_token": values.prometheus_token,
        "token_file": _given(values, labels, "prometheus_token_file", _path),
        "ca_file": _given(values, labels, "prometheus_ca_file", _path),
        "insecure": values.prometheus_insecure,
    }
    return spec.PrometheusSpec(**{k: v for k, v in chosen.items() if _is_given(v)})


def _images(raw: tuple[str | spec.ImageChange, ...], label: str) -> tuple[spec.ImageChange, ...]:
    changes = tuple(
        item if isinstance(item, spec.ImageChange) else spec.parse_image(item, field=label)
        for item in raw
    )
    if len(changes) > 1:
        if any(change.container is None for change in changes):
            raise errors.SpecError(
                f"{label}: {len(changes)} images given; name each container with NAME=REF"
            )
        seen: set[str | None] = set()
        for change in changes:
            if change.container in seen:
                raise errors.SpecError(f'{label}: container "{change.container}" given twice')
            seen.add(change.container)
    return changes


def _checks(checks: tuple[spec.Check, ...], label: str) -> tuple[spec.Check, ...]:
    seen: set[str] = set()
    for check in checks:
        if not check.name:
            raise errors.SpecError(f"{label}: a check has no name")
        try:
            spec_syntax.check_bounds(check.min, check.max)
        except ValueError as e:
            raise spec.invalid(label, check.name, str(e)) from None
        if check.query is not None and not check.query.strip():
            raise spec.invalid(label, check.name, "query must not be empty")
        if check.name in seen:
            raise spec.invalid(label, check.name, "check name given twice")
        seen.add(check.name)
    return checks


def _given(
    values: spec.SpecOverrides,
    labels: Mapping[str, str],
    name: str,
    parse: Callable[..., T],
) -> T | None:
    raw = getattr(values, name)
    return parse(raw, field=labels[name]) if _is_given(raw) else None


def _parse(check: Callable[[Any], T], value: object, label: str) -> T:
    try:
        return check(value)
    except ValueError as e:
        raise spec.invalid(label, value, str(e)) from None


def _positive_duration(value: str | float, *, field: str) -> float:
    seconds = spec.parse_duration(value, field=field)
    if seconds <= 0:
        raise spec.invalid(field, value, "must be > 0")
    return seconds


def _whole(value: object, *, field: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise spec.invalid(field, value, "must be a whole number")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise spec.invalid(field, value, f"must be {bounds}")
    return value


def _count(value: int, *, field: str) -> int:
    return _whole(value, field=field, minimum=1)


def _limit(value: int, *, field: str) -> int:
    return _whole(value, field=field, minimum=0)


def _mirror(value: int, *, field: str) -> int:
    return _whole(value, field=field, minimum=1, maximum=100)


def _on_interrupt(value: str | spec.OnInterrupt, *, field: str) -> spec.OnInterrupt:
    if isinstance(value, spec.OnInterrupt):
        return value
    return spec.parse_on_interrupt(value, field=field)


def _match_header(value: str | spec.HeaderMatch, *, field: str) -> spec.HeaderMatch:
    if isinstance(value, spec.HeaderMatch):
        return value
    return spec.parse_match_header(value, field=field)


def _dns_label(value: str, *, field: str) -> str:
    return _parse(spec_syntax.check_dns_label, value, field)


def _dns_name(value: str, *, field: str) -> str:
    return _parse(spec_syntax.check_dns_subdomain, value, field)


def _url(value: str, *, field: str) -> str:
    return _parse(spec_syntax.http_url, value, field)


def _path(value: str, *, field: str) -> str:
    if not value.strip():
        raise spec.invalid(field, value, "must not be empty")
    return value


def _is_given(value: object) -> bool:
    return value is not None and value != ()


def _is_zero(value: object) -> bool:
    return value in (0, "0%")
