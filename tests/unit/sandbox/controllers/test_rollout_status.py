"""Unit tests for the Deployment status counts and conditions in rollout_status."""

from __future__ import annotations

import functools

from rollout.sandbox.controllers import rollout_scaling as scaling
from rollout.sandbox.controllers import rollout_status as rstatus


def rolling(
    desired: int = 10,
    surge: scaling.IntOrPercent = "25%",
    unavailable: scaling.IntOrPercent = "25%",
) -> scaling.DeploymentParams:
    return scaling.DeploymentParams(desired, max_surge=surge, max_unavailable=unavailable)


def test_deployment_status_counts_like_calculate_status() -> None:
    new = scaling.RSState("new", 5, available=2, ready=3, actual=4)
    old = scaling.RSState("old", 8, available=8, ready=8, actual=9)

    status = rstatus.deployment_status(new, [old])

    assert status == rstatus.StatusCounts(
        replicas=13,
        updated_replicas=4,
        ready_replicas=11,
        available_replicas=10,
        unavailable_replicas=3,
    )


def test_available_condition_needs_desired_minus_max_unavailable() -> None:
    at_bar = rstatus.StatusCounts(available_replicas=8)
    below = rstatus.StatusCounts(available_replicas=7)

    ok = rstatus.available_condition(None, spec=rolling(10), status=at_bar, now=5.0)
    lost = rstatus.available_condition(ok, spec=rolling(10), status=below, now=9.0)

    assert (ok.status, ok.reason) == (rstatus.ConditionStatus.TRUE, rstatus.Reason.MIN_AVAILABLE)
    assert (lost.status, lost.reason, lost.last_transition) == (
        rstatus.ConditionStatus.FALSE,
        rstatus.Reason.MIN_UNAVAILABLE,
        9.0,
    )
    assert rstatus.available_condition(ok, spec=rolling(10), status=at_bar, now=20.0) is ok


STEADY = rstatus.StatusCounts(replicas=10, available_replicas=10)
MOVED = rstatus.StatusCounts(replicas=13, updated_replicas=3, available_replicas=10)
DONE = rstatus.StatusCounts(replicas=10, updated_replicas=10, available_replicas=10)
PROGRESS = functools.partial(
    rstatus.progressing_condition, desired=10, deployment="web", new_rs="web-abc"
)


def progressing(
    current: rstatus.Condition | None,
    *,
    now: float,
    previous: rstatus.StatusCounts = STEADY,
    status: rstatus.StatusCounts = STEADY,
    created: bool = False,
    paused: bool = False,
) -> rstatus.Condition:
    cond = PROGRESS(
        current,
        previous=previous,
        status=status,
        deadline_seconds=600,
        now=now,
        created_new_rs=created,
        paused=paused,
    )
    assert cond is not None
    return cond


def check_delay(cond: rstatus.Condition, status: rstatus.StatusCounts, now: float) -> float | None:
    return rstatus.progress_check_delay(
        cond, status=status, desired=10, deadline_seconds=600, now=now
    )


def test_progress_reports_new_replica_set_created_then_replica_set_updated() -> None:
    created = progressing(None, now=0.0, created=True)
    moved = progressing(created, now=30.0, status=MOVED)

    assert (created.reason, created.message) == (
        rstatus.Reason.NEW_RS_CREATED,
        'Created new replica set "web-abc"',
    )
    assert (moved.reason, moved.last_update, moved.last_transition) == (
        rstatus.Reason.RS_UPDATED,
        30,
        0,
    )


def test_progress_deadline_exceeded_only_after_deadline_without_progress() -> None:
    start = progressing(None, now=0.0, created=True)
    late = progressing(start, now=600.5)

    assert progressing(start, now=600.0) is start
    assert (late.status, late.reason) == (rstatus.ConditionStatus.FALSE, rstatus.Reason.TIMED_OUT)
    assert late.message == 'ReplicaSet "web-abc" has timed out progressing.'


def test_paused_deployment_does_not_time_out() -> None:
    paused = progressing(progressing(None, now=0.0, created=True), now=5000.0, paused=True)
    resumed = progressing(paused, now=6000.0)

    assert (paused.status, paused.reason) == (
        rstatus.ConditionStatus.UNKNOWN,
        rstatus.Reason.PAUSED,
    )
    assert progressing(paused, now=9000.0, paused=True) is paused
    assert resumed.reason is rstatus.Reason.RESUMED
    assert progressing(resumed, now=6600.0) is resumed  # the deadline restarts on resume
    assert progressing(resumed, now=6601.0).reason is rstatus.Reason.TIMED_OUT


def test_complete_rollout_reports_new_replica_set_available_and_stays_so() -> None:
    done = progressing(progressing(None, now=0.0, created=True), now=50.0, status=DONE)

    assert (done.status, done.reason) == (
        rstatus.ConditionStatus.TRUE,
        rstatus.Reason.NEW_RS_AVAILABLE,
    )
    assert progressing(done, now=99999.0, previous=DONE, status=DONE) is done
    assert check_delay(done, DONE, now=60.0) is None


def test_progress_check_is_scheduled_for_when_the_deadline_passes() -> None:
    start = progressing(None, now=0.0, created=True)

    assert check_delay(start, MOVED, now=100.0) == 501.0
    assert check_delay(start, MOVED, now=599.5) == 0.0


def test_existing_new_replica_set_is_reported_found_and_no_deadline_means_no_condition() -> None:
    no_deadline = PROGRESS(None, previous=STEADY, status=STEADY, deadline_seconds=None, now=1.0)

    assert progressing(None, now=1.0).reason is rstatus.Reason.FOUND_NEW_RS
    assert no_deadline is None
