"""The live TTY view: the current step highlighted, ready pods of each version, each
check's latest value against its pass range, and the time since the command started."""

from __future__ import annotations

import io
import re

from rich.console import Console

from rollout import analysis
from rollout.report import LiveReporter
from rollout.spec import AnalysisSpec, Check, ImageChange, ObjectRef, RolloutSpec, StrategyKind
from rollout.state import RolloutRecord, StepRecord

HIGHLIGHT = "\x1b[1;7m"  # rich's `bold reverse` on a terminal
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class FakeClock:
    """Monotonic seconds that the test moves on."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _record() -> RolloutRecord:
    checks = (Check("success-rate", min=95.0), Check("latency-p99", max=300.0))
    spec = RolloutSpec(
        ObjectRef("shop", "web"),
        StrategyKind.ROLLING,
        images=(ImageChange(None, "v2"),),
        analysis=AnalysisSpec(checks=checks),
    )
    record = RolloutRecord(StrategyKind.ROLLING, spec, target_images={"web": "app:v2"})
    record.steps = [
        StepRecord("batch 25%", outcome="passed", weight=25),
        StepRecord("batch 50%", outcome="running", weight=50),
        StepRecord("batch 100%", weight=100),
    ]
    record.step = 1
    return record


def _measurement(
    check: str, value: float | None, outcome: analysis.MeasurementOutcome
) -> analysis.Measurement:
    return analysis.Measurement(check, value, outcome, at=1.7e9, query=f"query of {check}")


def test_live_view_shows_current_step_ready_pods_values_against_ranges_and_elapsed() -> None:
    out, clock = io.StringIO(), FakeClock()
    view = LiveReporter(Console(file=out, force_terminal=True, width=120), clock=clock)
    view.update(_record())
    view.replicas(old=3, new=2)
    view.measurement(_measurement("success-rate", 99.5, analysis.MeasurementOutcome.PASS))
    view.measurement(_measurement("latency-p99", 412.0, analysis.MeasurementOutcome.FAIL))
    clock.now += 42
    out.seek(0)
    out.truncate()

    view.close()  # the last frame, as it stays on the terminal

    raw = out.getvalue()
    lines = ANSI.sub("", raw).splitlines()
    assert any("[Progressing, 42s]" in line for line in lines), lines
    assert any("ready pods: old 3, new 2" in line for line in lines), lines
    highlighted = [ANSI.sub("", line) for line in raw.splitlines() if HIGHLIGHT in line]
    assert highlighted and all("batch 50%" in line for line in highlighted), highlighted
    rate = next(line for line in lines if "success-rate" in line)
    assert re.search(r"99\.5 .*pass.*>= 95", rate), rate
    p99 = next(line for line in lines if "latency-p99" in line)
    assert re.search(r"412 .*fail.*<= 300", p99), p99
    assert not any("query of" in line for line in lines)  # the range, not the query


def test_live_view_highlights_nothing_once_the_rollout_is_over() -> None:
    out = io.StringIO()
    view = LiveReporter(Console(file=out, force_terminal=True, width=120), clock=FakeClock())
    record = _record()
    record.move_to(record.phase.FAILED, "success-rate 80 < min 95")
    view.update(record)
    out.seek(0)
    out.truncate()

    view.close()

    assert "batch 50%" in ANSI.sub("", out.getvalue())
    assert HIGHLIGHT not in out.getvalue()
    assert "ready pods" not in out.getvalue()  # no counts reported: no line for them
