"""The sandbox's own request counters read over a time window, without Prometheus.

`CounterHistory` keeps timestamped snapshots of the traffic model's `/metrics` text
(read through a callable, e.g. `Sandbox.traffic.render`) and answers "how much did the
matching counters grow within the last `window` seconds": the `increase()` a
Prometheus range query would give, exactly rather than extrapolated. On top of that:
the share of failed requests and Prometheus's `histogram_quantile`. Pure Python: no
HTTP, no threads, no sleeping; knows nothing of rollout.
"""

from __future__ import annotations

import collections
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs
SeriesKey = tuple[str, Labels]  # (metric name, labels)
Snapshot = dict[SeriesKey, float]

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def parse_exposition(text: str) -> Snapshot:
    """Samples of a Prometheus text exposition (format 0.0.4), keyed by name and labels."""
    samples: Snapshot = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise ValueError(f"not an exposition sample: {line[:80]!r}")
        labels = tuple(
            sorted(
                (name, re.sub(r"\\[\\\"n]", lambda m: _UNESCAPE[m.group(0)], value))
                for name, value in _LABEL.findall(match["labels"] or "")
            )
        )
        samples[(match["name"], labels)] = float(match["value"])
    return samples


@dataclass(frozen=True, slots=True)
class Matcher:
    """One PromQL label matcher: `label="value"` or, with `regex`, `label=~"value"`."""

    label: str
    value: str
    regex: bool = False

    def matches(self, labels: dict[str, str]) -> bool:
        got = labels.get(self.label, "")
        if self.regex:  # PromQL regexes are anchored at both ends
            return re.fullmatch(self.value, got) is not None
        return got == self.value


class CounterHistory:
    """Timestamped snapshots of counters; `increase()` reads one window of them.

    A snapshot is taken at construction and on every `increase()` call. The baseline of
    a window is the newest snapshot at least `window` old, else the oldest one kept (the
    window is then shorter: it starts when this history began). A series missing from
    the baseline started inside the window, from 0.
    """

    def __init__(self, read: Callable[[], str], *, now: Callable[[], float] = time.monotonic):
        self._read, self._now = read, now
        self._lock = threading.Lock()
        self._snapshots: collections.deque[tuple[float, Snapshot]] = collections.deque()
        self._longest = 0.0
        self._take()

    def increase(
        self, metric: str, matchers: Iterable[Matcher], window: float
    ) -> dict[Labels, float]:
        """How much each series of `metric` that all `matchers` select grew in `window` s."""
        if window <= 0:
            raise ValueError(f"window must be > 0 seconds, got {window}")
        wanted = tuple(matchers)
        with self._lock:
            self._longest = max(self._longest, window)
            now, current = self._take()
            baseline = self._baseline(now - window)
        out: dict[Labels, float] = {}
        for (name, labels), value in current.items():
            if name != metric or not all(m.matches(dict(labels)) for m in wanted):
                continue
            before = baseline.get((name, labels), 0.0)
            out[labels] = value - before if value >= before else value  # a reset: from 0
        return out

    def _take(self) -> tuple[float, Snapshot]:
        taken = (self._now(), parse_exposition(self._read()))
        self._snapshots.append(taken)
        self._prune(taken[0])
        return taken

    def _baseline(self, since: float) -> Snapshot:
        older = [snap for at, snap in self._snapshots if at <= since]
        return older[-1] if older else self._snapshots[0][1]

    def _prune(self, now: float) -> None:
        """Keep one snapshot older than the longest window asked for, and the rest."""
        while len(self._snapshots) > 2 and self._snapshots[1][0] <= now - self._longest:
            self._snapshots.popleft()


def total(increases: dict[Labels, float]) -> float:
    """The sum over series (PromQL `sum(...)`)."""
    return sum(increases.values())


def error_percent(failures: float, requests: float) -> float:
    """100 * failures / requests; NaN when there were no requests (no data)."""
    return math.nan if requests <= 0 else 100.0 * failures / requests


def by_label(increases: dict[Labels, float], label: str) -> dict[str, float]:
    """Sum series by the value of one label (PromQL `sum by (label)`)."""
    out: dict[str, float] = collections.defaultdict(float)
    for labels, value in increases.items():
        out[dict(labels).get(label, "")] += value
    return dict(out)


def histogram_quantile(q: float, buckets: dict[str, float]) -> float:
    """Prometheus's `histogram_quantile(q, ...)` over cumulative counts by `le` bound.

    Linear interpolation inside the bucket holding the rank; the highest finite bound
    when the rank falls in +Inf; NaN when there are no observations or no +Inf bucket.
    """
    if q < 0 or q > 1:
        return -math.inf if q < 0 else math.inf
    bounds = sorted((float(le), count) for le, count in buckets.items())
    if len(bounds) < 2 or bounds[-1][0] != math.inf:
        return math.nan
    counts = [count for _, count in bounds]
    for i in range(1, len(counts)):  # Prometheus's ensureMonotonic
        counts[i] = max(counts[i], counts[i - 1])
    observations = counts[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next((i for i in range(len(counts) - 1) if counts[i] >= rank), len(counts) - 1)
    if b == len(counts) - 1:
        return bounds[-2][0]
    if b == 0 and bounds[0][0] <= 0:
        return bounds[0][0]
    start, end, count = 0.0, bounds[b][0], counts[b]
    if b > 0:
        start, count, rank = bounds[b - 1][0], count - counts[b - 1], rank - counts[b - 1]
    return start + (end - start) * (rank / count)
