"""Fault injection and request accounting for the sandbox API.

Tests arm faults explicitly (`sandbox.faults.fail(...)`) and read `sandbox.requests`;
nothing is monkeypatched. The API layer asks `decide()` once per request.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
RESET = 0  # a "code" that means: drop the connection (TCP RST) without answering


@dataclass(frozen=True, slots=True)
class Request:
    """One API request as the sandbox classified it."""

    verb: str  # get, list, watch, create, update, patch, delete, deletecollection
    resource: str  # plural (+ "/subresource", e.g. deployments/scale), or a non-resource path
    namespace: str
    name: str
    user_agent: str
    dry_run: bool = False


@dataclass(slots=True)
class FaultRule:
    """Fail (code) or delay (latency) a fraction of matching requests."""

    fraction: float
    code: int | None = None
    latency: float = 0.0
    verbs: frozenset[str] | None = None
    resources: frozenset[str] | None = None
    retry_after: int | None = None
    remaining: int | None = None  # stop after this many hits

    def applies(self, req: Request) -> bool:
        resource = req.resource.split("/")[0]
        return (
            (self.verbs is None or req.verb in self.verbs)
            and (
                self.resources is None
                or resource in self.resources
                or req.resource in self.resources
            )
            and (self.remaining is None or self.remaining > 0)
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one request: delay it, then fail it with `code` or serve it."""

    latency: float = 0.0
    code: int | None = None
    retry_after: int | None = None


@dataclass
class Faults:
    """The armed faults; thread-safe."""

    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)
    watch_cut_after: float | None = None  # seconds a watch stream lives before being cut
    _random: random.Random = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def fail(
        self,
        fraction: float,
        code: int = 503,
        *,
        verbs: set[str] | None = None,
        resources: set[str] | None = None,
        retry_after: int | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Answer `fraction` of matching requests with `code` (429 gets Retry-After)."""
        rule = FaultRule(
            fraction,
            code=code,
            verbs=_freeze(verbs),
            resources=_freeze(resources),
            retry_after=retry_after,
            remaining=times,
        )
        with self._lock:
            self.rules.append(rule)
        return rule

    def reset(
        self,
        fraction: float,
        *,
        verbs: set[str] | None = None,
        resources: set[str] | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Reset the connection of `fraction` of matching requests instead of answering
        (a restarting API server or load balancer); logged with code RESET (0)."""
        return self.fail(fraction, RESET, verbs=verbs, resources=resources, times=times)

    def delay(
        self,
        seconds: float,
        *,
        fraction: float = 1.0,
        verbs: set[str] | None = None,
        resources: set[str] | None = None,
    ) -> FaultRule:
        """Add `seconds` of latency to `fraction` of matching requests."""
        rule = FaultRule(
            fraction, latency=seconds, verbs=_freeze(verbs), resources=_freeze(resources)
        )
        with self._lock:
            self.rules.append(rule)
        return rule

    def cut_watches(self, after: float | None) -> None:
        """End every watch stream `after` seconds from its start (None: never)."""
        self.watch_cut_after = after

    def clear(self) -> None:
        """Disarm everything."""
        with self._lock:
            self.rules.clear()
        self.watch_cut_after = None

    def decide(self, req: Request) -> Decision:
        """Roll the dice for one request."""
        latency, code, retry_after = 0.0, None, None
        with self._lock:
            for rule in self.rules:
                if not rule.applies(req) or self._random.random() >= rule.fraction:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                latency += rule.latency
                if rule.code is not None and code is None:
                    code, retry_after = rule.code, rule.retry_after
        return Decision(latency, code, retry_after)


class _Answered(NamedTuple):
    request: Request
    code: int


class Entry(_Answered):
    """One logged request: unpacks as `(request, code)`, and `at` is when it was recorded
    (`time.monotonic()`), so a test or benchmark can time reactions from the log."""

    at: float

    def __new__(cls, request: Request, code: int, at: float) -> Entry:
        entry = super().__new__(cls, request, code)
        entry.at = at
        return entry

    def __getnewargs__(self) -> tuple[Request, int, float]:
        return self.request, self.code, self.at


class RequestLog:
    """Every request the API served (or failed), countable by verb/resource/user agent.

    Counts are exact over the log's whole life; `entries` keeps only the most recent
    `keep` requests (with their status codes and times) so a long-running sandbox stays
    bounded. Non-resource requests (`/version`, `/api`, ...) are logged with their path
    as the resource.
    """

    def __init__(self, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self.entries: collections.deque[Entry] = collections.deque(maxlen=keep)
        self._totals: collections.Counter[tuple[str, str, str, bool, int]] = collections.Counter()

    def record(self, req: Request, code: int) -> None:
        """Log one answered request, stamped with `time.monotonic()`."""
        with self._lock:
            self.entries.append(Entry(req, code, time.monotonic()))
            self._totals[(req.verb, req.resource, req.user_agent, req.dry_run, code)] += 1

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self._totals.clear()

    def count(
        self,
        *,
        verb: str | None = None,
        resource: str | None = None,
        user_agent: str | None = None,
        code: int | None = None,
        writes: bool = False,
        persisted: bool = False,
    ) -> int:
        """Requests matching every given filter (`user_agent`: a substring; `code`: the status
        answered; `writes`: mutating verbs only; `persisted`: successful, non-dry-run writes)."""
        with self._lock:
            totals = list(self._totals.items())
        return sum(
            n
            for (req_verb, req_resource, req_agent, dry_run, answered), n in totals
            if (verb is None or req_verb == verb)
            and (resource is None or req_resource == resource)
            and (user_agent is None or user_agent in req_agent)
            and (code is None or answered == code)
            and (not writes or req_verb in WRITE_VERBS)
            and (not persisted or (req_verb in WRITE_VERBS and not dry_run and answered < 400))
        )

    def by_verb(self) -> dict[str, int]:
        """Count of requests per verb."""
        counts: collections.Counter[str] = collections.Counter()
        with self._lock:
            for (verb, *_), n in self._totals.items():
                counts[verb] += n
        return dict(counts)


def _freeze(values: set[str] | None) -> frozenset[str] | None:
    return frozenset(values) if values is not None else None
