"""Canary: a `<name>-canary` Deployment whose pods the Service also selects, so its share
of the traffic is its share of the ready pods, moved in steps (e.g. 10,25,50).

Steps: for each weight, size the canary (and with --shrink-stable, then the stable) so
its share of the pods is the nearest the replica count allows, wait until the Service's
endpoints show that split, record it as the step's achieved share, and analyse the canary
pods. Then promote: the stable takes the new template by its own rolling update while the
canary still serves, and the canary is removed. Rollback deletes the canary first (its
pods leave the endpoints), then puts stable back to full size and template. Steps the
replica count cannot express within TOLERANCE points are refused before any write.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import structlog

from rollout import analysis, deployments, errors
from rollout.spec import ObjectRef, StrategyKind
from strategies import canary_workload as workload
from strategies import native
from strategies.base import Context, Gate, Step

log = structlog.get_logger(__name__)

Object = dict[str, Any]
DEFAULT_STEPS = (20, 50)  # 1 then 4 canary pods beside 4 stable ones
TOLERANCE = 5.0  # points a step's nearest expressible share may be off the requested one
SETTLE = 30.0  # seconds for the Service's endpoints to show a ready split
HINT_LIMIT = 1000  # largest replica count suggested in a refusal


class CanaryStrategy(workload.CanaryStrategyBase):
    """Replica-ratio canary beside the stable Deployment."""

    kind = StrategyKind.CANARY

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._found_service: str | None = None  # by preflight, for begin

    def steps(self) -> list[Step]:
        steps = [
            Step(
                f"canary {w}%",
                functools.partial(self._size_canary, w),
                (self._split_gate(w), self._analysis()),
                weight=w,
                pause=self.spec.pause,
            )
            for w in self.weights
        ]
        steps.append(Step("promote", self._promote, (self.ready_gate(), self._promoted_gate()),
                          weight=100))  # fmt: skip
        return steps

    def preflight(self, deployment: Object) -> None:
        replicas = deployments.desired_replicas(deployment)
        if replicas < 1:
            raise errors.PreconditionError(
                f"Deployment {self.target} has 0 replicas; scale it up first (a canary shares "
                "traffic with running stable pods)"
            )
        self.workload.preflight(deployment)
        self._found_service = self.workload.find_service(deployment)
        check_reachable(self.target, self.weights, replicas, shrink=self.spec.shrink_stable)
        for w in self.weights:
            split = split_for(replicas, w, shrink=self.spec.shrink_stable)
            if abs(split.percent - w) > 0.5:
                log.warning("canary.inexact", requested=w, planned=round(split.percent, 1),
                            canary=split.canary, stable=split.stable)  # fmt: skip

    def begin(self, deployment: Object) -> None:
        self.record.saved["replicas"] = deployments.desired_replicas(deployment)
        self.record.saved["service"] = self._found_service or self.workload.find_service(deployment)

    def rollback(self) -> analysis.Verdict | None:
        """Canary out first (errors stop), then stable back; if stable serves nothing
        (a 100% step with --shrink-stable), stable first, so endpoints never run dry."""
        share = self.workload.measure(self.service)
        if share.old == 0 and share.new > 0:
            stable = self._restore_stable()
            self._remove_canary()
            return stable
        self._remove_canary()
        return self._restore_stable()

    def shift_to_stable(self) -> None:
        """The canary's pods leave the Service at once (its Deployment deleted), unless no
        stable pod is ready to take the traffic; rollback() does the rest."""
        if self.workload.measure(self.service).old > 0:
            self.workload.remove()

    def complete(self) -> None:
        self._remove_canary()

    def validate_writes(self, deployment: Object) -> None:
        split = split_for(deployments.desired_replicas(deployment), self.weights[0],
                          shrink=self.spec.shrink_stable)  # fmt: skip
        self.workload.ensure(self._template(), replicas=split.canary, dry_run=True)

    # -- actions and gates --------------------------------------------------

    @property
    def weights(self) -> tuple[int, ...]:
        return self.spec.steps or DEFAULT_STEPS

    def _size_canary(self, weight: int) -> None:
        split = split_for(self.replicas, weight, shrink=self.spec.shrink_stable)
        self.workload.ensure(self._template(), replicas=split.canary)
        log.info("weights.set", weight=weight, canary=split.canary, stable=split.stable)

    def _split_gate(self, weight: int) -> Gate:
        """Canary ready, then (--shrink-stable) stable shrunk to match, then the endpoints
        show the split; records the achieved share. Fails only if no canary pod serves."""

        def gate() -> analysis.Verdict:
            split = split_for(self.replicas, weight, shrink=self.spec.shrink_stable)
            ready = self.ready_gate(self.workload.ref)()
            if not ready.passed:
                return ready
            if self.spec.shrink_stable:
                self.workload.scale_stable(split.stable)
            share = self.workload.wait_share(
                self.service,
                lambda s: s.new == split.canary and s.old == split.stable,
                timeout=min(SETTLE, self.spec.timeout),
            )
            if share.new == 0:
                return analysis.failed(
                    f"Service {self.target.namespace}/{self.service}: no canary pod among its "
                    f"ready endpoints after {SETTLE:.0f}s ({share}); see kubectl get endpoints"
                )
            return analysis.passed(self._note(weight, share))

        return gate

    def _analysis(self) -> Gate:
        return self.analysis_gate(
            lambda: self.workload.variables(
                service=self.service,
                stable_replicaset=native.new_replicaset(
                    self.cluster, self.target, self.record.previous_images
                ),
            )
        )

    def _promote(self) -> None:
        """Stable to the new template at full size; the canary keeps serving meanwhile."""
        self.workload.promote_stable(self.record.target_images, replicas=self.replicas)

    def _promoted_gate(self) -> Gate:
        """Records the new version's share once the stable's rollout is complete."""

        def gate() -> analysis.Verdict:
            rs = native.new_replicaset(self.cluster, self.target, self.record.target_images)
            share = self.workload.wait_share(
                self.service,
                lambda s: s.total > 0 and s.old == 0,
                timeout=min(SETTLE, self.spec.timeout),
                also_new=(rs + "-",),
            )
            return analysis.passed(self._note(100, share, "new-version"))

        return gate

    def _note(self, weight: int, share: workload.Share, side: str = "canary") -> str:
        """Record the achieved share on the current step; the line for logs and status."""
        rec = self.record.steps[self.record.step]
        rec.achieved = None if share.percent is None else round(share.percent, 1)
        seen = "nothing" if share.percent is None else f"{share.percent:.1f}%"
        rec.message = (
            f"requested {weight}%, achieved {seen}: {share.new} {side} + {share.old} stable "
            "ready endpoints"
        )
        if rec.achieved is not None and abs(rec.achieved - weight) > 0.5:
            log.warning("weights.inexact", requested=weight, achieved=rec.achieved)
        return rec.message

    def _remove_canary(self) -> None:
        """Delete the canary and wait (bounded) until no canary pod is a ready endpoint."""
        self.workload.remove()
        share = self.workload.wait_share(
            self.service, lambda s: s.new == 0, timeout=min(SETTLE, self.spec.timeout)
        )
        if share.new:
            log.warning("canary.still_serving", endpoints=str(share))


# -- replica math (pure) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Split:
    """Pods per side at one step."""

    canary: int
    stable: int

    @property
    def percent(self) -> float:
        """The canary's share of all pods, in %."""
        total = self.canary + self.stable
        return 100.0 * self.canary / total if total else 0.0


def split_for(replicas: int, weight: float, *, shrink: bool) -> Split:
    """The split whose canary share is nearest `weight`% (ties: the smaller canary).

    The canary has 1..`replicas` pods; the stable keeps `replicas` (default: at most half
    the pods are canary) or gives up as many as the canary has (`shrink`: total constant,
    so the canary gets ceil-or-floor(total x weight) pods).
    """
    splits = [Split(c, replicas - c if shrink else replicas) for c in range(1, replicas + 1)]
    return min(splits, key=lambda s: (abs(s.percent - weight), s.canary))


def unreachable(replicas: int, weights: tuple[int, ...], *, shrink: bool) -> list[int]:
    """The weights whose nearest split is more than TOLERANCE points off."""
    return [
        w for w in weights
        if abs(split_for(replicas, w, shrink=shrink).percent - w) > TOLERANCE
    ]  # fmt: skip


def replicas_needed(weights: tuple[int, ...], *, shrink: bool, start: int = 1) -> int | None:
    """The smallest replica count >= `start` that reaches every weight (None up to
    HINT_LIMIT: e.g. above 50% without `shrink`)."""
    for n in range(max(start, 1), HINT_LIMIT + 1):
        if not unreachable(n, weights, shrink=shrink):
            return n
    return None


def check_reachable(
    target: ObjectRef, weights: tuple[int, ...], replicas: int, *, shrink: bool
) -> None:
    """SpecError (exit 2, before any write) naming the first step the replica count cannot
    express within TOLERANCE points, and what would."""
    bad = unreachable(replicas, weights, shrink=shrink)
    if not bad:
        return
    w = bad[0]
    split = split_for(replicas, w, shrink=shrink)
    fixes = []
    needed = replicas_needed(weights, shrink=shrink, start=replicas)
    if needed is not None:
        fixes.append(f"scale to {needed} replicas")
    if not shrink and not unreachable(replicas, weights, shrink=True):
        fixes.append("pass --shrink-stable")
    fixes.append("choose other --steps")
    raise errors.SpecError(
        f"Deployment {target}: step {w}% cannot be reached with {replicas} replicas (nearest: "
        f"{split.canary} canary beside {split.stable} stable = {split.percent:.0f}%, more than "
        f"{TOLERANCE:.0f} points off); {', '.join(fixes)}"
    )
