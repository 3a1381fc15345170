"""Human and machine output: structlog set-up, the live TTY view, log lines, and the
`-o json` result. The only module that prints (besides click's own help/usage).
"""

from __future__ import annotations

import datetime
import enum
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import structlog

from rollout import analysis
from rollout.spec import ObjectRef
from rollout.state import RolloutRecord

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

RESULT_SCHEMA = 1


class Outcome(enum.Enum):
    """How a command ended; `exit_code` is the CI contract (README "Exit codes")."""

    PROMOTED = "promoted"  # new version live and healthy
    UNCHANGED = "unchanged"  # nothing to do (image already running) or a request was left
    DRY_RUN = "dry-run"
    ROLLED_BACK = "rolled-back"  # failed a gate; stable restored
    ABORTED = "aborted"  # `rollout abort` did what it was asked
    PAUSED = "paused"  # waiting for `rollout promote`
    LEFT = "left"  # interrupted with --on-interrupt leave

    @property
    def exit_code(self) -> int:
        return {Outcome.ROLLED_BACK: 1, Outcome.PAUSED: 4, Outcome.LEFT: 4}.get(self, 0)


@dataclass(frozen=True, slots=True)
class Result:
    """What a command did; `record` is the final rollout record (None for dry runs)."""

    outcome: Outcome
    target: ObjectRef
    message: str
    record: RolloutRecord | None = None
    plan: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code


class Reporter:
    """Receives progress; report.py implements the TTY view and the log lines."""

    shows_replicas = False  # True: the engine watches ReplicaSets and calls `replicas`

    def update(self, record: RolloutRecord) -> None:
        """The record changed (a step started/finished, a phase changed)."""

    def measurement(self, m: analysis.Measurement) -> None:
        """One analysis measurement was taken."""

    def replicas(self, *, old: int, new: int) -> None:
        """Ready pods of the old and the new version changed (when `shows_replicas`)."""

    def close(self) -> None:
        """The command is over (stop any live display)."""


class _Stderr:
    """Writes to whatever `sys.stderr` is at write time (rich's live view swaps it, so log
    lines print above the table instead of being overwritten)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(*, log_format: str, verbose: int, stream: IO[str] | None = None) -> None:
    """structlog to stderr: `text` (key=value) or `json` lines; -v shows debug."""
    level = logging.DEBUG if verbose > 0 else logging.INFO
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream or _Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


class LogReporter(Reporter):
    """Off a TTY: one structured line per step change and per measurement."""

    def __init__(self) -> None:
        self.log = structlog.get_logger("rollout.report")
        self._seen: dict[int, str] = {}

    def update(self, record: RolloutRecord) -> None:
        for i, step in enumerate(record.steps):
            if self._seen.get(i) != step.outcome:
                self._seen[i] = step.outcome
                if step.outcome != "pending":
                    self.log.info(
                        "step." + step.outcome,
                        step=step.name,
                        index=i,
                        weight=step.weight,
                        phase=record.phase.value,
                    )

    def measurement(self, m: analysis.Measurement) -> None:
        """Nothing: analysis already logs `analysis.measured` with the range."""


class LiveReporter(Reporter):
    """On a TTY: a rich live table of the steps (the current one highlighted), the ready
    pods of each version, and each check's latest value against its pass range."""

    shows_replicas = True

    def __init__(
        self, console: Console | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console(file=sys.stderr)
        self.clock = clock
        self.started = clock()
        self.latest: dict[str, analysis.Measurement] = {}
        self.ready: tuple[int, int] | None = None  # (old, new)
        self.record: RolloutRecord | None = None
        self.live = Live(
            console=self.console,
            refresh_per_second=4,
            transient=False,
            get_renderable=self.render,
            redirect_stderr=True,
        )
        self.live.start()

    def update(self, record: RolloutRecord) -> None:
        self.record = record  # the live view re-renders (and ticks the clock) by itself

    def measurement(self, m: analysis.Measurement) -> None:
        self.latest[m.check] = m

    def replicas(self, *, old: int, new: int) -> None:
        self.ready = (old, new)

    def close(self) -> None:
        self.live.stop()

    def render(self) -> RenderableType:
        """The view as it is now (rich calls this at every refresh)."""
        from rich.table import Table
        from rich.text import Text

        record = self.record
        elapsed = self.clock() - self.started
        if record is None:
            return Text(f"preparing... {elapsed:.0f}s")
        table = Table(
            title=f"{record.strategy.value} {record.spec.target} -> "
            f"{', '.join(record.target_images.values())}   "
            f"[{record.phase.value}, {elapsed:.0f}s]",
            caption=None
            if self.ready is None
            else f"ready pods: old {self.ready[0]}, new {self.ready[1]}",
            expand=False,
        )
        for column in ("#", "step", "traffic", "state", "note"):
            table.add_column(column)
        for i, step in enumerate(record.steps):
            style = "bold reverse" if i == record.step and not record.phase.is_terminal else ""
            traffic = f"{step.weight}%" if step.weight is not None else ""
            if step.achieved is not None:
                traffic += f" ({step.achieved:.0f}% seen)"
            table.add_row(str(i + 1), step.name, traffic, step.outcome, step.message, style=style)
        bounds = _bounds(record)
        for m in self.latest.values():
            value = "no data" if m.value is None else f"{m.value:.4g}"
            table.add_row("", f"  {m.check}", value, m.outcome.value, bounds.get(m.check, ""))
        return table


def _bounds(record: RolloutRecord) -> dict[str, str]:
    """Each check's pass range as text, by check name."""
    spec = record.spec
    checks = spec.analysis.checks + spec.pre_promotion_checks + spec.post_promotion_checks
    return {c.name: analysis.pass_range(c) for c in checks}


def result_json(result: Result) -> dict[str, Any]:
    """The `-o json` document (schema in the README)."""
    record = result.record
    out: dict[str, Any] = {
        "schema": RESULT_SCHEMA,
        "target": str(result.target),
        "outcome": result.outcome.value,
        "exitCode": result.exit_code,
        "message": result.message,
    }
    if result.plan:
        out["plan"] = list(result.plan)
    if record is not None:
        out.update(
            strategy=record.strategy.value,
            phase=record.phase.value,
            images={"previous": record.previous_images, "target": record.target_images},
            previousRevision=record.previous_revision,
            finalRevision=record.final_revision or None,
            started=record.started,
            finished=record.finished,
            steps=[
                {
                    "name": s.name,
                    "outcome": s.outcome,
                    "weight": s.weight,
                    "achieved": s.achieved,
                    "started": s.started,
                    "finished": s.finished,
                    "seconds": _seconds(s.started, s.finished),
                    "message": s.message,
                    "measurements": s.measurements,
                    "trimmed": s.trimmed,
                }
                for s in record.steps
            ],
        )
    return out


def print_result(result: Result, *, output: str, stream: IO[str] | None = None) -> None:
    """The final word: the JSON document, or one line for humans."""
    stream = stream or sys.stdout
    if output == "json":
        stream.write(json.dumps(result_json(result), indent=2) + "\n")
    else:
        stream.write(f"{result.outcome.value}: {result.message}\n")


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    parse = datetime.datetime.fromisoformat
    return round(
        (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds(), 3
    )
