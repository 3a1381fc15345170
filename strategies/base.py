"""The Strategy seam: a strategy is a list of steps, each an action on the cluster plus
gates, and a way back to stable. Gates come from here (readiness) and from
`rollout.analysis` (metrics); strategies never call kubernetes or Prometheus directly.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from rollout import analysis, deployments, errors, kube, metrics
from rollout.settings import Settings
from rollout.spec import Check, ObjectRef, RolloutSpec, StrategyKind
from rollout.state import RolloutRecord

Gate = Callable[[], analysis.Verdict]
Object = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Step:
    """One step: `action` (idempotent) then every gate must pass, then the pause.

    `weight` is the share of traffic (%) the new version should have after it.
    `pause` is seconds to wait for a promotion before going on (after the last step:
    before the rollout completes), or spec.PAUSE_MANUAL.
    """

    name: str
    action: Callable[[], None]
    gates: tuple[Gate, ...] = ()
    weight: int | None = None
    pause: float = 0.0


@dataclass(slots=True)
class Context:
    """What a strategy works with: the cluster, the spec, the record, the analysis seam."""

    cluster: kube.Cluster
    spec: RolloutSpec
    record: RolloutRecord
    settings: Settings
    provider: metrics.MetricProvider | None
    clock: analysis.Clock
    on_measurement: Callable[[analysis.Measurement], None] | None = None


class Strategy(abc.ABC):
    """Base of the five strategies; subclasses read like their row in DESIGN's table."""

    kind: ClassVar[StrategyKind]

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.cluster = ctx.cluster
        self.spec = ctx.spec
        self.record = ctx.record

    @property
    def target(self) -> ObjectRef:
        return self.spec.target

    # -- what a strategy provides -------------------------------------------

    def preflight(self, deployment: Object) -> None:  # noqa: B027 - optional hook
        """Read-only checks before any write; raise SpecError/PreconditionError."""

    @abc.abstractmethod
    def begin(self, deployment: Object) -> None:
        """Fill the record with what rollback will need (called once, before step 0)."""

    @abc.abstractmethod
    def steps(self) -> list[Step]:
        """The step list, derived only from the spec and the record (so resume agrees)."""

    @abc.abstractmethod
    def rollback(self) -> analysis.Verdict | None:
        """Put the stable version back in full and wait for it; idempotent. Returns the
        stable version's readiness verdict (None: the strategy does not report one)."""

    def shift_to_stable(self) -> None:  # noqa: B027 - optional hook
        """On the way back, before the record is written: send all traffic to stable in
        one write (weights 100/0, selector swap-back) if the strategy can; idempotent."""

    def complete(self) -> None:  # noqa: B027 - optional hook
        """After the last step passed: tidy up (idempotent)."""

    def validate_writes(self, deployment: Object) -> None:  # noqa: B027 - optional hook
        """Send the first write(s) with dryRun=All so the server validates them."""

    # -- gates --------------------------------------------------------------

    def ready_gate(self, ref: ObjectRef | None = None) -> Gate:
        """Passes when the Deployment's rollout completes within spec.timeout."""
        ref = ref or self.target

        def gate() -> analysis.Verdict:
            try:
                d = self.cluster.wait_for(
                    kube.Resource.DEPLOYMENT,
                    ref,
                    deployments.is_done_or_stuck,
                    timeout=self.spec.timeout,
                    describe="rollout complete",
                )
            except errors.WaitTimeout as e:
                last = e.last if isinstance(e.last, dict) else None
                evidence = deployments.progress(last) if last else "not found"
                return analysis.failed(
                    f"Deployment {ref} not ready after {self.spec.timeout:.0f}s ({evidence})"
                )
            assert d is not None
            if deployments.is_deadline_exceeded(d):
                return analysis.failed(
                    f"Deployment {ref} exceeded its progress deadline ({deployments.progress(d)})"
                )
            return analysis.passed(f"Deployment {ref} ready ({deployments.progress(d)})")

        return gate

    def analysis_gate(
        self,
        variables: Callable[[], analysis.Variables],
        *,
        checks: tuple[Check, ...] | None = None,
    ) -> Gate:
        """Runs the spec's checks (or `checks` instead) against the new version's pods
        (variables read late, when the gate runs, so they name pods that exist by then)."""
        spec = self.spec.analysis
        if checks is not None:
            spec = dataclasses.replace(spec, checks=checks)

        def gate() -> analysis.Verdict:
            if not spec.checks:
                return analysis.passed("no checks")
            if self.ctx.provider is None:
                raise errors.SpecError(
                    "checks need Prometheus: pass --prometheus-url or set ROLLOUT_PROMETHEUS_URL"
                )
            return analysis.run_analysis(
                self.ctx.provider,
                spec,
                variables(),
                clock=self.ctx.clock,
                on_measurement=self.ctx.on_measurement,
            )

        return gate
