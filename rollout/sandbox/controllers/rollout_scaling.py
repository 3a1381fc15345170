"""Scaling decisions of the upstream Deployment controller (kube-controller-manager).

Mirrors pkg/controller/deployment (rolling.go, recreate.go, sync.go's scale() and
util/deployment_util.go): fenceposts, rolling and recreate steps, proportional scaling.
Also holds what the other rollout_* modules share: `RSState` and `DeploymentParams`.
Pure: no I/O, never touches the store; callers gather ReplicaSet state and apply plans.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
MAX_INT32 = 2**31 - 1
_DEFAULT_FENCEPOST = "25%"

IntOrPercent = int | str | None
ScalePlan = dict[str, int]


class Strategy(enum.Enum):
    """Deployment strategy type (`spec.strategy.type`)."""

    ROLLING_UPDATE = "RollingUpdate"
    RECREATE = "Recreate"


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
    active = sorted((rs for rs in olds if rs.replicas > 0), key=by_creation)
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
    newest_first = sorted(olds, key=by_creation, reverse=True)
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
    active = sorted(active, key=by_creation, reverse=to_add > 0)
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


def by_creation(rs: RSState) -> tuple[float, str]:
    """Upstream ReplicaSetsByCreationTimestamp: oldest first, ties by name."""
    return (rs.created, rs.name)
