"""Keeping the rollout record small: it is an annotation, and all of a Deployment's
annotations together may hold at most 256 KiB (the API server refuses more with a 422).

In the record (not in memory, not in `-o json`) each step names a check's query once, in
`queries`, instead of in every measurement. When the record would still be larger than
BUDGET, the oldest measurements are left out, oldest step first, keeping the last KEEP
of every check of every step; the step's `trimmed` counts what was left out. Pure
functions over the record's JSON.
"""

from __future__ import annotations

import collections
import json
from typing import Any

Step = dict[str, Any]
BUDGET = 128 * 1024  # bytes of record: half the limit leaves room for others' annotations
KEEP = 5  # latest measurements kept per check and step, whatever the size


def dumps(body: Any) -> str:
    """Compact, sorted, ASCII JSON (so characters are bytes)."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def compact(steps: list[Step]) -> list[Step]:
    """Copies of `steps` whose measurements leave their query to the step's `queries`."""
    out = []
    for step in steps:
        queries: dict[str, Any] = {}
        measurements = []
        for m in step.get("measurements") or []:
            m = dict(m)
            query = m.pop("query", None)
            if queries.setdefault(m.get("check", ""), query) != query:
                m["query"] = query  # another query for the same check: it stays here
            measurements.append(m)
        out.append({**step, "measurements": measurements, "queries": queries})
    return out


def expand(steps: list[Step]) -> list[Step]:
    """The inverse of `compact`: every measurement names its query again."""
    out = []
    for step in steps:
        step = dict(step)
        queries = step.pop("queries", None) or {}
        step["measurements"] = [
            {"query": queries.get(m.get("check", "")), **m} for m in step.get("measurements") or []
        ]
        out.append(step)
    return out


def trim(steps: list[Step], excess: int) -> None:
    """Leave out the oldest measurements of `steps` (in place) until about `excess` bytes
    are gone, or only the last KEEP of each check of each step remain."""
    for step in steps:
        if excess <= 0:
            return
        measurements = step.get("measurements") or []
        by_check: dict[str, list[int]] = collections.defaultdict(list)
        for i, m in enumerate(measurements):
            by_check[m.get("check", "")].append(i)
        left_out: set[int] = set()
        for i in sorted(i for kept in by_check.values() for i in kept[:-KEEP]):
            if excess <= 0:
                break
            excess -= len(dumps(measurements[i])) + 1  # the comma
            left_out.add(i)
        if left_out:
            step["measurements"] = [m for i, m in enumerate(measurements) if i not in left_out]
            step["trimmed"] = int(step.get("trimmed") or 0) + len(left_out)


def fit(body: dict[str, Any], budget: int = BUDGET) -> str:
    """`body` (with `steps`) as record JSON: compacted, trimmed to `budget` if it must be."""
    body = {**body, "steps": compact(body["steps"])}
    text = dumps(body)
    while len(text) > budget:  # again if the `trimmed` counts' digits made up for it
        trim(body["steps"], len(text) - budget)
        shorter = dumps(body)
        if len(shorter) == len(text):  # only the last KEEP of each check are left
            return shorter
        text = shorter
    return text
