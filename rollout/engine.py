"""Drives a strategy: preflight, lock, steps with their gates and pauses, promote/abort
requests from other processes, signals, and rollback — recording every transition.

Knows no strategy by name: the CLI passes the Strategy class in. Reading a rollout and
leaving requests for it (status, history, promote, abort) is `control`'s; the Engine's
methods for them delegate there, and roll back here when an abort finds no driver.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import structlog

from rollout import (
    analysis,
    control,
    deployments,
    errors,
    interrupts,
    kube,
    lease,
    metrics,
    replicas,
    state,
)
from rollout.deployments import images_text
from rollout.report import Outcome, Reporter, Result
from rollout.settings import Settings
from rollout.spec import (
    PAUSE_MANUAL,
    ObjectRef,
    OnInterrupt,
    PrometheusSpec,
    RolloutSpec,
    StrategyKind,
)
from rollout.state import Phase, Request, RolloutRecord, StepRecord
from strategies.base import Context, Step, Strategy

log = structlog.get_logger(__name__)


@dataclass
class Engine:
    """Runs rollouts of one cluster with one set of collaborators."""

    cluster: kube.Cluster
    settings: Settings
    strategies: dict[StrategyKind, type[Strategy]]
    metrics_for: Callable[[PrometheusSpec], metrics.MetricProvider] | None = None
    clock: analysis.Clock = field(default_factory=analysis.SystemClock)
    reporter: Reporter = field(default_factory=Reporter)
    interactive: bool = False  # wait at manual pauses instead of exiting 4
    _providers: dict[PrometheusSpec, metrics.MetricProvider] = field(
        default_factory=dict, init=False, repr=False
    )
    _lock: lease.Lock | None = field(default=None, init=False, repr=False)  # while held

    def close(self) -> None:
        """Stop the progress display and close metric providers (end of a command)."""
        self.reporter.close()
        for provider in self._providers.values():
            close = getattr(provider, "close", None)
            if close is not None:
                close()
        self._providers.clear()

    # -- commands -----------------------------------------------------------

    def start(self, spec: RolloutSpec) -> Result:
        """Begin a rollout of spec.target (exit 2 on bad input before any write)."""
        d = control.read_target(self.cluster, spec.target)
        lock = lease.Lock(self.cluster, spec.target, settings=self.settings)
        self._refuse_if_active(d, lock, spec.wait_for_lock)
        images = deployments.target_images(d, spec.images)
        if images == deployments.images(d) and not spec.force:
            return Result(
                Outcome.UNCHANGED,
                spec.target,
                f"Deployment {spec.target} already "
                f"runs {images_text(images)}; nothing to do (--force to roll anyway)",
            )
        record = RolloutRecord(
            strategy=spec.strategy,
            spec=spec,
            target_images=images,
            previous_images=deployments.images(d),
            previous_template=d["spec"]["template"],
            previous_revision=deployments.revision(d),
        )
        analysis.validate_checks(spec)
        strategy = self._strategy(spec, record)
        strategy.preflight(d)
        plan = strategy.steps()
        if spec.dry_run:
            strategy.validate_writes(d)
            return Result(
                Outcome.DRY_RUN,
                spec.target,
                "dry run: the server accepted the first writes; nothing was changed",
                plan=tuple(s.name for s in plan),
            )
        with self._holding(lock, wait=spec.wait_for_lock):
            strategy.begin(d)
            record.steps = [StepRecord(s.name, weight=s.weight) for s in plan]
            started = f"{spec.strategy.value} to {images_text(images)}"
            return self._drive(strategy, record, started=started)

    def resume(self, target: ObjectRef, *, wait_for_lock: bool = False) -> Result:
        """Continue a rollout from its record (after exit 4, a crash, or kill -9)."""
        d = control.read_target(self.cluster, target)
        record = control.read_active_record(d, target)
        lock = lease.Lock(self.cluster, target, settings=self.settings)
        with self._holding(lock, wait=wait_for_lock):
            strategy = self._strategy(record.spec, record)
            if record.phase is Phase.ABORTING:
                return self._roll_back(strategy, record, Phase.ABORTED, record.message)
            return self._drive(strategy, record)

    def request(self, target: ObjectRef, request: Request) -> Result:
        """`promote`/`abort` from any process (see `control.request`); an abort with no
        live driver rolls back in this process."""
        return control.request(
            self.cluster, target, request, settings=self.settings, abort_here=self._abort_here
        )

    def _abort_here(self, lock: lease.Lock, record: RolloutRecord) -> Result:
        """Take the lock and roll back for `rollout abort` when no process drives it."""
        with self._holding(lock, wait=False):
            done = self._roll_back(
                self._strategy(record.spec, record),
                record,
                Phase.ABORTED,
                "aborted by `rollout abort`",
            )
            control.clear_request(self.cluster, record.spec.target)
            return Result(Outcome.ABORTED, record.spec.target, done.message, done.record)

    def status(self, target: ObjectRef) -> RolloutRecord | None:
        """The current record, or None if the Deployment never had a rollout."""
        return control.status(self.cluster, target)

    def watch_status(self, target: ObjectRef) -> Iterator[RolloutRecord | None]:
        """The record now and after every change of it, until the rollout is over."""
        return control.watch_status(self.cluster, target, settings=self.settings)

    def history(self, target: ObjectRef) -> list[deployments.Revision]:
        """The Deployment's revisions (its ReplicaSets), newest first (`rollout status` shows
        the record of the latest rollout)."""
        return control.history(self.cluster, target)

    # -- the loop -----------------------------------------------------------

    def _drive(self, strategy: Strategy, record: RolloutRecord, started: str = "") -> Result:
        """Run the steps under interrupt handling: SIGINT/SIGTERM or an abort request at any
        point rolls back (or leaves, per spec). `started` (a new rollout) says what it
        does; the record's first write is the first step's start, with that as its Event."""
        with (
            interrupts.watch_for_abort(self.cluster, record.spec.target, self.settings) as aborted,
            self._replica_view(record),
        ):
            try:
                steps = strategy.steps()
                while record.step < len(steps):
                    step = steps[record.step]
                    result = self._run_step(strategy, record, step, aborted, started)
                    started = ""
                    if result is not None:
                        return result
                record.move_to(Phase.PROMOTING)
                self._save(record, "RolloutPromoting", "all steps passed")
                strategy.complete()
                record.final_revision = self._revision(record)
                record.move_to(Phase.SUCCEEDED, f"now on {images_text(record.target_images)}")
                self._save(record, "RolloutSucceeded", record.message)
                return Result(Outcome.PROMOTED, record.spec.target, record.message, record)
            except KeyboardInterrupt:
                by = "aborted by `rollout abort`" if aborted.is_set() else "interrupted by signal"
                if aborted.is_set() or record.spec.on_interrupt is OnInterrupt.ABORT:
                    result = self._roll_back(strategy, record, Phase.ABORTED, by)
                    if aborted.is_set():  # traffic first; then the request is answered
                        control.clear_request(self.cluster, record.spec.target)
                    return result
                record.message = f"{by}; left as is: `rollout resume` or `rollout abort`"
                self._save(record, "RolloutInterrupted", record.message, warning=True)
                return Result(Outcome.LEFT, record.spec.target, record.message, record)

    def _run_step(
        self,
        strategy: Strategy,
        record: RolloutRecord,
        step: Step,
        aborted: threading.Event,
        started: str = "",
    ) -> Result | None:
        rec = record.steps[record.step]
        if rec.outcome != "passed":
            if record.phase is Phase.PAUSED:
                record.move_to(Phase.PROGRESSING)
            rec.started, rec.outcome = state.now_iso(), "running"
            rec.measurements = []  # a re-run (after a crash or `leave`) measures afresh
            what = f"step {record.step + 1}/{len(record.steps)}: {step.name}"
            if started:  # one write and one Event for the start and the first step
                self._save(record, "RolloutStarted", f"{started}; {what}")
            else:
                self._save(record, "RolloutStep", what)
            log.info("step.started", step=step.name, index=record.step)
            interrupts.raise_if_aborted(aborted)
            self._check_lock()
            step.action()
            for gate in step.gates:
                interrupts.raise_if_aborted(aborted)
                self._check_lock()
                verdict = gate()  # its measurements reach `rec` one by one (_measured)
                if not verdict.passed:
                    rec.outcome, rec.message, rec.finished = (
                        "failed",
                        verdict.message,
                        state.now_iso(),
                    )
                    log.warning("gate.failed", step=step.name, reason=verdict.message)
                    return self._roll_back(strategy, record, Phase.FAILED, verdict.message)
                log.info("gate.passed", step=step.name, message=verdict.message)
            rec.outcome, rec.finished = "passed", state.now_iso()
        if step.pause and not record.skip_pauses:
            paused = self._pause(record, step, aborted)
            if paused is not None:
                return paused
        record.step += 1  # saved with the next step's start (or the promotion): one write
        return None

    def _pause(self, record: RolloutRecord, step: Step, aborted: threading.Event) -> Result | None:
        d = self.cluster.get(kube.Resource.DEPLOYMENT, record.spec.target)
        request = control.read_promotion(d)
        if request is Request.NONE:
            if record.phase is not Phase.PAUSED:
                record.move_to(Phase.PAUSED, f"paused after {step.name}")
                self._save(record, "RolloutPaused", record.message)
            manual = step.pause == PAUSE_MANUAL
            if manual and not self.interactive:
                return Result(
                    Outcome.PAUSED,
                    record.spec.target,
                    f"paused after {step.name}: `rollout promote "
                    f"{record.spec.target.name}` then `rollout resume`",
                    record,
                )
            d = self._wait_for_request(record, 1e9 if manual else step.pause) or d
            if state.read_request(d) is Request.ABORT:
                aborted.set()
            interrupts.raise_if_aborted(aborted)
            request = control.read_promotion(d)
        if request is not Request.NONE:
            self._check_lock()
            control.clear_request(self.cluster, record.spec.target)
        if request is Request.PROMOTE_FULL:  # every remaining step runs, none pauses
            record.skip_pauses = True
        if record.phase is Phase.PAUSED:
            record.move_to(Phase.PROGRESSING, f"promoted ({request.value})")
        return None

    def _wait_for_request(self, record: RolloutRecord, seconds: float) -> kube.Object | None:
        """Wait up to `seconds` for a promote/abort request (any request wakes us: an abort
        must not wait out the pause); None when the pause just ends. Watched in spans of
        one lease duration, so a lease lost meanwhile ends the wait too (exit 5)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._check_lock()
            try:
                return self.cluster.wait_for(
                    kube.Resource.DEPLOYMENT,
                    record.spec.target,
                    lambda o: o is not None and state.read_request(o) is not Request.NONE,
                    timeout=min(left, self.settings.lease_duration),
                    describe="promotion",
                )
            except errors.WaitTimeout:
                continue
        return None

    def _roll_back(
        self, strategy: Strategy, record: RolloutRecord, end: Phase, reason: str
    ) -> Result:
        self._check_lock()  # a lost lease: the new holder decides, not us
        with interrupts.held():  # traffic first: before the record and events are written
            try:
                strategy.shift_to_stable()
            except errors.RolloutError as e:  # rollback() tries again
                log.warning("rollback.shift_failed", error=str(e))
        if record.phase is not Phase.ABORTING:
            record.move_to(Phase.ABORTING, reason)
        self._save(record, "RolloutRollingBack", reason, warning=True)
        log.warning("rollback.started", reason=reason)
        with interrupts.held():
            stable = strategy.rollback()
        record.final_revision = self._revision(record)
        back = f"{reason}; rolled back to {images_text(record.previous_images)}"
        if stable is not None and not stable.passed:
            log.warning("rollback.not_ready", reason=stable.message)
            back += f", which did not become ready: {stable.message}"
        record.move_to(end, back)
        self._save(record, "RolloutRolledBack", record.message, warning=True)
        return Result(Outcome.ROLLED_BACK, record.spec.target, record.message, record)

    # -- plumbing -----------------------------------------------------------

    @contextlib.contextmanager
    def _holding(self, lock: lease.Lock, *, wait: bool) -> Iterator[None]:
        """Hold `lock` for the block; `_check_lock` consults it before every change."""
        lock.acquire(wait=wait)
        self._lock = lock
        try:
            yield
        finally:
            self._lock = None
            lock.release()

    def _check_lock(self) -> None:
        """InfraError (exit 5) once the lease is lost: stop before the next change."""
        if self._lock is not None:
            self._lock.check()

    def _refuse_if_active(self, d: kube.Object, lock: lease.Lock, wait: bool) -> None:
        holder, expires_in = lock.holder()
        if holder and expires_in > 0 and not wait:
            raise errors.LockHeldError(
                f"Deployment {lock.target}: another rollout holds lease {lock.ref.name} "
                f"(holder {holder}, expires in {expires_in:.0f}s unless renewed); retry later, "
                "pass --wait, or `rollout abort` it",
                holder=holder,
                expires_in=expires_in,
            )
        record = state.read_record(d)
        if record is not None and not record.phase.is_terminal and not (holder and wait):
            raise errors.PreconditionError(
                f"Deployment {lock.target}: a {record.strategy.value} rollout is "
                f"{record.phase.value} at step {record.step + 1}; `rollout resume` or "
                "`rollout abort` it first"
            )

    def _strategy(self, spec: RolloutSpec, record: RolloutRecord) -> Strategy:
        ctx = Context(
            cluster=self.cluster,
            spec=spec,
            record=record,
            settings=self.settings,
            provider=self._provider(spec),
            clock=self.clock,
            on_measurement=lambda m: self._measured(record, m),
        )
        if spec.strategy not in self.strategies:
            raise errors.SpecError(f"strategy {spec.strategy.value}: not available in this build")
        return self.strategies[spec.strategy](ctx)

    def _provider(self, spec: RolloutSpec) -> metrics.MetricProvider | None:
        """The metric provider for a spec with checks (None without checks), one per
        Prometheus configuration."""
        checks = spec.analysis.checks or spec.pre_promotion_checks or spec.post_promotion_checks
        if not checks or self.metrics_for is None:
            return None
        if spec.prometheus not in self._providers:
            self._providers[spec.prometheus] = self.metrics_for(spec.prometheus)
        return self._providers[spec.prometheus]

    def _replica_view(self, record: RolloutRecord) -> contextlib.AbstractContextManager[None]:
        """Old/new ready pods for a reporter that shows them (one watch, TTY only)."""
        if not self.reporter.shows_replicas:
            return contextlib.nullcontext()
        return replicas.watch_ready(
            self.cluster,
            record.spec.target.namespace,
            deployments.template_labels(record.previous_template),
            record.target_images,
            settings=self.settings,
            report=lambda n: self.reporter.replicas(old=n.old, new=n.new),
        )

    def _measured(self, record: RolloutRecord, m: analysis.Measurement) -> None:
        """Keep each measurement in the running step's record as it is taken (saved with
        the step's next write, so an interrupted gate's measurements are kept too)."""
        if record.step < len(record.steps):
            record.steps[record.step].measurements.append(analysis.measurement_json(m))
        self.reporter.measurement(m)

    def _revision(self, record: RolloutRecord) -> str:
        """The target's `deployment.kubernetes.io/revision` now (one read, at the end)."""
        return deployments.revision(self.cluster.get(kube.Resource.DEPLOYMENT, record.spec.target))

    def _save(
        self, record: RolloutRecord, reason: str = "", message: str = "", warning: bool = False
    ) -> None:
        self._check_lock()  # after a lost lease the record is the new holder's
        record.updated = state.now_iso()
        text = record.to_annotation()
        # one merge patch of our own annotation: no read, no conflict with other writers
        d = self.cluster.patch(
            kube.Resource.DEPLOYMENT,
            record.spec.target,
            {"metadata": {"annotations": {state.ANNOTATION: text}}},
        )
        if reason:
            self.cluster.record_event(d, reason=reason, message=message, warning=warning)
        self.reporter.update(record)
