"""Deployment controller: ReplicaSets per template, rolling/recreate scaling, revisions,
status and conditions, following upstream syncDeployment.

The decisions come from the pure `rollout_scaling`, `rollout_status` and
`rollout_revisions`; this module reads and writes the store and records the
ScalingReplicaSet Events `kubectl describe deployment` shows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from rollout.sandbox import kinds
from rollout.sandbox.clock import Clock
from rollout.sandbox.controllers import deployment_json as djson
from rollout.sandbox.controllers import pods as podfacts
from rollout.sandbox.controllers import rollout_revisions as revisions
from rollout.sandbox.controllers import rollout_scaling as scaling
from rollout.sandbox.controllers import rollout_status as rstatus
from rollout.sandbox.controllers.events import NORMAL, EventRecorder
from rollout.sandbox.controllers.manager import Key
from rollout.sandbox.controllers.owner_index import OwnerIndex
from rollout.sandbox.store import errors
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
        self.events = EventRecorder(store, "deployment-controller")
        self.replica_sets = OwnerIndex(store, RS)

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.key == DEPLOY.key:
            return [(event.namespace, event.obj["metadata"]["name"])]
        if event.key != RS.key:
            return []
        for ref in event.obj["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "Deployment" and ref.get("controller"):
                return [(event.namespace, ref["name"])]
        if event.type == "DELETED" or podfacts.owner_uid(event.obj) is not None:
            return []
        labels = event.obj["metadata"].get("labels") or {}  # an orphan: who may adopt it?
        return [
            (event.namespace, d["metadata"]["name"])
            for d in self.store.list(DEPLOY, event.namespace)[0]
            if podfacts.selects(d, labels)
        ]

    def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        d = self.store.find(DEPLOY, namespace, name)
        if d is None or podfacts.is_terminating(d):
            return None
        by_name = {rs["metadata"]["name"]: rs for rs in self._claim(d)}
        states = {n: self._state(rs) for n, rs in by_name.items()}
        found = revisions.find_new_replica_set(
            d["spec"]["template"],
            [(states[n], rs["spec"]["template"]) for n, rs in by_name.items()],
        )
        params, paused = djson.params(d), bool(d["spec"].get("paused"))
        new_name = found.name if found is not None else None
        if new_name is not None:
            by_name[new_name] = self._sync_new(d, by_name[new_name], _others(states, new_name))
            states[new_name] = self._state(by_name[new_name])
        created = False
        if paused or scaling.is_scaling_event(params, replica_sets=list(states.values())):
            plan = scaling.proportional_scale(
                params,
                new=states.get(new_name or ""),
                olds=_others(states, new_name),
                status_replicas=(d.get("status") or {}).get("replicas", 0),
            )
        else:
            if new_name is None:
                new = self._create_new(d, params, list(states.values()))
                if new is None:  # a hash collision: collisionCount went up, try again
                    return 0.0
                new_name, created = new["metadata"]["name"], True
                by_name[new_name], states[new_name] = new, self._state(new)
            plan = self._plan(d, params, states, by_name, new_name)
        self._apply(d, params, by_name, plan)
        olds = _others(states, new_name)
        counts = rstatus.deployment_status(states.get(new_name or ""), olds)
        if (paused or rstatus.is_complete(counts, desired=params.desired)) and not created:
            limit = d["spec"].get("revisionHistoryLimit")
            for doomed in revisions.replica_sets_to_delete(olds, history_limit=limit):
                self.store.delete(RS, namespace, doomed)
        revision = None
        if new_name is not None:
            new_annotations = by_name[new_name]["metadata"].get("annotations") or {}
            revision = new_annotations.get(revisions.REVISION_ANNOTATION)
        return self._write_status(d, params, counts, new_name, created, revision)

    # -- ReplicaSets -------------------------------------------------------

    def _claim(self, d: Obj) -> list[Obj]:
        """The ReplicaSets `d` controls, adopting matching orphans (upstream ClaimReplicaSets)."""
        uid, namespace = d["metadata"]["uid"], d["metadata"]["namespace"]
        owned = self.replica_sets.controlled_by(namespace, uid)
        for rs in self.replica_sets.orphans(namespace):
            if not podfacts.is_terminating(rs) and podfacts.selects(
                d, rs["metadata"].get("labels") or {}
            ):
                owned.append(
                    self.store.update(
                        RS, namespace, rs["metadata"]["name"], lambda o: podfacts.add_owner(o, d)
                    )
                )
        return sorted(owned, key=lambda rs: rs["metadata"]["name"])

    def _state(self, rs: Obj) -> scaling.RSState:
        return djson.rs_state(rs, created=self.store.creation_index(rs))

    def _plan(
        self,
        d: Obj,
        params: scaling.DeploymentParams,
        states: dict[str, scaling.RSState],
        by_name: dict[str, Obj],
        new_name: str,
    ) -> scaling.ScalePlan:
        new, olds = states[new_name], _others(states, new_name)
        if params.strategy is scaling.Strategy.RECREATE:
            old_uids = {rs["metadata"]["uid"] for n, rs in by_name.items() if n != new_name}
            old_pods = sum(
                1
                for p in self.store.list(POD, d["metadata"]["namespace"])[0]
                if podfacts.owner_uid(p) in old_uids
            )
            return scaling.recreate_step(params, new=new, olds=olds, old_pods=old_pods)
        return scaling.rolling_step(params, new=new, olds=olds)

    def _create_new(
        self, d: Obj, params: scaling.DeploymentParams, olds: list[scaling.RSState]
    ) -> Obj | None:
        """Create the ReplicaSet for the current template (None after a name collision)."""
        rs = djson.new_replica_set(d, params, olds)
        namespace, name = d["metadata"]["namespace"], rs["metadata"]["name"]
        try:
            created = self.store.create(RS, namespace, rs)
        except errors.ApiError as e:
            if e.code != 409:
                raise
            existing = self.store.find(RS, namespace, name)
            if (
                existing is None
                or podfacts.owner_uid(existing) != d["metadata"]["uid"]
                or not revisions.equal_ignore_hash(
                    existing["spec"]["template"], d["spec"]["template"]
                )
            ):
                self.store.update(
                    DEPLOY, namespace, d["metadata"]["name"], _bump_collisions, subresource="status"
                )
                return None
            created = existing
        replicas = created["spec"]["replicas"]
        if replicas > 0:
            self.events.record(
                d, NORMAL, "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {replicas}"
            )
        return created

    def _sync_new(self, d: Obj, new: Obj, olds: list[scaling.RSState]) -> Obj:
        """Upstream getNewReplicaSet for an existing one: revision (and history) and
        minReadySeconds follow the Deployment."""
        state = self._state(new)
        ann = new["metadata"].get("annotations") or {}
        update = revisions.sync_revision(
            state, olds, history=ann.get(revisions.REVISION_HISTORY_ANNOTATION, "")
        )
        min_ready = d["spec"].get("minReadySeconds", 0)
        if update.revision != state.revision or new["spec"].get("minReadySeconds", 0) != min_ready:

            def sync(rs: Obj) -> None:
                a = rs["metadata"].setdefault("annotations", {})
                a[revisions.REVISION_ANNOTATION] = str(update.revision)
                if update.history is not None:
                    a[revisions.REVISION_HISTORY_ANNOTATION] = update.history
                rs["spec"]["minReadySeconds"] = min_ready

            new = self.store.update(RS, new["metadata"]["namespace"], new["metadata"]["name"], sync)
        return new

    def _apply(
        self,
        d: Obj,
        params: scaling.DeploymentParams,
        by_name: dict[str, Obj],
        plan: scaling.ScalePlan,
    ) -> None:
        """Scale each planned ReplicaSet (with fresh desired-/max-replicas annotations)."""
        annotations = scaling.replica_annotations(params)
        for name, replicas in plan.items():

            def scale(rs: Obj, replicas: int = replicas) -> None:
                rs["spec"]["replicas"] = replicas
                rs["metadata"].setdefault("annotations", {}).update(annotations)

            before = by_name[name]["spec"].get("replicas", 1)
            self.store.update(RS, d["metadata"]["namespace"], name, scale)
            if replicas != before:
                way = "up" if replicas > before else "down"
                self.events.record(
                    d,
                    NORMAL,
                    "ScalingReplicaSet",
                    f"Scaled {way} replica set {name} from {before} to {replicas}",
                )

    # -- status ------------------------------------------------------------

    def _write_status(
        self,
        d: Obj,
        params: scaling.DeploymentParams,
        counts: rstatus.StatusCounts,
        new_rs: str | None,
        created: bool,
        revision: str | None,
    ) -> float | None:
        """Write status, conditions and the revision annotation in one /status update
        (upstream UpdateStatus keeps annotations and does not bump generation); return
        when to re-check the progress deadline."""
        now, status = time.time(), d.get("status") or {}
        real_deadline = None
        if d["spec"].get("progressDeadlineSeconds") is not None:
            real_deadline = self.clock.real(d["spec"]["progressDeadlineSeconds"])
        conds = {c.type: c for c in map(djson.condition, status.get("conditions") or []) if c}
        available = rstatus.available_condition(
            conds.get("Available"), spec=params, status=counts, now=now
        )
        progressing = rstatus.progressing_condition(
            conds.get("Progressing"),
            previous=djson.status_counts(status),
            status=counts,
            desired=params.desired,
            deadline_seconds=real_deadline,  # type: ignore[arg-type]
            now=now,
            deployment=d["metadata"]["name"],
            new_rs=new_rs,
            created_new_rs=created,
            paused=bool(d["spec"].get("paused")),
        )
        new_status = djson.status_json(
            counts,
            [c for c in (available, progressing) if c is not None],
            generation=d["metadata"].get("generation", 1),
            collisions=status.get("collisionCount"),
        )
        annotated = (d["metadata"].get("annotations") or {}).get(revisions.REVISION_ANNOTATION)
        if new_status != status or revision not in (None, annotated):

            def write(o: Obj) -> None:
                o["status"] = new_status
                if revision is not None:
                    o["metadata"].setdefault("annotations", {})[revisions.REVISION_ANNOTATION] = (
                        revision
                    )

            namespace, name = d["metadata"]["namespace"], d["metadata"]["name"]
            self.store.update(DEPLOY, namespace, name, write, subresource="status")
        if real_deadline is None or progressing is None or d["spec"].get("paused"):
            return None
        return self._recheck_after(progressing, counts, params, real_deadline, now)

    def _recheck_after(
        self,
        progressing: rstatus.Condition,
        counts: rstatus.StatusCounts,
        params: scaling.DeploymentParams,
        real_deadline: float,
        now: float,
    ) -> float | None:
        """Sandbox seconds until the progress deadline passes (None: nothing to check)."""
        if (
            rstatus.is_complete(counts, desired=params.desired)
            or progressing.reason is rstatus.Reason.TIMED_OUT
        ):
            return None
        left = progressing.last_update + real_deadline - now
        return max(left, 0.0) * self.clock.speed + 0.001


def _others(states: dict[str, scaling.RSState], new_name: str | None) -> list[scaling.RSState]:
    return [s for n, s in states.items() if n != new_name]


def _bump_collisions(d: Obj) -> None:
    status = d.setdefault("status", {})
    status["collisionCount"] = status.get("collisionCount", 0) + 1
