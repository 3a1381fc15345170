"""The rollout record stays under its size budget however long the analysis ran, and
says what it left out."""

from __future__ import annotations

import json
from typing import Any

from rollout import record_size
from rollout.state import RolloutRecord
from tests.record_builders import QUERY, measurement, record_with


def test_a_short_record_round_trips_whole_with_each_query_stored_once() -> None:
    record = record_with(steps=3, per_check=3)

    text = record.to_annotation()
    back = RolloutRecord.from_annotation(text)

    assert text.count(QUERY["success-rate"]) == 3  # once per step, not once per measurement
    assert [s.measurements for s in back.steps] == [s.measurements for s in record.steps]
    assert [s.trimmed for s in back.steps] == [0, 0, 0]


def test_an_hour_of_analysis_per_step_is_trimmed_oldest_first_under_the_budget() -> None:
    record = record_with(steps=10, per_check=360)  # 10 s interval for an hour, two checks
    untrimmed = sum(len(record_size.dumps(m)) for s in record.steps for m in s.measurements)
    assert untrimmed > 256 * 1024  # the API server would refuse this as one annotation

    text = record.to_annotation()
    back = RolloutRecord.from_annotation(text)

    assert len(text) <= record_size.BUDGET
    kept = [len(s.measurements) for s in back.steps]
    assert [k + s.trimmed for k, s in zip(kept, back.steps, strict=True)] == [720] * 10
    assert back.steps[0].trimmed > 0 and back.steps[-1].trimmed == 0  # oldest steps first
    first = back.steps[0].measurements
    # what stays of a trimmed step is its latest measurements, queries restored
    assert [m["at"] for m in first[-2:]] == [1.7e9 + 359, 1.7e9 + 359]
    assert all(m["query"] == QUERY[m["check"]] for s in back.steps for m in s.measurements)


def test_the_last_measurements_of_every_check_stay_even_over_budget() -> None:
    record = record_with(steps=2, per_check=50)

    back = RolloutRecord.from_annotation(record_size.fit(_body(record), budget=1))

    for step in back.steps:
        assert step.trimmed == 2 * (50 - record_size.KEEP)
        assert [m["at"] for m in step.measurements if m["check"] == "latency-p99"] == [
            1.7e9 + i for i in range(50 - record_size.KEEP, 50)
        ]


def test_a_record_read_back_keeps_its_count_and_further_trimming_adds_to_it() -> None:
    record = record_with(steps=1, per_check=50)
    once = RolloutRecord.from_annotation(record_size.fit(_body(record), budget=1))
    assert once.steps[0].trimmed == 2 * (50 - record_size.KEEP)
    # the step goes on (a resumed process): ten more rounds of both checks
    once.steps[0].measurements += [measurement(c, i) for i in range(50, 60) for c in QUERY]

    again = RolloutRecord.from_annotation(record_size.fit(_body(once), budget=1))

    assert again.steps[0].trimmed == 2 * (60 - record_size.KEEP)
    assert [m["at"] for m in again.steps[0].measurements][-2:] == [1.7e9 + 59] * 2


def test_a_second_query_for_the_same_check_in_a_step_is_kept_with_itsmeasurement() -> None:
    steps = [{"name": "s", "measurements": [
        {"check": "c", "query": "q1", "value": 1}, {"check": "c", "query": "q2", "value": 2},
    ]}]  # fmt: skip

    compacted = record_size.compact(steps)

    assert compacted[0]["queries"] == {"c": "q1"}
    assert record_size.expand(compacted) == [
        {"name": "s", "measurements": [
            {"check": "c", "query": "q1", "value": 1}, {"check": "c", "query": "q2", "value": 2},
        ]},
    ]  # fmt: skip


def _body(record: RolloutRecord) -> dict[str, Any]:
    """The record's JSON as to_annotation builds it, before fitting."""
    body: dict[str, Any] = json.loads(record.to_annotation())
    body["steps"] = record_size.expand(body["steps"])
    return body
