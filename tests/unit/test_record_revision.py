"""The record keeps the target's previous and final revision, and reads records written
before the final one was kept."""

from __future__ import annotations

import json

from rollout.state import RolloutRecord
from tests.record_builders import record_with


def test_previous_and_final_revision_round_trip() -> None:
    record = record_with(steps=1, per_check=1)
    record.previous_revision, record.final_revision = "3", "4"

    back = RolloutRecord.from_annotation(record.to_annotation())

    assert (back.previous_revision, back.final_revision) == ("3", "4")


def test_a_record_without_a_final_revision_reads_as_not_yet_known() -> None:
    body = json.loads(record_with(steps=1, per_check=1).to_annotation())
    del body["finalRevision"]

    assert RolloutRecord.from_annotation(json.dumps(body)).final_revision == ""
