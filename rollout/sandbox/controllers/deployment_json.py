"""Deployment and ReplicaSet JSON <-> the typed values of the pure rollout_* modules.

Reads spec/status/annotations into `DeploymentParams`, `RSState`, `StatusCounts` and
`Condition`, and builds the JSON the Deployment controller writes back (a new
ReplicaSet, conditions). Pure functions; no store access.
"""

from __future__ import annotations

from typing import Any

from rollout.sandbox.controllers import pods as podfacts
from rollout.sandbox.controllers import rollout_revisions as revisions
from rollout.sandbox.controllers import rollout_scaling as scaling
from rollout.sandbox.controllers import rollout_status as rstatus
from rollout.sandbox.store.copying import json_copy

Obj = dict[str, Any]


def rs_state(rs: Obj, *, created: int) -> scaling.RSState:
    """What the pure scaling decisions need of one ReplicaSet (`created`: creation order)."""
    meta, status = rs["metadata"], rs.get("status") or {}
    ann = meta.get("annotations") or {}
    return scaling.RSState(
        name=meta["name"],
        replicas=rs["spec"].get("replicas", 1),
        available=status.get("availableReplicas", 0),
        ready=status.get("readyReplicas", 0),
        actual=status.get("replicas", 0),
        created=float(created),
        revision=int(ann.get(revisions.REVISION_ANNOTATION, 0) or 0),
        annotated_desired=_int_or_none(ann.get(scaling.DESIRED_REPLICAS_ANNOTATION)),
        annotated_max=_int_or_none(ann.get(scaling.MAX_REPLICAS_ANNOTATION)),
        deleting=podfacts.is_terminating(rs),
    )


def new_replica_set(d: Obj, params: scaling.DeploymentParams, olds: list[scaling.RSState]) -> Obj:
    """The ReplicaSet upstream creates for `d`'s current template (not yet stored)."""
    template = json_copy(d["spec"]["template"])
    pod_hash = revisions.pod_template_hash(template, (d.get("status") or {}).get("collisionCount"))
    labels = {**(template["metadata"].get("labels") or {}), revisions.HASH_LABEL: pod_hash}
    template["metadata"]["labels"] = labels
    selector = json_copy(d["spec"]["selector"])
    selector.setdefault("matchLabels", {})[revisions.HASH_LABEL] = pod_hash
    replicas = 0
    if params.strategy is scaling.Strategy.ROLLING_UPDATE:
        replicas = scaling.new_rs_replicas(params, new=scaling.RSState("", 0), olds=olds)
    revision = max((s.revision for s in olds), default=0) + 1
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{d['metadata']['name']}-{pod_hash}",
            "namespace": d["metadata"]["namespace"],
            "labels": labels,
            "annotations": {
                **_copied_annotations(d),
                **scaling.replica_annotations(params),
                revisions.REVISION_ANNOTATION: str(revision),
            },
            "ownerReferences": [podfacts.owner_ref(d)],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": d["spec"].get("minReadySeconds", 0),
            "selector": selector,
            "template": template,
        },
    }


def params(d: Obj) -> scaling.DeploymentParams:
    strategy = d["spec"].get("strategy") or {}
    ru = strategy.get("rollingUpdate") or {}
    return scaling.DeploymentParams(
        desired=d["spec"].get("replicas", 1),
        strategy=scaling.Strategy(strategy.get("type", "RollingUpdate")),
        max_surge=ru.get("maxSurge"),
        max_unavailable=ru.get("maxUnavailable"),
    )


def status_counts(status: Obj) -> rstatus.StatusCounts:
    return rstatus.StatusCounts(
        status.get("replicas", 0),
        status.get("updatedReplicas", 0),
        status.get("readyReplicas", 0),
        status.get("availableReplicas", 0),
        status.get("unavailableReplicas", 0),
    )


def _copied_annotations(d: Obj) -> dict[str, str]:
    """Deployment annotations upstream copies to its ReplicaSets (not its own bookkeeping)."""
    skip = ("deployment.kubernetes.io/", "kubectl.kubernetes.io/last-applied-configuration")
    return {
        k: v for k, v in (d["metadata"].get("annotations") or {}).items() if not k.startswith(skip)
    }


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def condition(c: Obj) -> rstatus.Condition | None:
    """A condition as written to status (None: a reason this controller never writes)."""
    if c.get("reason") not in {r.value for r in rstatus.Reason}:
        return None
    return rstatus.Condition(
        type=c["type"],
        status=rstatus.ConditionStatus(c["status"]),
        reason=rstatus.Reason(c["reason"]),
        message=c.get("message", ""),
        last_update=podfacts.parse_time(c.get("lastUpdateTime", "")) or 0.0,
        last_transition=podfacts.parse_time(c.get("lastTransitionTime", "")) or 0.0,
    )


def condition_json(c: rstatus.Condition) -> Obj:
    return {
        "type": c.type,
        "status": c.status.value,
        "reason": c.reason.value,
        "message": c.message,
        "lastUpdateTime": podfacts.format_time(c.last_update),
        "lastTransitionTime": podfacts.format_time(c.last_transition),
    }


def status_json(
    counts: rstatus.StatusCounts,
    conditions: list[rstatus.Condition],
    *,
    generation: int,
    collisions: int | None,
) -> Obj:
    """Deployment status as upstream writes it (zero counts left out, like omitempty)."""
    status: Obj = {
        "observedGeneration": generation,
        "replicas": counts.replicas,
        "updatedReplicas": counts.updated_replicas,
        "readyReplicas": counts.ready_replicas,
        "availableReplicas": counts.available_replicas,
        "unavailableReplicas": counts.unavailable_replicas,
        "conditions": [condition_json(c) for c in conditions],
    }
    status = {k: v for k, v in status.items() if v or k in ("observedGeneration", "replicas")}
    if collisions is not None:
        status["collisionCount"] = collisions
    return status
