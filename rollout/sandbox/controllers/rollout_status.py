"""Status of a Deployment as the upstream controller reports it: replica counts and the
Available / Progressing conditions, including the progress deadline.

Mirrors pkg/controller/deployment (sync.go's calculateStatus, progress.go) and the
condition helpers of util/deployment_util.go. Pure: no I/O, never touches the store.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rollout.sandbox.controllers.rollout_scaling import MAX_INT32, DeploymentParams, RSState


class ConditionStatus(enum.Enum):
    """Status of a Deployment condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


_TRUE, _FALSE, _UNKNOWN = ConditionStatus.TRUE, ConditionStatus.FALSE, ConditionStatus.UNKNOWN


class Reason(enum.Enum):
    """Reasons upstream puts on the Progressing and Available conditions."""

    NEW_RS_CREATED = "NewReplicaSetCreated"
    FOUND_NEW_RS = "FoundNewReplicaSet"
    RS_UPDATED = "ReplicaSetUpdated"
    NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
    TIMED_OUT = "ProgressDeadlineExceeded"
    PAUSED = "DeploymentPaused"
    RESUMED = "DeploymentResumed"
    MIN_AVAILABLE = "MinimumReplicasAvailable"
    MIN_UNAVAILABLE = "MinimumReplicasUnavailable"


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """Replica counts of a Deployment's status, as upstream calculateStatus derives them."""

    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    unavailable_replicas: int = 0


@dataclass(frozen=True, slots=True)
class Condition:
    """One Deployment condition; times are clock seconds."""

    type: str
    status: ConditionStatus
    reason: Reason
    message: str
    last_update: float
    last_transition: float


def deployment_status(new: RSState | None, olds: Sequence[RSState]) -> StatusCounts:
    """Upstream calculateStatus counts; unavailable = sum(spec.replicas) - available, >= 0."""
    every = [*olds, *([new] if new is not None else [])]
    available = sum(rs.available for rs in every)
    return StatusCounts(
        replicas=sum(rs.actual for rs in every),
        updated_replicas=new.actual if new is not None else 0,
        ready_replicas=sum(rs.ready for rs in every),
        available_replicas=available,
        unavailable_replicas=max(0, sum(rs.replicas for rs in every) - available),
    )


def available_condition(
    current: Condition | None, *, spec: DeploymentParams, status: StatusCounts, now: float
) -> Condition:
    """The Available condition: True iff available >= desired - maxUnavailable."""
    if status.available_replicas >= spec.min_available:
        ok, reason, message = _TRUE, Reason.MIN_AVAILABLE, "Deployment has"
    else:
        ok, reason, message = _FALSE, Reason.MIN_UNAVAILABLE, "Deployment does not have"
    proposed = Condition("Available", ok, reason, f"{message} minimum availability.", now, now)
    return set_condition(current, proposed)


def set_condition(current: Condition | None, proposed: Condition) -> Condition:
    """Upstream SetDeploymentCondition: keep `current` if status and reason match,
    else `proposed`, keeping lastTransitionTime while the status stays the same.
    """
    if current is None or current.status is not proposed.status:
        return proposed
    if current.reason is proposed.reason:
        return current
    return replace(proposed, last_transition=current.last_transition)


def is_complete(status: StatusCounts, *, desired: int) -> bool:
    """Upstream DeploymentComplete: all desired replicas updated and available, no extras."""
    return desired == status.updated_replicas == status.replicas == status.available_replicas


def progressing_condition(
    current: Condition | None,
    *,
    previous: StatusCounts,
    status: StatusCounts,
    desired: int,
    deadline_seconds: int | None,
    now: float,
    deployment: str,
    new_rs: str | None,
    created_new_rs: bool = False,
    paused: bool = False,
) -> Condition | None:
    """The Progressing condition after one sync (None: the Deployment has none).

    `previous` is the status before this sync and `status` the recomputed one; `new_rs`
    names the new ReplicaSet (None if none exists) and `created_new_rs` says this sync
    created it. Paused Deployments never time out; a finished rollout stays finished.
    """
    if deadline_seconds is None or deadline_seconds == MAX_INT32:
        return None
    who = f'ReplicaSet "{new_rs}"' if new_rs is not None else f'Deployment "{deployment}"'
    cond = _paused_condition(current, paused=paused, now=now)
    if created_new_rs:
        msg = f'Created new replica set "{new_rs}"'
        cond = set_condition(cond, _progressing(_TRUE, Reason.NEW_RS_CREATED, msg, now))
    elif cond is None and new_rs is not None:
        msg = f'Found new replica set "{new_rs}"'
        cond = _progressing(_TRUE, Reason.FOUND_NEW_RS, msg, now)
    finished = status.replicas == status.updated_replicas and _is(cond, Reason.NEW_RS_AVAILABLE)
    if paused or finished:
        return cond
    if is_complete(status, desired=desired):
        msg = f"{who} has successfully progressed."
        return set_condition(cond, _progressing(_TRUE, Reason.NEW_RS_AVAILABLE, msg, now))
    if _made_progress(previous, status):
        updated = _progressing(_TRUE, Reason.RS_UPDATED, f"{who} is progressing.", now)
        if cond is not None and cond.status is _TRUE:
            updated = replace(updated, last_transition=cond.last_transition)
        return updated
    if is_timed_out(cond, deadline_seconds=deadline_seconds, now=now):
        failed = _progressing(_FALSE, Reason.TIMED_OUT, f"{who} has timed out progressing.", now)
        return set_condition(cond, failed)
    return cond


def is_timed_out(cond: Condition | None, *, deadline_seconds: int, now: float) -> bool:
    """Upstream DeploymentTimedOut: lastUpdateTime + progressDeadlineSeconds is before now."""
    if cond is None or cond.reason is Reason.NEW_RS_AVAILABLE:
        return False
    return cond.reason is Reason.TIMED_OUT or cond.last_update + deadline_seconds < now


def progress_check_delay(
    cond: Condition | None,
    *,
    status: StatusCounts,
    desired: int,
    deadline_seconds: int | None,
    now: float,
) -> float | None:
    """Upstream requeueStuckDeployment: seconds until the next deadline check, or None."""
    if deadline_seconds is None or deadline_seconds == MAX_INT32 or cond is None:
        return None
    if is_complete(status, desired=desired) or cond.reason is Reason.TIMED_OUT:
        return None
    after = cond.last_update + deadline_seconds - now
    return 0.0 if after < 1.0 else after + 1.0


def _paused_condition(current: Condition | None, *, paused: bool, now: float) -> Condition | None:
    """Upstream checkPausedConditions (a timed-out condition is never overwritten)."""
    if current is not None and current.reason is Reason.TIMED_OUT:
        return current
    if paused == _is(current, Reason.PAUSED):
        return current
    reason, word = (Reason.PAUSED, "paused") if paused else (Reason.RESUMED, "resumed")
    return set_condition(current, _progressing(_UNKNOWN, reason, f"Deployment is {word}", now))


def _made_progress(previous: StatusCounts, status: StatusCounts) -> bool:
    """Upstream DeploymentProgressing: more updated/ready/available or fewer old pods."""
    return (
        status.updated_replicas > previous.updated_replicas
        or status.replicas - status.updated_replicas < previous.replicas - previous.updated_replicas
        or status.ready_replicas > previous.ready_replicas
        or status.available_replicas > previous.available_replicas
    )


def _progressing(status: ConditionStatus, reason: Reason, message: str, now: float) -> Condition:
    return Condition("Progressing", status, reason, message, now, now)


def _is(cond: Condition | None, reason: Reason) -> bool:
    return cond is not None and cond.reason is reason
