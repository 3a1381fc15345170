"""Faults and RequestLog without a server: dice, limits, and exact counts."""

from __future__ import annotations

import copy
import time

from rollout.sandbox.faults import Faults, Request, RequestLog


def req(
    verb: str = "get",
    *,
    resource: str = "pods",
    agent: str = "kubectl/v1.30",
    dry_run: bool = False,
) -> Request:
    return Request(verb, resource, "ns", "name", agent, dry_run)


def test_request_log_counts_stay_exact_after_old_entries_are_dropped() -> None:
    log = RequestLog(keep=3)
    for _ in range(5):
        log.record(req("get"), 200)
    log.record(req("patch", dry_run=True), 200)
    log.record(req("patch", agent="rollout/0.1"), 409)
    log.record(req("create", agent="rollout/0.1"), 201)

    assert len(log.entries) == 3
    assert log.by_verb() == {"get": 5, "patch": 2, "create": 1}
    assert log.count(writes=True) == 3
    assert log.count(persisted=True) == 1  # the dry run and the 409 do not count
    assert log.count(user_agent="rollout", code=409) == 1
    log.clear()
    assert log.count() == 0


def test_entries_unpack_as_request_and_code_and_carry_the_time_they_were_recorded() -> None:
    log = RequestLog()
    before = time.monotonic()
    log.record(req("get"), 200)
    after = time.monotonic()

    (entry,) = log.entries
    request, code = entry
    assert (request.verb, code) == ("get", 200)
    assert (entry.request, entry.code) == (request, code)
    assert before <= entry.at <= after
    assert copy.deepcopy(entry).at == entry.at


def test_fault_with_times_stops_after_that_many_hits() -> None:
    faults = Faults(seed=1)
    faults.fail(1.0, 429, verbs={"get"}, retry_after=2, times=2)

    decisions = [faults.decide(req("get")) for _ in range(3)]

    assert [(d.code, d.retry_after) for d in decisions] == [(429, 2), (429, 2), (None, None)]
    assert faults.decide(req("list")).code is None


def test_fault_fraction_fails_about_that_share_of_requests() -> None:
    faults = Faults(seed=3)
    faults.fail(0.1, 503, resources={"pods"})

    failed = sum(faults.decide(req()).code == 503 for _ in range(5000))

    assert 400 <= failed <= 600
    assert faults.decide(req(resource="services")).code is None
