"""Prometheus text exposition (format 0.0.4) of the traffic model's counters.

Renders `http_requests_total` / `http_request_duration_seconds` for every (Service, pod)
and Istio's standard `istio_requests_total` / `istio_request_duration_milliseconds`
for pods in istio-injected namespaces. Pure string building: no HTTP, no model mutation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

from rollout.sandbox.traffic import model

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HTTP_BUCKETS_SECONDS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
ISTIO_BUCKETS_MS: tuple[float, ...] = model.BUCKET_BOUNDS_MS
CLUSTER_DOMAIN = "cluster.local"

Labels = tuple[tuple[str, str], ...]
_LabelsFor = Callable[[model.SeriesStats], Labels]


def render(series: Iterable[model.SeriesStats]) -> str:
    """The /metrics body for these series; Istio families appear only for Istio pods."""
    stats = list(series)
    istio = [s for s in stats if s.istio]
    lines = [
        *_counter(
            "http_requests_total",
            "Total HTTP requests by namespace, service, pod and status code.",
            stats,
            _http_labels,
            code_label="code",
        ),
        *_histogram(
            "http_request_duration_seconds",
            "HTTP request latency in seconds.",
            stats,
            _http_labels,
            [bound / 1000.0 for bound in model.BUCKET_BOUNDS_MS],
            HTTP_BUCKETS_SECONDS,
            scale=1.0,
        ),
    ]
    if istio:
        lines += _counter(
            "istio_requests_total",
            "Total requests, as reported by the destination sidecar.",
            istio,
            _istio_labels,
            code_label="response_code",
        )
        lines += _histogram(
            "istio_request_duration_milliseconds",
            "Request duration in milliseconds, as reported by the destination sidecar.",
            istio,
            _istio_labels,
            list(model.BUCKET_BOUNDS_MS),
            ISTIO_BUCKETS_MS,
            scale=1000.0,
        )
    return "\n".join(lines) + "\n"


def _counter(
    name: str,
    help_text: str,
    stats: Sequence[model.SeriesStats],
    labels_for: _LabelsFor,
    *,
    code_label: str,
) -> list[str]:
    lines = _header(name, "counter", help_text)
    for series in stats:
        labels = labels_for(series)
        for code, count in series.codes:
            lines.append(_sample(name, (*labels, (code_label, str(code))), float(count)))
    return lines


def _histogram(
    name: str,
    help_text: str,
    stats: Sequence[model.SeriesStats],
    labels_for: _LabelsFor,
    fine_bounds: Sequence[float],
    exported_bounds: Sequence[float],
    *,
    scale: float,
) -> list[str]:
    """Cumulative buckets at `exported_bounds`, read from the model's finer buckets."""
    indices = [_bound_index(fine_bounds, bound) for bound in exported_bounds]
    lines = _header(name, "histogram", help_text)
    for series in stats:
        labels = labels_for(series)
        cumulative = _cumulative(series.buckets)
        for bound, index in zip(exported_bounds, indices, strict=True):
            le = (*labels, ("le", _format_number(bound)))
            lines.append(_sample(f"{name}_bucket", le, float(cumulative[index])))
        inf = (*labels, ("le", "+Inf"))
        lines.append(_sample(f"{name}_bucket", inf, float(series.count)))
        lines.append(_sample(f"{name}_sum", labels, series.sum_seconds * scale))
        lines.append(_sample(f"{name}_count", labels, float(series.count)))
    return lines


def _http_labels(series: model.SeriesStats) -> Labels:
    return (("namespace", series.namespace), ("service", series.service), ("pod", series.pod))


def _istio_labels(series: model.SeriesStats) -> Labels:
    # `pod` is what Prometheus' pod discovery adds when scraping each sidecar; it also
    # keeps two pods of one workload from rendering the same series twice.
    fqdn = f"{series.service}.{series.namespace}.svc.{CLUSTER_DOMAIN}"
    return (
        ("reporter", "destination"),
        ("source_workload", "unknown"),
        ("destination_workload", series.workload or "unknown"),
        ("destination_workload_namespace", series.namespace),
        ("destination_service", fqdn),
        ("destination_service_name", series.service),
        ("destination_service_namespace", series.namespace),
        ("pod", series.pod),
    )


def _cumulative(buckets: Sequence[int]) -> list[int]:
    total, out = 0, []
    for count in buckets:
        total += count
        out.append(total)
    return out


def _bound_index(bounds: Sequence[float], bound: float) -> int:
    for index, candidate in enumerate(bounds):
        if math.isclose(candidate, bound, rel_tol=1e-9):
            return index
    raise ValueError(f"bucket bound {bound} is not one of the model's bounds")


def _header(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {escape_help(help_text)}", f"# TYPE {name} {kind}"]


def _sample(name: str, labels: Labels, value: float) -> str:
    rendered = ",".join(f'{key}="{escape_label_value(val)}"' for key, val in labels)
    return f"{name}{{{rendered}}} {_format_number(value)}"


def _format_number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def escape_label_value(value: str) -> str:
    """Escape a label value per format 0.0.4: backslash, double quote, line feed."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """Escape HELP text per format 0.0.4: backslash and line feed."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")
