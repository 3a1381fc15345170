"""Analysis: checks (PromQL + a pass range) measured over time -> a Verdict (DESIGN §4).

Built-in templates and `{{variable}}` rendering, the `--check` syntax, and the gate loop
with its limits. Pure logic over an injected MetricProvider and Clock: no retries (the
provider's job), no sleeping except through the Clock. Missing data never passes.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from rollout import errors, metrics
from rollout.spec import AnalysisSpec, Check, RolloutSpec

log = structlog.get_logger(__name__)

MetricProviderLike = metrics.MetricProvider
Mesh = metrics.Mesh
BUILTINS = metrics.BUILTINS
DEFAULT_WINDOW = 60.0  # shortest default rate window: several scrapes at common intervals


class Clock(Protocol):
    """Time as analysis sees it; tests pass a fake one."""

    def now(self) -> float: ...  # seconds since the epoch

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: the only place in rollout allowed to call `time.sleep`."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


# -- values ---------------------------------------------------------------------------


class MeasurementOutcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"  # no data: empty result or NaN
    ERROR = "error"  # the query could not be answered


class VerdictOutcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"  # not enough data; the engine treats it as a failure
    ERROR = "error"  # queries kept failing


@dataclass(frozen=True, slots=True)
class Variables:
    """What `{{name}}` in a query means at one gate. Pod values are regexes (PromQL =~)."""

    namespace: str
    service: str = ""
    stable: str = ""  # workload (Deployment) names
    canary: str = ""  # the new version's workload
    stable_pods: str = ""
    canary_pods: str = ""  # the new version's pods, e.g. `web-5d8f7c9b4-[a-z0-9]+`
    mesh: Mesh = Mesh.PLAIN


@dataclass(frozen=True, slots=True)
class Measurement:
    """One query of one check at one time."""

    check: str
    value: float | None
    outcome: MeasurementOutcome
    at: float  # Clock.now() when queried
    query: str  # as sent, after templating
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """A gate's decision, with every measurement that led to it."""

    outcome: VerdictOutcome
    measurements: tuple[Measurement, ...] = ()
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome is VerdictOutcome.PASSED


def measurement_json(m: Measurement) -> dict[str, object]:
    """`m` as JSON-ready data for the rollout record and `-o json` (+/-inf as strings)."""
    value = m.value if m.value is None or math.isfinite(m.value) else str(m.value)
    return {
        "check": m.check,
        "value": value,
        "outcome": m.outcome.value,
        "at": m.at,
        "query": m.query,
        "error": m.error,
    }


def passed(message: str, measurements: tuple[Measurement, ...] = ()) -> Verdict:
    return Verdict(VerdictOutcome.PASSED, measurements, message)


def failed(message: str, measurements: tuple[Measurement, ...] = ()) -> Verdict:
    return Verdict(VerdictOutcome.FAILED, measurements, message)


# -- rendering ------------------------------------------------------------------------


VARIABLES = ("namespace", "service", "stable", "canary", "stable_pods", "canary_pods", "interval")
_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_UNSAFE = re.compile(r'["\\`\n{}]')
_KNOWN = ", ".join(VARIABLES)


def prom_duration(seconds: float) -> str:
    """A Prometheus duration: 30 -> `30s`, 1.5 -> `1500ms`."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


def render(template: str, values: Mapping[str, str], *, check: str) -> str:
    """Replace each `{{name}}` with values[name]; SpecError names an unknown or unset one."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        var = "{{" + name + "}}"
        if name not in VARIABLES:
            raise errors.SpecError(f"check {check}: unknown variable {var}; known: {_KNOWN}")
        if not values.get(name):
            raise errors.SpecError(f"check {check}: {var} has no value at this gate")
        return values[name]

    rendered = _VARIABLE.sub(substitute, template)
    if "{{" in rendered:
        raise errors.SpecError(f"check {check}: unclosed '{{{{' in the query")
    return rendered


def validate_check(check: Check) -> None:
    """SpecError unless `check` has a query (or is a built-in) and a pass range."""
    where = f"check {check.name}"
    if check.query is None and check.name not in BUILTINS:
        raise errors.SpecError(f"{where}: no query and no such built-in ({', '.join(BUILTINS)})")
    if check.min is None and check.max is None:
        raise errors.SpecError(f"{where}: no min or max; give a range (e.g. {check.name}>=99)")
    _check_order(check, where=where)


def _check_order(check: Check, *, where: str) -> None:
    if check.min is not None and check.max is not None and check.min > check.max:
        raise errors.SpecError(f"{where}: min {_num(check.min)} is above max {_num(check.max)}")


def validate_checks(spec: RolloutSpec) -> None:
    """Render every check of a rollout once (SpecError naming the bad one), with sample
    variables, before anything is written."""
    name = spec.target.name
    sample = Variables(
        namespace=spec.target.namespace,
        service=name,
        stable=name,
        canary=name,
        stable_pods=f"{name}-.*",
        canary_pods=f"{name}-.*",
    )
    for checks in (spec.analysis.checks, spec.pre_promotion_checks, spec.post_promotion_checks):
        render_queries(dataclasses.replace(spec.analysis, checks=checks), sample)


def render_queries(spec: AnalysisSpec, variables: Variables) -> tuple[tuple[Check, str], ...]:
    """Every check with its query as it will be sent; SpecError on any problem (preflight)."""
    window = spec.window if spec.window is not None else max(spec.interval, DEFAULT_WINDOW)
    limits = (spec.failure_limit, spec.inconclusive_limit, spec.consecutive_error_limit)
    if spec.count < 1 or min(spec.interval, spec.initial_delay, *limits) < 0 or window <= 0:
        raise errors.SpecError("analysis: count must be >= 1, window > 0, the rest >= 0")
    values = {name: getattr(variables, name) for name in VARIABLES if name != "interval"}
    values["interval"] = prom_duration(window)
    for name, value in values.items():
        if _UNSAFE.search(value):
            raise errors.SpecError(f"analysis: {name} {value!r} has a quote, brace or newline")
    out: list[tuple[Check, str]] = []
    for check in spec.checks:
        validate_check(check)
        if any(check.name == seen.name for seen, _ in out):
            raise errors.SpecError(f"check {check.name} is given twice")
        template = check.query
        if template is None:
            template = BUILTINS[check.name].for_mesh(variables.mesh)
        out.append((check, render(template, values, check=check.name)))
    return tuple(out)


# -- the --check syntax and YAML checks ---------------------------------------------

_NAME = r"[A-Za-z][A-Za-z0-9_.-]*"
_CHECK = re.compile(rf"^\s*(?P<name>{_NAME})\s*(?:(?P<op>[<>=!]+)\s*(?P<value>.*?))?\s*$")
_NUMBER = re.compile(r"^(?P<num>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>\S*)$")
_EXAMPLES = "e.g. success-rate>=99, latency-p99<=300ms"


def parse_check(text: str) -> Check:
    """A `--check` value: `NAME>=MIN`, `NAME<=MAX` or `NAME` (bounds from the YAML)."""
    match = _CHECK.match(text)
    where = f"--check {text!r}"
    if match is None:
        raise errors.SpecError(f"{where}: expected NAME>=VALUE or NAME<=VALUE ({_EXAMPLES})")
    name, op, value = match["name"], match["op"], match["value"]
    if op is None:
        return Check(name=name)
    if op in ("<", ">"):
        raise errors.SpecError(f"{where}: bounds are inclusive; write {name}{op}={value}")
    if op not in ("<=", ">="):
        raise errors.SpecError(f"{where}: unknown comparison {op!r}; use >= or <= ({_EXAMPLES})")
    bound = _bound(name, value, where=where)
    return Check(name=name, min=bound) if op == ">=" else Check(name=name, max=bound)


def check_from_mapping(data: Mapping[str, object], *, where: str = "check") -> Check:
    """A YAML check `{name, query?, min?, max?}`; SpecError names `where` and the field."""
    unknown = sorted(set(data) - {"name", "query", "min", "max"})
    if unknown:
        raise errors.SpecError(f"{where}: unknown field {unknown[0]!r} (name, query, min, max)")
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(_NAME, name):
        raise errors.SpecError(f"{where}.name: expected a name like success-rate, got {name!r}")
    query = data.get("query")
    if query is not None and (not isinstance(query, str) or not query.strip()):
        raise errors.SpecError(f"{where}.query: expected a PromQL query string")
    bounds: dict[str, float | None] = {}
    for key in ("min", "max"):
        raw = data.get(key)
        if raw is None or isinstance(raw, str):
            bounds[key] = None if raw is None else _bound(name, raw, where=f"{where}.{key}")
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw):
            bounds[key] = float(raw)
        else:
            raise errors.SpecError(f"{where}.{key}: expected a number, got {raw!r}")
    check = Check(name=name, query=query, min=bounds["min"], max=bounds["max"])
    _check_order(check, where=where)
    return check


def _bound(name: str, text: str, *, where: str) -> float:
    match = _NUMBER.match(text.strip())
    if match is None:
        raise errors.SpecError(f"{where}: {text!r} is not a number ({_EXAMPLES})")
    unit = match["unit"]
    units = BUILTINS[name].units if name in BUILTINS else {}
    if unit and unit not in units:
        allowed = ", ".join(units) or "none (a custom query's value is used as is)"
        raise errors.SpecError(f"{where}: unit {unit!r} does not apply to {name}; units: {allowed}")
    return float(match["num"]) * units.get(unit, 1.0)


# -- running a gate -----------------------------------------------------------------


def run_analysis(
    provider: metrics.MetricProvider,
    spec: AnalysisSpec,
    variables: Variables,
    *,
    clock: Clock,
    on_measurement: Callable[[Measurement], None] | None = None,
) -> Verdict:
    """After initial_delay, `count` rounds every `interval`, each querying every check.

    Stops early when one check's failures, inconclusive results or errors in a row exceed
    their limit (FAILED, INCONCLUSIVE, ERROR); at the end, a check that never passed fails.
    """
    if not spec.checks:
        return passed("no checks")
    rendered = render_queries(spec, variables)
    tallies = [_Tally(check) for check, _ in rendered]
    taken: list[Measurement] = []
    start = clock.now() + spec.initial_delay
    for round_ in range(spec.count):
        delay = start + round_ * spec.interval - clock.now()
        if delay > 0:
            clock.sleep(delay)
        for (check, query), tally in zip(rendered, tallies, strict=True):
            measurement = measure(provider, check, query, clock=clock)
            taken.append(measurement)
            if on_measurement is not None:
                on_measurement(measurement)
            early = tally.add(measurement, spec)
            if early is not None:
                return Verdict(early[0], tuple(taken), early[1])
    for tally in tallies:
        final = tally.final()
        if final is not None:
            return Verdict(final[0], tuple(taken), final[1])
    return passed("; ".join(t.summary() for t in tallies), tuple(taken))


def measure(
    provider: metrics.MetricProvider, check: Check, query: str, *, clock: Clock
) -> Measurement:
    """Query once and classify: in range -> PASS, outside -> FAIL, no data, error."""
    at = clock.now()
    try:
        value = provider.query(query)
    except errors.MetricsError as e:
        log.warning("analysis.query_failed", check=check.name, error=str(e))
        return Measurement(check.name, None, MeasurementOutcome.ERROR, at, query, str(e))
    if value is None or math.isnan(value):
        log.warning("analysis.inconclusive", check=check.name)
        return Measurement(check.name, None, MeasurementOutcome.INCONCLUSIVE, at, query)
    ok = (check.min is None or value >= check.min) and (check.max is None or value <= check.max)
    outcome = MeasurementOutcome.PASS if ok else MeasurementOutcome.FAIL
    fields = {"value": value, "outcome": outcome.value, "min": check.min, "max": check.max}
    log.info("analysis.measured", check=check.name, **fields)
    return Measurement(check.name, value, outcome, at, query)


_Decision = tuple[VerdictOutcome, str]
_PASS, _FAIL = MeasurementOutcome.PASS, MeasurementOutcome.FAIL
_NO_DATA, _ERROR = MeasurementOutcome.INCONCLUSIVE, MeasurementOutcome.ERROR


@dataclass(slots=True)
class _Tally:
    """One check's measurements so far within one gate."""

    check: Check
    taken: list[Measurement] = field(default_factory=list)
    errors_in_a_row: int = 0

    def count(self, outcome: MeasurementOutcome) -> int:
        return sum(1 for m in self.taken if m.outcome is outcome)

    def last(self, outcome: MeasurementOutcome) -> Measurement:
        return next(m for m in reversed(self.taken) if m.outcome is outcome)

    def add(self, m: Measurement, spec: AnalysisSpec) -> _Decision | None:
        self.taken.append(m)
        self.errors_in_a_row = self.errors_in_a_row + 1 if m.outcome is _ERROR else 0
        if m.outcome is _FAIL and self.count(_FAIL) > spec.failure_limit:
            return VerdictOutcome.FAILED, self._failed()
        if m.outcome is _NO_DATA and self.count(_NO_DATA) > spec.inconclusive_limit:
            return VerdictOutcome.INCONCLUSIVE, self._no_data(f", limit {spec.inconclusive_limit}")
        if self.errors_in_a_row > spec.consecutive_error_limit:
            limit = spec.consecutive_error_limit
            why = f"failed {self.errors_in_a_row} times in a row (limit {limit}): {m.error}"
            return VerdictOutcome.ERROR, f"{self.check.name} query {why}"
        return None

    def final(self) -> _Decision | None:
        """After the last round: a check that never passed does not pass."""
        if self.count(_PASS):
            return None
        if self.count(_FAIL):
            return VerdictOutcome.FAILED, self._failed() + ", none passed"
        if self.count(_ERROR):
            why = f"({self.count(_ERROR)} query errors): {self.last(_ERROR).error}"
            return VerdictOutcome.ERROR, f"{self.check.name} never measured {why}"
        return VerdictOutcome.INCONCLUSIVE, self._no_data("")

    def summary(self) -> str:
        value, got = _num(self.last(_PASS).value), f"{self.count(_PASS)} of {len(self.taken)}"
        return f"{self.check.name} {value} {pass_range(self.check)} ({got} passed)"

    def _failed(self) -> str:
        value, check = self.last(_FAIL).value, self.check
        assert value is not None
        low = check.min is not None and value < check.min
        side = f"< min {_num(check.min)}" if low else f"> max {_num(check.max)}"
        got = f"{self.count(_FAIL)} of {len(self.taken)} failed"
        return f"{check.name} {_num(value)} {side} ({got})"

    def _no_data(self, limit: str) -> str:
        got = f"{self.count(_NO_DATA)} of {len(self.taken)} inconclusive{limit}"
        hint = "check that the query matches the new version's series and that it gets traffic"
        return f"{self.check.name} returned no data ({got}); {hint}"


def pass_range(check: Check) -> str:
    """The check's pass range as text: `>= 99`, `<= 300`, `in [1, 2]`."""
    if check.min is not None and check.max is not None:
        return f"in [{_num(check.min)}, {_num(check.max)}]"
    return f">= {_num(check.min)}" if check.min is not None else f"<= {_num(check.max)}"


def _num(value: float | None) -> str:
    return "none" if value is None else f"{value:.6g}"
