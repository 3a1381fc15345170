"""Deployment controller: ReplicaSets per template, rolling/recreate scaling, revisions,
status and conditions, following upstream syncDeployment.

The decisions come from `rollout_math` (pure); this module reads and writes the store.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from typing import Any

from rollout.sandbox import kinds
from rollout.sandbox.clock import Clock
from rollout.sandbox.controllers import pods as podfacts
from rollout.sandbox.controllers import rollout_math as rm
from rollout.sandbox.controllers.manager import Key
from rollout.sandbox.store.store import Store
from rollout.sandbox.store.watch import Event

Obj = dict[str, Any]
DEPLOY = kinds.BY_KEY["deployments.apps"]
RS = kinds.BY_KEY["replicasets.apps"]
POD = kinds.BY_KEY["pods"]


class DeploymentController:
    """Reconciles Deployments against the ReplicaSets they own."""

    name = "deployment"

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.key == DEPLOY.key:
            return [(event.namespace, event.obj["metadata"]["name"])]
        if event.key == RS.key:
            for ref in event.obj["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "Deployment" and ref.get("controller"):
                    return [(event.namespace, ref["name"])]
        return []

    def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        d = self.store.find(DEPLOY, namespace, name)
        if d is None or podfacts.is_terminating(d):
            return None
        owned = self._owned(d)
        states = {rs["metadata"]["name"]: self._state(rs) for rs in owned}
        by_name = {rs["metadata"]["name"]: rs for rs in owned}
        found = rm.find_new_replica_set(
            d["spec"]["template"], [(states[n], by_name[n]["spec"]["template"]) for n in states])
        new = by_name[found.name] if found else None
        params = _params(d)
        paused = bool(d["spec"].get("paused"))
        created = False
        if paused or rm.is_scaling_event(params, replica_sets=list(states.values())):
            olds = [s for s in states.values() if found is None or s.name != found.name]
            plan = rm.proportional_scale(params, new=found, olds=olds,
                                         status_replicas=d.get("status", {}).get("replicas", 0))
        else:
            if new is None:
                new, created = self._create_new(d, params, list(states.values())), True
                states[new["metadata"]["name"]] = self._state(new)
                by_name[new["metadata"]["name"]] = new
            else:
                new = self._sync_revision(d, new, [s for n, s in states.items()
                                                   if n != new["metadata"]["name"]])
            plan = self._plan(d, params, states, new["metadata"]["name"])
        self._apply(d, params, by_name, plan)
        new_name = new["metadata"]["name"] if new is not None else None
        new_state = states.get(new_name) if new_name else None
        olds = [s for n, s in states.items() if n != new_name]
        counts = rm.deployment_status(new_state, olds)
        if (paused or rm.is_complete(counts, desired=params.desired)) and not created:
            for doomed in rm.replica_sets_to_delete(olds, history_limit=d["spec"].get(
                    "revisionHistoryLimit")):
                self.store.delete(RS, namespace, doomed)
        return self._write_status(d, params, counts, new_name, created)

    # -- steps -------------------------------------------------------------

    def _owned(self, d: Obj) -> list[Obj]:
        uid = d["metadata"]["uid"]
        return [rs for rs in self.store.list(RS, d["metadata"]["namespace"])[0]
                if podfacts.owner_uid(rs) == uid]

    def _state(self, rs: Obj) -> rm.RSState:
        meta, status = rs["metadata"], rs.get("status") or {}
        ann = meta.get("annotations") or {}
        return rm.RSState(
            name=meta["name"], replicas=rs["spec"].get("replicas", 1),
            available=status.get("availableReplicas", 0), ready=status.get("readyReplicas", 0),
            actual=status.get("replicas", 0), created=float(self.store.creation_index(rs)),
            revision=int(ann.get(rm.REVISION_ANNOTATION, 0) or 0),
            annotated_desired=_int_or_none(ann.get(rm.DESIRED_REPLICAS_ANNOTATION)),
            annotated_max=_int_or_none(ann.get(rm.MAX_REPLICAS_ANNOTATION)),
            deleting=podfacts.is_terminating(rs))

    def _plan(self, d: Obj, params: rm.DeploymentParams, states: dict[str, rm.RSState],
              new_name: str) -> rm.ScalePlan:
        new = states[new_name]
        olds = [s for n, s in states.items() if n != new_name]
        if params.strategy is rm.Strategy.RECREATE:
            old_uids = {rs["metadata"]["uid"] for rs in self._owned(d)
                        if rs["metadata"]["name"] != new_name}
            old_pods = sum(1 for p in self.store.list(POD, d["metadata"]["namespace"])[0]
                           if podfacts.owner_uid(p) in old_uids)
            return rm.recreate_step(params, new=new, olds=olds, old_pods=old_pods)
        return rm.rolling_step(params, new=new, olds=olds)

    def _create_new(self, d: Obj, params: rm.DeploymentParams,
                    olds: list[rm.RSState]) -> Obj:
        template = copy.deepcopy(d["spec"]["template"])
        pod_hash = rm.pod_template_hash(template, d.get("status", {}).get("collisionCount"))
        labels = {**(template["metadata"].get("labels") or {}), rm.HASH_LABEL: pod_hash}
        template["metadata"]["labels"] = labels
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[rm.HASH_LABEL] = pod_hash
        name = f"{d['metadata']['name']}-{pod_hash}"
        replicas = 0
        if params.strategy is rm.Strategy.ROLLING_UPDATE:
            replicas = rm.new_rs_replicas(params, new=rm.RSState(name, 0), olds=olds)
        revision = max((s.revision for s in olds), default=0) + 1
        rs = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": name, "namespace": d["metadata"]["namespace"], "labels": labels,
                "annotations": {**_copied_annotations(d), **rm.replica_annotations(params),
                                rm.REVISION_ANNOTATION: str(revision)},
                "ownerReferences": [podfacts.owner_ref(d)],
            },
            "spec": {"replicas": replicas, "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                     "selector": selector, "template": template},
        }
        created = self.store.create(RS, d["metadata"]["namespace"], rs)
        self._set_deployment_revision(d, str(revision))
        return created

    def _sync_revision(self, d: Obj, new: Obj, olds: list[rm.RSState]) -> Obj:
        state = self._state(new)
        ann = new["metadata"].get("annotations") or {}
        update = rm.sync_revision(state, olds, history=ann.get(rm.REVISION_HISTORY_ANNOTATION, ""))
        if update.revision != state.revision:
            def bump(rs: Obj) -> None:
                a = rs["metadata"].setdefault("annotations", {})
                a[rm.REVISION_ANNOTATION] = str(update.revision)
                if update.history is not None:
                    a[rm.REVISION_HISTORY_ANNOTATION] = update.history
            new = self.store.update(RS, new["metadata"]["namespace"], new["metadata"]["name"],
                                    bump)
        self._set_deployment_revision(d, str(update.revision))
        return new

    def _set_deployment_revision(self, d: Obj, revision: str) -> None:
        if (d["metadata"].get("annotations") or {}).get(rm.REVISION_ANNOTATION) != revision:
            self.store.update(DEPLOY, d["metadata"]["namespace"], d["metadata"]["name"],
                              lambda o: o["metadata"].setdefault("annotations", {}).__setitem__(
                                  rm.REVISION_ANNOTATION, revision))

    def _apply(self, d: Obj, params: rm.DeploymentParams, by_name: dict[str, Obj],
               plan: rm.ScalePlan) -> None:
        annotations = rm.replica_annotations(params)
        for name, replicas in plan.items():
            def scale(rs: Obj, replicas: int = replicas) -> None:
                rs["spec"]["replicas"] = replicas
                rs["metadata"].setdefault("annotations", {}).update(annotations)
            self.store.update(RS, d["metadata"]["namespace"], name, scale)

    def _write_status(self, d: Obj, params: rm.DeploymentParams, counts: rm.StatusCounts,
                      new_rs: str | None, created: bool) -> float | None:
        now = time.time()
        status = d.get("status") or {}
        conds = {c["type"]: _condition(c) for c in status.get("conditions") or []}
        previous = rm.StatusCounts(
            status.get("replicas", 0), status.get("updatedReplicas", 0),
            status.get("readyReplicas", 0), status.get("availableReplicas", 0),
            status.get("unavailableReplicas", 0))
        deadline = d["spec"].get("progressDeadlineSeconds")
        real_deadline = self.clock.real(deadline) if deadline is not None else None
        available = rm.available_condition(conds.get("Available"), spec=params, status=counts,
                                           now=now)
        progressing = rm.progressing_condition(
            conds.get("Progressing"), previous=previous, status=counts, desired=params.desired,
            deadline_seconds=real_deadline, now=now,  # type: ignore[arg-type]
            deployment=d["metadata"]["name"], new_rs=new_rs, created_new_rs=created,
            paused=bool(d["spec"].get("paused")))
        new_status: Obj = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": counts.replicas, "updatedReplicas": counts.updated_replicas,
            "readyReplicas": counts.ready_replicas, "availableReplicas": counts.available_replicas,
            "unavailableReplicas": counts.unavailable_replicas,
            "conditions": [_condition_json(c) for c in (available, progressing) if c is not None],
        }
        new_status = {k: v for k, v in new_status.items() if v or k in ("observedGeneration",
                                                                        "replicas")}
        if "collisionCount" in status:
            new_status["collisionCount"] = status["collisionCount"]
        if new_status != status:
            self.store.update(DEPLOY, d["metadata"]["namespace"], d["metadata"]["name"],
                              lambda o: o.__setitem__("status", new_status), subresource="status")
        if real_deadline is None or progressing is None:
            return None
        if rm.is_complete(counts, desired=params.desired) or \
                progressing.reason is rm.Reason.TIMED_OUT or d["spec"].get("paused"):
            return None
        left = progressing.last_update + real_deadline - now
        return max(left, 0.0) * self.clock.speed + 0.001


def _params(d: Obj) -> rm.DeploymentParams:
    strategy = d["spec"].get("strategy") or {}
    ru = strategy.get("rollingUpdate") or {}
    return rm.DeploymentParams(
        desired=d["spec"].get("replicas", 1),
        strategy=rm.Strategy(strategy.get("type", "RollingUpdate")),
        max_surge=ru.get("maxSurge"), max_unavailable=ru.get("maxUnavailable"))


def _copied_annotations(d: Obj) -> dict[str, str]:
    """Deployment annotations upstream copies to its ReplicaSets (not its own bookkeeping)."""
    skip = ("deployment.kubernetes.io/", "kubectl.kubernetes.io/last-applied-configuration")
    return {k: v for k, v in (d["metadata"].get("annotations") or {}).items()
            if not k.startswith(skip)}


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _condition(c: Obj) -> rm.Condition:
    return rm.Condition(
        type=c["type"], status=rm.ConditionStatus(c["status"]), reason=rm.Reason(c["reason"]),
        message=c.get("message", ""),
        last_update=podfacts.parse_time(c.get("lastUpdateTime", "")) or 0.0,
        last_transition=podfacts.parse_time(c.get("lastTransitionTime", "")) or 0.0)


def _condition_json(c: rm.Condition) -> Obj:
    return {"type": c.type, "status": c.status.value, "reason": c.reason.value,
            "message": c.message, "lastUpdateTime": podfacts.format_time(c.last_update),
            "lastTransitionTime": podfacts.format_time(c.last_transition)}
