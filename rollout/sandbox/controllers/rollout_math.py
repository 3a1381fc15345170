"""Pure decision logic of the upstream Deployment controller (kube-controller-manager).

Mirrors pkg/controller/deployment (rolling.go, recreate.go, sync.go, progress.go and
util/deployment_util.go): sizes, revisions, hashes, status and conditions. It must do
no I/O and never touch the store; callers gather ReplicaSet state and apply the results.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
MAX_INT32 = 2**31 - 1
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_REVISION_HISTORY_MAX_CHARS = 2000
_DEFAULT_FENCEPOST = "25%"

IntOrPercent = int | str | None
PodTemplate = Mapping[str, object]
ScalePlan = dict[str, int]


class Strategy(enum.Enum):
    """Deployment strategy type (`spec.strategy.type`)."""

    ROLLING_UPDATE = "RollingUpdate"
    RECREATE = "Recreate"


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
class RSState:
    """What the controller sees of one ReplicaSet.

    `replicas` is spec.replicas; `actual` (status.replicas), `ready`, `available` are
    status; `created` orders like creationTimestamp (ties by name); `revision` 0 = none;
    `annotated_*` are the desired-/max-replicas annotations; `deleting`: being deleted.
    """

    name: str
    replicas: int
    available: int = 0
    ready: int = 0
    actual: int = 0
    created: float = 0.0
    revision: int = 0
    annotated_desired: int | None = None
    annotated_max: int | None = None
    deleting: bool = False


@dataclass(frozen=True, slots=True)
class DeploymentParams:
    """The parts of a Deployment spec that drive scaling; None fenceposts mean 25%."""

    desired: int
    strategy: Strategy = Strategy.ROLLING_UPDATE
    max_surge: IntOrPercent = None
    max_unavailable: IntOrPercent = None

    @property
    def surge(self) -> int:
        """Upstream MaxSurge: extra pods allowed above `desired` (0 for Recreate)."""
        if self.strategy is not Strategy.ROLLING_UPDATE:
            return 0
        return resolve_fenceposts(self.max_surge, self.max_unavailable, self.desired)[0]

    @property
    def unavailable(self) -> int:
        """Upstream MaxUnavailable, capped at `desired` (0 for Recreate or 0 replicas)."""
        if self.strategy is not Strategy.ROLLING_UPDATE or self.desired == 0:
            return 0
        resolved = resolve_fenceposts(self.max_surge, self.max_unavailable, self.desired)[1]
        return min(resolved, self.desired)

    @property
    def max_pods(self) -> int:
        """Most pods (sum of ReplicaSet spec.replicas) a rollout may reach."""
        return self.desired + self.surge

    @property
    def min_available(self) -> int:
        """Fewest available pods a rollout keeps; also the Available condition's bar."""
        return self.desired - self.unavailable


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


@dataclass(frozen=True, slots=True)
class RevisionUpdate:
    """Revision (and revision-history annotation, None: unchanged) for the new RS."""

    revision: int
    history: str | None = None


def _scaled(value: int | str, total: int, *, round_up: bool) -> int:
    """Upstream GetScaledValueFromIntOrPercent: an int, or "N%" of `total` rounded."""
    if isinstance(value, int):
        return value
    if not value.endswith("%") or not value[:-1].strip().isdigit():
        raise ValueError(f"invalid int-or-percent {value!r}: want an integer or 'N%'")
    scaled = int(value[:-1]) * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def resolve_fenceposts(
    max_surge: IntOrPercent, max_unavailable: IntOrPercent, desired: int
) -> tuple[int, int]:
    """Upstream ResolveFenceposts: (surge rounded up, unavailable rounded down); 0/0 -> 0/1."""
    surge_value = _DEFAULT_FENCEPOST if max_surge is None else max_surge
    unavailable_value = _DEFAULT_FENCEPOST if max_unavailable is None else max_unavailable
    surge = _scaled(surge_value, desired, round_up=True)
    unavailable = _scaled(unavailable_value, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def replica_annotations(spec: DeploymentParams) -> dict[str, str]:
    """Annotations upstream writes on every ReplicaSet it scales (desired-/max-replicas)."""
    return {
        DESIRED_REPLICAS_ANNOTATION: str(spec.desired),
        MAX_REPLICAS_ANNOTATION: str(spec.max_pods),
    }


def new_rs_replicas(spec: DeploymentParams, *, new: RSState, olds: Sequence[RSState]) -> int:
    """Upstream NewRSNewReplicas (RollingUpdate): the new RS's size within the surge budget."""
    current = new.replicas + sum(rs.replicas for rs in olds)
    if current >= spec.max_pods:
        return new.replicas
    return new.replicas + min(spec.max_pods - current, spec.desired - new.replicas)


def rolling_step(spec: DeploymentParams, *, new: RSState, olds: Sequence[RSState]) -> ScalePlan:
    """One upstream rolloutRolling pass: scale the new RS up, else the old ones down.

    Returns the new spec.replicas of each ReplicaSet to change (empty: nothing to do).
    A new ReplicaSet that does not exist yet is passed with replicas=0; create it with
    `plan.get(new.name, 0)` replicas. Write `replica_annotations` with every scale.
    """
    if new.replicas > spec.desired:
        return {new.name: spec.desired}
    if new.replicas < spec.desired:
        target = new_rs_replicas(spec, new=new, olds=olds)
        if target != new.replicas:
            return {new.name: target}
    return _reconcile_old_replica_sets(spec, new=new, olds=olds)


def _reconcile_old_replica_sets(
    spec: DeploymentParams, *, new: RSState, olds: Sequence[RSState]
) -> ScalePlan:
    """Upstream reconcileOldReplicaSets: cleanupUnhealthyReplicas, then scale down."""
    active = sorted((rs for rs in olds if rs.replicas > 0), key=_by_creation)
    if not active:
        return {}
    all_pods = new.replicas + sum(rs.replicas for rs in active)
    max_scaled_down = all_pods - spec.min_available - (new.replicas - new.available)
    if max_scaled_down <= 0:
        return {}
    plan: ScalePlan = {}
    cleaned = 0
    for index, rs in enumerate(active):
        if cleaned >= max_scaled_down:
            break
        if rs.replicas == rs.available:
            continue
        count = min(max_scaled_down - cleaned, rs.replicas - rs.available)
        if count < 0:
            # Status still counts more available pods than spec.replicas (scale-down not
            # yet observed): upstream errors out here and scales nothing more this pass.
            return plan
        plan[rs.name] = rs.replicas - count
        active[index] = replace(rs, replicas=rs.replicas - count)
        cleaned += count
    available = new.available + sum(rs.available for rs in active)
    to_scale_down = available - spec.min_available
    scaled = 0
    for rs in active:
        if to_scale_down <= 0 or scaled >= to_scale_down:
            break
        if rs.replicas == 0:
            continue
        count = min(rs.replicas, to_scale_down - scaled)
        plan[rs.name] = rs.replicas - count
        scaled += count
    return plan


def recreate_step(
    spec: DeploymentParams, *, new: RSState, olds: Sequence[RSState], old_pods: int
) -> ScalePlan:
    """One upstream rolloutRecreate pass: olds to 0, wait for old pods to go, new to desired.

    `old_pods` counts pods owned by old ReplicaSets that are not Succeeded/Failed. The new
    ReplicaSet (replicas=0 if it does not exist yet) must only be created once it is named.
    """
    active = [rs for rs in olds if rs.replicas > 0]
    if active:
        return {rs.name: 0 for rs in active}
    if old_pods > 0 or any(rs.actual > 0 for rs in olds):
        return {}
    return {} if new.replicas == spec.desired else {new.name: spec.desired}


def is_scaling_event(spec: DeploymentParams, *, replica_sets: Sequence[RSState]) -> bool:
    """Upstream isScalingEvent: an active RS's desired-replicas annotation differs."""
    return any(
        rs.replicas > 0
        and rs.annotated_desired is not None
        and rs.annotated_desired != spec.desired
        for rs in replica_sets
    )


def proportional_scale(
    spec: DeploymentParams, *, new: RSState | None, olds: Sequence[RSState], status_replicas: int
) -> ScalePlan:
    """Upstream scale(): resize ReplicaSets when `desired` changes mid-rollout or paused.

    Upstream runs it (then revision-history cleanup if paused) instead of a rollout step
    when the Deployment is paused or `is_scaling_event` holds. `status_replicas` is the
    Deployment's status.replicas (fallback when a max-replicas annotation is missing).
    The plan also names ReplicaSets whose size stays but whose annotations are stale.
    """
    newest_first = sorted(olds, key=_by_creation, reverse=True)
    candidates = ([new] if new is not None else []) + newest_first
    active = [rs for rs in candidates if rs.replicas > 0]
    if len(active) <= 1:
        only = active[0] if active else (candidates[0] if candidates else None)
        if only is None or only.replicas == spec.desired:
            return {}
        return {only.name: spec.desired}
    if new is not None and _is_saturated(spec, new):
        return {rs.name: 0 for rs in olds if rs.replicas > 0}
    if spec.strategy is not Strategy.ROLLING_UPDATE:
        return {}
    return _distribute(spec, active, status_replicas)


def _distribute(spec: DeploymentParams, active: list[RSState], status_replicas: int) -> ScalePlan:
    """The proportional part of upstream scale(), with leftovers to the first ReplicaSet."""
    allowed = spec.max_pods if spec.desired > 0 else 0
    to_add = allowed - sum(rs.replicas for rs in active)
    # ReplicaSetsBySizeNewer (adding) / BySizeOlder (removing): larger first, then by age.
    active = sorted(active, key=_by_creation, reverse=to_add > 0)
    active.sort(key=lambda rs: -rs.replicas)
    sizes: dict[str, int] = {}
    added = 0
    for rs in active:
        proportion = _proportion(spec, rs, to_add, added, status_replicas)
        sizes[rs.name] = rs.replicas + proportion
        added += proportion
    if to_add != 0:
        first = active[0].name
        sizes[first] = max(0, sizes[first] + to_add - added)
    wanted = (spec.desired, spec.max_pods)
    return {
        rs.name: sizes[rs.name]
        for rs in active
        if sizes[rs.name] != rs.replicas or (rs.annotated_desired, rs.annotated_max) != wanted
    }


def _proportion(
    spec: DeploymentParams, rs: RSState, to_add: int, added: int, status_replicas: int
) -> int:
    """Upstream GetProportion / getReplicaSetFraction."""
    if rs.replicas == 0 or to_add == 0 or to_add == added:
        return 0
    if spec.desired == 0:
        fraction = -rs.replicas
    else:
        annotated = rs.annotated_max if rs.annotated_max is not None else status_replicas
        annotated = annotated if annotated > 0 else spec.max_pods
        fraction = _round_half_away(rs.replicas * spec.max_pods / annotated) - rs.replicas
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _is_saturated(spec: DeploymentParams, rs: RSState) -> bool:
    """Upstream IsSaturated: the new RS owns all desired replicas and all are available."""
    return rs.replicas == spec.desired == rs.annotated_desired and rs.available == spec.desired


def _round_half_away(value: float) -> int:
    """Go's math.Round (half away from zero), which upstream RoundToInt32 uses."""
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def _by_creation(rs: RSState) -> tuple[float, str]:
    """Upstream ReplicaSetsByCreationTimestamp: oldest first, ties by name."""
    return (rs.created, rs.name)


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


def pod_template_hash(template: PodTemplate, collision_count: int | None = None) -> str:
    """A stable pod-template-hash label value, shaped like upstream ComputeHash's.

    FNV-32a over canonical JSON of the template (without its hash label), plus the
    collision count like upstream, encoded as SafeEncodeString(decimal) (<= 10 chars).
    """
    data = json.dumps(_normalized(template, strip_hash=True), sort_keys=True, separators=(",", ":"))
    digest = _fnv32a(data.encode())
    if collision_count is not None:
        digest = _fnv32a((collision_count & 0xFFFFFFFF).to_bytes(8, "little"), digest)
    return "".join(_HASH_ALPHABET[byte % len(_HASH_ALPHABET)] for byte in str(digest).encode())


def equal_ignore_hash(left: PodTemplate, right: PodTemplate) -> bool:
    """Upstream EqualIgnoreHash: equal templates apart from the pod-template-hash label.

    Like apimachinery's semantic equality, nil and empty maps/lists compare equal.
    """
    return _normalized(left, strip_hash=True) == _normalized(right, strip_hash=True)


def find_new_replica_set(
    template: PodTemplate, replica_sets: Sequence[tuple[RSState, PodTemplate]]
) -> RSState | None:
    """Upstream FindNewReplicaSet: the oldest ReplicaSet whose template equals `template`."""
    for rs, rs_template in sorted(replica_sets, key=lambda pair: _by_creation(pair[0])):
        if equal_ignore_hash(rs_template, template):
            return rs
    return None


def sync_revision(new: RSState, olds: Sequence[RSState], *, history: str = "") -> RevisionUpdate:
    """Upstream revision rule: the new RS gets max(old revisions)+1 unless already higher.

    Reusing an old ReplicaSet (rollback) bumps it to a new max revision and appends its
    former revision to the revision-history annotation (`history`, comma-separated).
    """
    target = max((rs.revision for rs in olds), default=0) + 1
    if new.revision >= target:
        return RevisionUpdate(new.revision)
    if new.revision == 0:
        return RevisionUpdate(target)
    return RevisionUpdate(target, _append_history(history, str(new.revision)))


def _append_history(history: str, revision: str) -> str | None:
    """Append to revision-history, dropping the oldest entries past 2000 characters."""
    if not history:
        return revision
    entries = history.split(",")
    total = len(history) + len(revision) + 1
    start = 0
    while total > _REVISION_HISTORY_MAX_CHARS and start < len(entries):
        total -= len(entries[start]) + 1
        start += 1
    if total > _REVISION_HISTORY_MAX_CHARS:
        return None
    return ",".join([*entries[start:], revision])


def replica_sets_to_delete(olds: Sequence[RSState], *, history_limit: int | None) -> list[str]:
    """Upstream cleanupDeployment: old ReplicaSets beyond revisionHistoryLimit to delete.

    Looks at the `len - limit` lowest revisions (oldest first) and deletes only those
    with no replicas in spec and status; `None` (or MaxInt32) keeps everything.
    """
    if history_limit is None or history_limit == MAX_INT32:
        return []
    alive = [rs for rs in olds if not rs.deleting]
    excess = len(alive) - history_limit
    if excess <= 0:
        return []
    oldest_first = sorted(alive, key=lambda rs: (rs.revision, *_by_creation(rs)))
    return [rs.name for rs in oldest_first[:excess] if rs.replicas == 0 and rs.actual == 0]


def _normalized(value: object, *, strip_hash: bool = False) -> object:
    """Drop None and empty maps/lists (and the hash label when asked), recursively."""
    if isinstance(value, Mapping):
        result: dict[str, object] = {}
        for key, item in value.items():
            if strip_hash and key == "labels" and isinstance(item, Mapping):
                item = {k: v for k, v in item.items() if k != HASH_LABEL}
            cleaned = _normalized(item, strip_hash=strip_hash and key == "metadata")
            if cleaned not in (None, {}, []):
                result[str(key)] = cleaned
        return result
    if isinstance(value, list | tuple):
        return [_normalized(item) for item in value]
    return value


def _fnv32a(data: bytes, seed: int = 0x811C9DC5) -> int:
    digest = seed
    for byte in data:
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return digest
