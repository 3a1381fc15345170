"""analysis: built-in templates, `{{variable}}` rendering and the --check / YAML check syntax."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rollout import analysis, errors
from rollout.spec import AnalysisSpec, Check

VARS = analysis.Variables(
    namespace="shop",
    service="web",
    stable="web",
    canary="web-canary",
    stable_pods="web-[a-z0-9]+-[a-z0-9]+",
    canary_pods="web-canary-[a-z0-9]+-[a-z0-9]+",
)


# -- templates -------------------------------------------------------------------------


def rendered(check: Check, variables: analysis.Variables = VARS, **spec: float) -> str:
    analysis_spec = AnalysisSpec(checks=(check,), **spec)  # type: ignore[arg-type]
    ((_, query),) = analysis.render_queries(analysis_spec, variables)
    return query


def test_builtin_success_rate_plain_reads_the_new_pods_over_the_window() -> None:
    query = rendered(Check("success-rate", min=99), window=30)
    assert query == (
        '100 - 100 * (sum(rate(http_requests_total{namespace="shop",'
        'pod=~"web-canary-[a-z0-9]+-[a-z0-9]+",code=~"5.."}[30s])) or vector(0)) / '
        'sum(rate(http_requests_total{namespace="shop",pod=~"web-canary-[a-z0-9]+-[a-z0-9]+"}'
        "[30s]))"
    )


def test_builtin_istio_templates_read_the_destination_workload() -> None:
    istio = replace(VARS, mesh=analysis.Mesh.ISTIO)
    success = rendered(Check("success-rate", min=99), istio)
    assert (
        'istio_requests_total{reporter="destination",destination_workload_namespace="shop",'
        'destination_workload="web-canary",response_code=~"5.."}' in success
    )
    latency = rendered(Check("latency-p95", max=300), istio)
    assert latency.startswith(
        "histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket{"
    )


def test_builtin_plain_latency_is_in_milliseconds() -> None:
    query = rendered(Check("latency-p99", max=300))
    assert query.startswith(
        "1000 * histogram_quantile(0.99, sum by (le) (rate("
        'http_request_duration_seconds_bucket{namespace="shop",'
    )


@pytest.mark.parametrize(
    ("spec", "window"),
    [
        ({"interval": 10}, "60s"),
        ({"interval": 120}, "120s"),
        ({"window": 5}, "5s"),
        ({"window": 1.5}, "1500ms"),
    ],
)
def test_interval_variable_is_the_rate_window(spec: dict[str, float], window: str) -> None:
    assert rendered(Check("w", query="x[{{interval}}]", min=0), **spec) == f"x[{window}]"


def test_every_variable_renders_and_spaces_inside_braces_are_allowed() -> None:
    text = (
        "{{namespace}} {{ service }} {{stable}} {{canary}} {{stable_pods}} "
        "{{canary_pods}} {{interval}}"
    )
    assert rendered(Check("all", query=text, min=0), window=60) == (
        "shop web web web-canary web-[a-z0-9]+-[a-z0-9]+ web-canary-[a-z0-9]+-[a-z0-9]+ 60s"
    )


@pytest.mark.parametrize(
    ("check", "variables", "message"),
    [
        (
            Check("c", query="up{x='{{pod}}'}", min=1),
            VARS,
            r"check c: unknown variable \{\{pod\}\}",
        ),
        (
            Check("c", query="up{x='{{stable}}'}", min=1),
            replace(VARS, stable=""),
            r"check c: \{\{stable\}\} has no value at this gate",
        ),
        (Check("c", query="up{x='{{ canary }'}", min=1), VARS, "check c: unclosed '{{'"),
        (
            Check("c", query="up", min=1),
            replace(VARS, canary_pods='x"}'),
            "analysis: canary_pods 'x\"}' has a quote",
        ),
        (Check("nope", min=1), VARS, r"check nope: no query and no such built-in \(success-rate"),
        (Check("success-rate"), VARS, "check success-rate: no min or max"),
        (Check("c", query="up", min=2, max=1), VARS, "check c: min 2 is above max 1"),
    ],
)
def test_bad_checks_are_spec_errors_naming_the_check(
    check: Check, variables: analysis.Variables, message: str
) -> None:
    with pytest.raises(errors.SpecError, match=message):
        rendered(check, variables)


def test_a_check_name_given_twice_is_refused() -> None:
    spec = AnalysisSpec(checks=(Check("success-rate", min=99), Check("success-rate", min=90)))
    with pytest.raises(errors.SpecError, match="check success-rate is given twice"):
        analysis.render_queries(spec, VARS)


@pytest.mark.parametrize(
    "limits", [{"count": 0}, {"failure_limit": -1}, {"window": 0}, {"interval": -1}]
)
def test_impossible_gate_settings_are_refused(limits: dict[str, float]) -> None:
    spec = replace(AnalysisSpec(checks=(Check("success-rate", min=99),)), **limits)
    with pytest.raises(errors.SpecError, match="analysis: count must be >= 1"):
        analysis.render_queries(spec, VARS)


# -- the --check syntax and YAML checks ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("success-rate>=99", Check("success-rate", min=99)),
        ("success-rate >= 99.5%", Check("success-rate", min=99.5)),
        ("error-rate<=1", Check("error-rate", max=1)),
        ("latency-p99<=300ms", Check("latency-p99", max=300)),
        ("latency-p99<=0.3s", Check("latency-p99", max=300)),
        (" latency-p95 <= 250 ", Check("latency-p95", max=250)),
        ("my_check.v2>=1e-3", Check("my_check.v2", min=0.001)),
        ("queue-depth<=-2", Check("queue-depth", max=-2)),
        ("success-rate", Check("success-rate")),
    ],
)
def test_parse_check_accepts(text: str, expected: Check) -> None:
    assert analysis.parse_check(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected NAME>=VALUE or NAME<=VALUE"),
        (">=99", "expected NAME>=VALUE"),
        ("9lives>=1", "expected NAME>=VALUE"),
        ("success-rate>99", "bounds are inclusive; write success-rate>=99"),
        ("latency-p99<300ms", "bounds are inclusive; write latency-p99<=300ms"),
        ("success-rate=>99", "unknown comparison '=>'"),
        ("success-rate==99", "unknown comparison '=='"),
        ("success-rate>=", "'' is not a number"),
        ("success-rate>=high", "'high' is not a number"),
        ("success-rate>=nan", "'nan' is not a number"),
        ("success-rate>=99ms", "unit 'ms' does not apply to success-rate; units: %"),
        ("latency-p99<=300us", "unit 'us' does not apply to latency-p99; units: ms, s"),
        ("queue-depth<=5ms", "unit 'ms' does not apply to queue-depth; units: none"),
    ],
)
def test_parse_check_refuses_with_one_line_naming_the_flag(text: str, message: str) -> None:
    with pytest.raises(errors.SpecError) as caught:
        analysis.parse_check(text)
    assert str(caught.value).startswith(f"--check {text!r}: ")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_check_from_mapping_reads_a_yaml_check() -> None:
    got = analysis.check_from_mapping({"name": "q", "query": "sum(up)", "min": 1, "max": 2.5})
    assert got == Check("q", "sum(up)", 1.0, 2.5)
    assert analysis.check_from_mapping({"name": "latency-p99", "max": "0.5s"}).max == 500


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "q", "query": "up", "threshold": 1}, "checks[2]: unknown field 'threshold'"),
        ({"query": "up", "min": 1}, "checks[2].name: expected a name"),
        ({"name": "q", "query": "  ", "min": 1}, "checks[2].query: expected a PromQL query"),
        ({"name": "q", "query": "up", "min": True}, "checks[2].min: expected a number, got True"),
        ({"name": "q", "query": "up", "max": [1]}, "checks[2].max: expected a number"),
        ({"name": "success-rate", "min": "99ms"}, "checks[2].min: unit 'ms' does not apply"),
        ({"name": "q", "query": "up", "min": 3, "max": 1}, "checks[2]: min 3 is above max 1"),
    ],
)
def test_check_from_mapping_errors_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(errors.SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        analysis.check_from_mapping(data, where="checks[2]")
