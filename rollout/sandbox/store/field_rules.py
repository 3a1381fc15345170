"""Field validation rules shared by several kinds: labels, label selectors, int-or-percent.

Each function returns the (field, message) causes of a 422, worded as kube-apiserver's
validation words them (apimachinery's ValidateLabels / ValidateLabelSelector, apps'
ValidateRollingUpdateDeployment). Pure functions over JSON values.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rollout.sandbox.store.selectors import label_key_errors, label_value_errors

Cause = tuple[str, str]
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PERCENT = re.compile(r"[0-9]+%")
PERCENT_MSG = (
    "a valid percent string must be a numeric string followed by an ending '%' "
    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
)
NEGATIVE_MSG = "must be greater than or equal to 0"


def label_causes(path: str, labels: Any) -> list[Cause]:
    """ValidateLabels: every key a qualified name, every value a valid label value."""
    if not isinstance(labels, dict):
        return []
    causes: list[Cause] = []
    for key, value in labels.items():
        causes += [(path, f"Invalid value: {_quoted(key)}: {m}") for m in label_key_errors(key)]
        if isinstance(value, str):
            causes += [
                (path, f"Invalid value: {_quoted(value)}: {m}") for m in label_value_errors(value)
            ]
    return causes


TOTAL_ANNOTATION_SIZE = 256 * 1024  # apimachinery's TotalAnnotationSizeLimitB


def annotation_causes(path: str, annotations: Any) -> list[Cause]:
    """ValidateAnnotations: every key a qualified name (case aside), and keys + values
    together at most 256 KiB."""
    if not isinstance(annotations, dict):
        return []
    causes: list[Cause] = [
        (path, f"Invalid value: {_quoted(key)}: {m}")
        for key in annotations
        for m in label_key_errors(str(key).lower())
    ]
    size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE:
        causes.append((path, f"Too long: may not be more than {TOTAL_ANNOTATION_SIZE} bytes"))
    return causes


def selector_causes(path: str, selector: Any) -> list[Cause]:
    """ValidateLabelSelector's label rules: matchLabels as labels, each expression's key
    a qualified name and each of its values a label value."""
    if not isinstance(selector, dict):
        return []
    causes = label_causes(f"{path}.matchLabels", selector.get("matchLabels"))
    expressions = selector.get("matchExpressions")
    for i, expr in enumerate(expressions if isinstance(expressions, list) else []):
        if not isinstance(expr, dict):
            continue
        key, values = expr.get("key"), expr.get("values")
        where = f"{path}.matchExpressions[{i}]"
        if isinstance(key, str):
            causes += [
                (f"{where}.key", f"Invalid value: {_quoted(key)}: {m}")
                for m in label_key_errors(key)
            ]
        for j, value in enumerate(values if isinstance(values, list) else []):
            if isinstance(value, str):
                causes += [
                    (f"{where}.values[{j}]", f"Invalid value: {_quoted(value)}: {m}")
                    for m in label_value_errors(value)
                ]
    return causes


def rolling_update_causes(path: str, rolling_update: dict[str, Any]) -> list[Cause]:
    """ValidateRollingUpdateDeployment: both fenceposts non-negative ints or "N%", not
    both zero, and maxUnavailable at most 100%."""
    surge = rolling_update.get("maxSurge", 0)
    unavailable = rolling_update.get("maxUnavailable", 0)
    causes = _int_or_percent_causes(f"{path}.maxUnavailable", unavailable)
    causes += _int_or_percent_causes(f"{path}.maxSurge", surge)
    if _int_or_percent_value(unavailable) == 0 and _int_or_percent_value(surge) == 0:
        causes.append(
            (
                f"{path}.maxUnavailable",
                f"Invalid value: {_go_int_or_string(unavailable)}: may not be 0 when "
                "`maxSurge` is 0",
            )
        )
    percent = _percent(unavailable)
    if percent is not None and percent > 100:
        causes.append(
            (
                f"{path}.maxUnavailable",
                f"Invalid value: {_go_int_or_string(unavailable)}: must not be greater than 100%",
            )
        )
    return causes


def _int_or_percent_causes(path: str, value: Any) -> list[Cause]:
    """ValidatePositiveIntOrPercent (wrong JSON types are the decoder's 400, not here)."""
    if isinstance(value, str) and not PERCENT.fullmatch(value):
        return [(path, f"Invalid value: {_go_int_or_string(value)}: {PERCENT_MSG}")]
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [(path, f"Invalid value: {value}: {NEGATIVE_MSG}")]
    return []


def _percent(value: Any) -> int | None:
    """The N of a valid "N%" string, else None (upstream getPercentValue)."""
    if isinstance(value, str) and PERCENT.fullmatch(value):
        return int(value[:-1])
    return None


def _int_or_percent_value(value: Any) -> int:
    """Upstream getIntOrPercentValue: a percent's number, an int, or a string's Atoi (0 when
    it is no integer)."""
    percent = _percent(value)
    if percent is not None:
        return percent
    if isinstance(value, str):
        return int(value) if re.fullmatch(r"[+-]?[0-9]+", value) else 0
    return value if isinstance(value, int) else 0


def _go_int_or_string(value: Any) -> str:
    """How Go's %#v prints an intstr.IntOrString in a field error."""
    if isinstance(value, str):
        return f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{_quoted(value)}}}"
    return f'intstr.IntOrString{{Type:0, IntVal:{value}, StrVal:""}}'


def _quoted(text: str) -> str:
    """Go's %q for the ASCII text labels hold."""
    return json.dumps(text)
