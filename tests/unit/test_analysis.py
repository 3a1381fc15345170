"""analysis: the gate loop (rounds, limits, early termination, verdicts) over fakes of our seams."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace

import pytest

from rollout import analysis, errors
from rollout.analysis import MeasurementOutcome as M
from rollout.analysis import VerdictOutcome as V
from rollout.spec import AnalysisSpec, Check

Answer = float | None | errors.MetricsError


class FakeClock:
    """Virtual time: sleep() only moves now()."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


class FakeProvider:
    """Answers each query from its script in order (the last answer repeats)."""

    def __init__(
        self, clock: FakeClock, script: dict[str, Sequence[Answer]], latency: float = 0.0
    ) -> None:
        self.clock, self.script, self.latency = (
            clock,
            {k: list(v) for k, v in script.items()},
            latency,
        )
        self.asked: list[tuple[float, str]] = []

    def query(self, promql: str) -> float | None:
        self.asked.append((self.clock.now(), promql))
        self.clock.t += self.latency
        answers = self.script[promql]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, errors.MetricsError):
            raise answer
        return answer

    def check_online(self) -> None:
        return None


VARS = analysis.Variables(
    namespace="shop",
    service="web",
    stable="web",
    canary="web-canary",
    stable_pods="web-[a-z0-9]+-[a-z0-9]+",
    canary_pods="web-canary-[a-z0-9]+-[a-z0-9]+",
)
ERR = errors.TransientMetricsError("Prometheus http://p:9090 unreachable (refused)")


def gate(
    script: dict[str, Sequence[Answer]], *, checks: Sequence[Check] | None = None, **limits: float
) -> tuple[analysis.Verdict, FakeProvider, FakeClock]:
    """Run a gate over checks named like their query, each `>= 99`, count 3, interval 10."""
    clock = FakeClock()
    provider = FakeProvider(clock, script)
    checks = checks or [Check(name=q, query=q, min=99) for q in script]
    spec = replace(AnalysisSpec(checks=tuple(checks), interval=10, count=3), **limits)
    return analysis.run_analysis(provider, spec, VARS, clock=clock), provider, clock


def outcomes(verdict: analysis.Verdict) -> list[M]:
    return [m.outcome for m in verdict.measurements]


# -- the gate loop ---------------------------------------------------------------------


def test_no_checks_passes_without_measuring() -> None:
    clock = FakeClock()
    provider = FakeProvider(clock, {})
    verdict = analysis.run_analysis(provider, AnalysisSpec(), VARS, clock=clock)
    assert verdict.passed and verdict.measurements == () and provider.asked == []
    assert clock.sleeps == []


def test_all_rounds_in_range_pass_and_keep_every_value() -> None:
    verdict, provider, clock = gate({"sr": [99.5, 99.9, 100.0]})
    assert verdict.outcome is V.PASSED and verdict.passed
    assert [m.value for m in verdict.measurements] == [99.5, 99.9, 100.0]
    assert verdict.message == "sr 100 >= 99 (3 of 3 passed)"
    assert clock.sleeps == [10, 10]
    assert [t for t, _ in provider.asked] == [1000, 1010, 1020]


def test_initial_delay_comes_first_and_rounds_keep_their_cadence_despite_slow_queries() -> None:
    clock = FakeClock()
    provider = FakeProvider(clock, {"q": [100.0]}, latency=0.5)
    spec = AnalysisSpec(checks=(Check("q", "q", min=1),), interval=5, count=3, initial_delay=30)
    verdict = analysis.run_analysis(provider, spec, VARS, clock=clock)
    assert verdict.passed
    assert [t for t, _ in provider.asked] == [1030, 1035, 1040]
    assert clock.sleeps == [30, 4.5, 4.5]
    assert [m.at for m in verdict.measurements] == [1030, 1035, 1040]


def test_bounds_are_inclusive() -> None:
    checks = [Check("q", "q", min=99, max=100)]
    assert gate({"q": [99.0, 100.0]}, checks=checks)[0].passed


def test_first_failure_fails_at_once_with_failure_limit_zero() -> None:
    verdict, provider, _ = gate({"sr": [80.123]})
    assert verdict.outcome is V.FAILED and not verdict.passed
    assert len(provider.asked) == 1
    assert verdict.message == "sr 80.123 < min 99 (1 of 1 failed)"
    assert verdict.measurements[0].value == 80.123


def test_failures_are_tolerated_up_to_failure_limit() -> None:
    verdict, _, _ = gate({"sr": [80.0, 99.5, 80.0]}, failure_limit=1)
    assert verdict.outcome is V.FAILED
    assert outcomes(verdict) == [M.FAIL, M.PASS, M.FAIL]
    assert verdict.message == "sr 80 < min 99 (2 of 3 failed)"
    assert gate({"sr": [80.0, 99.5, 99.5]}, failure_limit=1)[0].passed


def test_a_value_above_max_fails_naming_the_max() -> None:
    checks = [Check("latency-p99", "lat", max=300)]
    verdict, _, _ = gate({"lat": [612.34]}, checks=checks)
    assert verdict.outcome is V.FAILED
    assert verdict.message == "latency-p99 612.34 > max 300 (1 of 1 failed)"


@pytest.mark.parametrize("no_data", [None, math.nan])
def test_no_data_is_inconclusive_never_a_pass(no_data: float | None) -> None:
    verdict, provider, _ = gate({"sr": [no_data]})
    assert verdict.outcome is V.INCONCLUSIVE and not verdict.passed
    assert len(provider.asked) == 1
    assert verdict.measurements[0].value is None
    assert verdict.message.startswith("sr returned no data (1 of 1 inconclusive, limit 0)")


def test_inconclusive_results_are_tolerated_up_to_inconclusive_limit() -> None:
    verdict, _, _ = gate({"sr": [None, 99.5, None]}, inconclusive_limit=1)
    assert verdict.outcome is V.INCONCLUSIVE and len(verdict.measurements) == 3
    assert gate({"sr": [None, 99.5, 99.5]}, inconclusive_limit=1)[0].passed


def test_only_missing_data_within_the_limit_still_does_not_pass() -> None:
    verdict, _, _ = gate({"sr": [None]}, inconclusive_limit=10)
    assert verdict.outcome is V.INCONCLUSIVE and len(verdict.measurements) == 3
    assert "3 of 3 inconclusive)" in verdict.message


def test_errors_in_a_row_beyond_the_limit_end_in_error() -> None:
    verdict, _, _ = gate({"sr": [ERR]}, count=5, consecutive_error_limit=2)
    assert verdict.outcome is V.ERROR and outcomes(verdict) == [M.ERROR] * 3
    assert verdict.message.startswith("sr query failed 3 times in a row (limit 2): Prometheus")
    assert verdict.measurements[0].error == str(ERR)


def test_a_good_answer_resets_the_error_streak() -> None:
    script = {"sr": [ERR, ERR, 99.5, ERR, ERR]}
    verdict, _, _ = gate(script, count=5, consecutive_error_limit=2)
    assert verdict.passed and outcomes(verdict).count(M.ERROR) == 4


def test_a_check_that_never_measured_is_an_error() -> None:
    verdict, _, _ = gate({"sr": [ERR]}, count=2, consecutive_error_limit=5)
    assert verdict.outcome is V.ERROR
    assert verdict.message.startswith("sr never measured (2 query errors)")


def test_tolerated_failures_without_any_pass_still_fail() -> None:
    verdict, _, _ = gate({"sr": [80.0]}, failure_limit=5)
    assert verdict.outcome is V.FAILED and len(verdict.measurements) == 3
    assert verdict.message == "sr 80 < min 99 (3 of 3 failed), none passed"


def test_limits_count_per_check_and_the_failing_check_is_named() -> None:
    verdict, _, _ = gate({"a": [99.5], "b": [99.5, 50.0]}, failure_limit=1)
    assert verdict.outcome is V.FAILED
    assert [m.check for m in verdict.measurements] == ["a", "b", "a", "b", "a", "b"]
    assert verdict.message == "b 50 < min 99 (2 of 3 failed)"


def test_on_measurement_sees_each_measurement_as_it_is_taken() -> None:
    seen: list[analysis.Measurement] = []
    clock = FakeClock()
    provider = FakeProvider(clock, {"a": [99.5], "b": [99.9]})
    spec = AnalysisSpec(checks=(Check("a", "a", min=99), Check("b", "b", min=99)), count=2)
    verdict = analysis.run_analysis(provider, spec, VARS, clock=clock, on_measurement=seen.append)
    assert tuple(seen) == verdict.measurements and len(seen) == 4
    assert verdict.message == "a 99.5 >= 99 (2 of 2 passed); b 99.9 >= 99 (2 of 2 passed)"


def test_only_metrics_errors_are_measurements_anything_else_propagates() -> None:
    class Broken(FakeProvider):
        def query(self, promql: str) -> float | None:
            raise RuntimeError("bug")

    clock = FakeClock()
    spec = AnalysisSpec(checks=(Check("q", "q", min=1),))
    with pytest.raises(RuntimeError, match="bug"):
        analysis.run_analysis(Broken(clock, {}), spec, VARS, clock=clock)


def test_a_bad_spec_is_refused_before_any_query_or_wait() -> None:
    clock = FakeClock()
    provider = FakeProvider(clock, {"q": [1.0]})
    spec = AnalysisSpec(
        checks=(Check("q", "q", min=1), Check("bad", "{{nope}}", min=1)), initial_delay=60
    )
    with pytest.raises(errors.SpecError, match=r"check bad: unknown variable \{\{nope\}\}"):
        analysis.run_analysis(provider, spec, VARS, clock=clock)
    assert provider.asked == [] and clock.sleeps == []


def test_measurement_json_is_plain_data() -> None:
    m = analysis.Measurement("lat", math.inf, M.FAIL, 1.0, "q")
    assert analysis.measurement_json(m) == {
        "check": "lat",
        "value": "inf",
        "outcome": "fail",
        "at": 1.0,
        "query": "q",
        "error": None,
    }


def test_system_clock_sleeps_for_real() -> None:
    clock = analysis.SystemClock()
    before = time.monotonic()
    clock.sleep(0.02)
    clock.sleep(-1)  # a late round: no sleep, no error
    assert time.monotonic() - before >= 0.02
    assert abs(clock.now() - time.time()) < 1
