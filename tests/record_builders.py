"""Rollout records with as many analysis measurements as a test needs."""

from __future__ import annotations

from typing import Any

from rollout.spec import ObjectRef, RolloutSpec, StrategyKind
from rollout.state import RolloutRecord, StepRecord

QUERY = {  # the length of a built-in template once filled in
    "success-rate": "100 - 100 * (sum(rate(http_requests_total{...5..}[60s])) ...)" * 5,
    "latency-p99": "1000 * histogram_quantile(0.99, sum by (le) (rate(...)))" * 5,
}


def measurement(check: str, i: int) -> dict[str, Any]:
    """Round `i` of `check`: a pass, with its query."""
    return {"check": check, "value": 99.0 + i / 1e4, "outcome": "pass", "at": 1.7e9 + i,
            "query": QUERY[check], "error": None}  # fmt: skip


def record_with(steps: int, per_check: int) -> RolloutRecord:
    """A canary record of `steps` passed steps, each `per_check` rounds of both checks."""
    record = RolloutRecord(
        StrategyKind.CANARY, RolloutSpec(ObjectRef("shop", "web"), StrategyKind.CANARY)
    )
    record.steps = [
        StepRecord(f"canary {10 * (n + 1)}%", outcome="passed",
                   measurements=[measurement(c, i) for i in range(per_check) for c in QUERY])
        for n in range(steps)
    ]  # fmt: skip
    return record
