"""Istio canary: a `<name>-canary` Deployment and Istio VirtualService route weights.

Steps: routing (the host's route split over DestinationRule subsets stable / canary,
100/0: canary pods get no request until the weights say so); [with --match-header: the
header match alone (A/B)]; then for each weight in --steps: the canary sized for its
weight (>= 1 pod; stable stays full), canary ready, weights set in one write, analysis
on Istio's metrics, pause. Then `weight 100%`: the canary grows to full size and takes
100% (one write; analysed if --steps ends at 100), and `promote`: the stable Deployment
rolls to the new template meanwhile (its pods change ReplicaSet, so its subset cannot
follow them mid-roll). Once stable is ready its subset moves to the new ReplicaSet,
weights go 100/0, the canary is removed and the user's route and subsets come back.
Rollback: weights 100/0 in one write before anything else, canary removed, routing
restored, stable template restored.
"""

from __future__ import annotations

import functools
from typing import Any

import structlog

from rollout import analysis, deployments, errors, routers
from rollout.routers import ALL_STABLE, Weights
from rollout.spec import ObjectRef, StrategyKind
from strategies import canary_workload as workload
from strategies import native
from strategies.base import Context, Gate, Step

log = structlog.get_logger(__name__)

Object = dict[str, Any]
DEFAULT_STEPS = (10, 25, 50)
MESH = "istio"
ROUTING_STEP = "routing"
SETTLE = 30.0  # seconds for canary pods to leave the Service's endpoints once deleted


class IstioCanaryStrategy(workload.CanaryStrategyBase):
    """Weighted canary over an Istio router."""

    kind = StrategyKind.ISTIO_CANARY

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._router: routers.Router | None = None

    def steps(self) -> list[Step]:
        steps = [Step(ROUTING_STEP, self._route, weight=0)]
        header = self.spec.match_header
        if header is not None:
            steps.append(self._weight_step(f"header {header.name}={header.value}", 0))
        steps += [self._weight_step(f"weight {w}%", w) for w in self.weights]
        gates: tuple[Gate, ...] = (self.ready_gate(self.workload.ref), self._shift_gate(100))
        if 100 in self.spec.steps:  # the user asked to analyse the canary alone
            gates += (self._analysis(),)
        steps.append(Step("weight 100%", functools.partial(self._grow, 100), gates, weight=100))
        steps.append(Step("promote", self._promote_stable, (self._stable_ready,), weight=100))
        return steps

    def preflight(self, deployment: Object) -> None:
        if not deployments.is_complete(deployment) or deployments.desired_replicas(deployment) < 1:
            progress = deployments.progress(deployment)
            raise errors.PreconditionError(
                f"Deployment {self.target}: not fully rolled out ({progress}); its pods must all "
                "run one ReplicaSet: wait for it, or scale it up first"
            )
        self.workload.preflight(deployment)
        self._remember(deployment)
        self.router.prepare()

    def begin(self, deployment: Object) -> None:
        self._remember(deployment)
        self.router.prepare()  # no-op after preflight: the user's shape, before any write

    def shift_to_stable(self) -> None:
        """Weights 100/0 in one write (none if already): first thing on the way back."""
        self.router.set_weights(ALL_STABLE)

    def rollback(self) -> analysis.Verdict | None:
        try:
            self.shift_to_stable()
        except errors.PreconditionError as e:  # routing broken by hand: the canary goes anyway
            log.warning("rollback.weights_failed", error=str(e))
        self._remove_canary()
        self.router.restore()
        return self._restore_stable()

    def complete(self) -> None:
        self.router.ensure()  # stable subset -> the new ReplicaSet (no traffic on it yet)
        self.router.set_weights(ALL_STABLE)
        self._remove_canary()
        self.router.restore()

    def validate_writes(self, deployment: Object) -> None:
        first = 0 if self.spec.match_header else (self.weights or (100,))[0]
        self.workload.ensure(self._template(), replicas=self._size(first), dry_run=True)

    # -- actions and gates --------------------------------------------------

    @property
    def weights(self) -> tuple[int, ...]:
        """Weight steps before the 100% handoff (--match-header alone: none)."""
        steps = self.spec.steps or (() if self.spec.match_header else DEFAULT_STEPS)
        return tuple(w for w in steps if w < 100)

    @property
    def router(self) -> routers.Router:
        if self._router is None:
            routing = routers.Routing(
                service=ObjectRef(self.target.namespace, self.service),
                stable=self.target,
                canary=self.workload.ref,
                canary_labels=self.record.saved["canaryLabels"],
                virtual_service=self.spec.virtual_service,
                destination_rule=self.spec.destination_rule,
                create=self.spec.create_routing,
            )
            saved = self.record.saved.setdefault("routing", {})
            self._router = routers.for_mesh(MESH, self.cluster, routing, saved)
        return self._router

    def _remember(self, deployment: Object) -> None:
        """Service, size and canary pod labels, into the record (once)."""
        saved = self.record.saved
        if "service" not in saved:
            saved["service"] = self.workload.find_service(deployment)
        saved.setdefault("replicas", deployments.desired_replicas(deployment))
        selector = deployment["spec"]["selector"].get("matchLabels") or {}
        saved.setdefault("canaryLabels", {**selector, workload.CANARY_LABEL: "true"})

    def _weight_step(self, name: str, weight: int) -> Step:
        return Step(
            name,
            functools.partial(self._grow, weight),
            (self.ready_gate(self.workload.ref), self._shift_gate(weight), self._analysis()),
            weight=weight,
            pause=self.spec.pause,
        )

    def _size(self, weight: int) -> int:
        """Canary pods for `weight`% of the requests plus the mirrored ones."""
        mirrored = self.spec.mirror if weight < 100 else 0
        return workload.replicas_for_weight(self.replicas, min(100, weight + mirrored))

    def _route(self) -> None:
        """Subsets for stable and canary, the host's route split over them at 100/0."""
        self.router.ensure()

    def _grow(self, weight: int) -> None:
        """The canary sized for `weight`."""
        self.workload.ensure(self._template(), replicas=self._size(weight))

    def _shift_gate(self, weight: int) -> Gate:
        """Once the canary is ready: the weights, in one write (the route's split is exactly
        what was written: the achieved share)."""

        def gate() -> analysis.Verdict:
            partial = weight < 100
            weights = Weights.canary_share(weight)
            self.router.set_weights(
                weights,
                match_header=self.spec.match_header if partial else None,
                mirror=self.spec.mirror if partial else 0,
            )
            rec = self.record.steps[self.record.step]
            rec.achieved = float(weight)
            rec.message = f"weights {weights} (stable/canary)" + self._extras(partial)
            return analysis.passed(rec.message)

        return gate

    def _extras(self, partial: bool) -> str:
        header, mirror = self.spec.match_header, self.spec.mirror
        extras = [f"{header.name}={header.value} to canary"] if header and partial else []
        extras += [f"{mirror}% mirrored"] if mirror and partial else []
        return f", {', '.join(extras)}" if extras else ""

    def _analysis(self) -> Gate:
        return self.analysis_gate(
            lambda: self.workload.variables(
                service=self.service,
                stable_replicaset=native.new_replicaset(
                    self.cluster, self.target, self.record.previous_images
                ),
                mesh=analysis.Mesh.ISTIO,
            )
        )

    def _promote_stable(self) -> None:
        """Stable to the new template (its own rolling update) while the canary serves all."""
        self.workload.promote_stable(self.record.target_images, replicas=self.replicas)

    def _stable_ready(self) -> analysis.Verdict:
        verdict = self.ready_gate()()
        if verdict.passed:  # the new version serves everything: the canary, then stable
            self.record.steps[self.record.step].achieved = 100.0
        return verdict

    def _remove_canary(self) -> None:
        """Delete the canary; wait (bounded) until none of its pods is a ready endpoint,
        so the user's route (often the whole Service) never reaches one."""
        self.workload.remove()
        share = self.workload.wait_share(
            self.service, lambda s: s.new == 0, timeout=min(SETTLE, self.spec.timeout)
        )
        if share.new:
            log.warning("canary.still_serving", endpoints=str(share))
