"""Blue/green: the new version comes up as a second Deployment beside the live one; the
Service selector swaps to it in one write; the old colour stays up for the scale-down
delay so a failed post-promotion analysis swaps back in one write; then it goes to 0.

Steps (first run on an app shown; NEW/OLD are green/blue, then blue/green, alternating):
  1. deploy green     first run only: pin the Service to the live pods by their
                      pod-template-hash (same pods, no restart, one write); then create
                      `<name>-green` (the target's template + new image + colour label,
                      same replicas) -> gate: it is available
  2. verify green     `--preview-service` selects green -> gate: pre-promotion checks;
                      `--no-auto-promote` pauses here (exit 4; `promote` + `resume`)
  3. switch to green  the Service selector becomes `{app..., rollout.dev/color: green}`
                      in ONE write -> gates: every endpoint is green, post-promotion
                      checks (and --check)
  4. scale down blue  after the scale-down delay (from the switch), the old colour goes
                      to 0 replicas; the target's own template gets the new images
                      (it has 0 replicas: no pod starts) so it names the live version
Rollback: the old colour back to full size if it was scaled down, the selector back in
ONE write, the preview put back, the new colour removed (deleted if this rollout
created it, else scaled to 0), and on a first run the Service's original selector.

Objects, for `link-manager` (Deployment, 4 replicas, Service selecting app=link-manager):
  after the 1st rollout (v1 -> v2):
    Deployment link-manager        0 replicas, template image v2, rollout record
    Deployment link-manager-green  4 replicas, v2, pods labelled rollout.dev/color=green
    Service    link-manager        selector app=link-manager,rollout.dev/color=green
  after the 2nd rollout (v2 -> v3):
    Deployment link-manager        0 replicas, template image v3
    Deployment link-manager-green  0 replicas, v2
    Deployment link-manager-blue   4 replicas, v3, pods labelled rollout.dev/color=blue
    Service    link-manager        selector app=link-manager,rollout.dev/color=blue
  the 3rd updates link-manager-green in place, and so on. `--preview-service P` adds
  Service P (created by rollout unless it exists) selecting the new colour.
GitOps sees: link-manager's replicas (-> 0) and image, the Service's selector, and the
colour Deployments (labelled app.kubernetes.io/managed-by=rollout, not in git).
"""

from __future__ import annotations

import structlog

from rollout import analysis, deployments, errors, kube
from rollout.spec import PAUSE_MANUAL, Check, ObjectRef, StrategyKind
from strategies import bluegreen_discovery as discovery
from strategies import bluegreen_layout as bg
from strategies.base import Context, Gate, Object, Step, Strategy

log = structlog.get_logger(__name__)

SWITCHED_AT = "switchedAt"  # record.saved key: Clock time of the switch (scale-down delay)


class BlueGreenStrategy(Strategy):
    """Second Deployment, one-write selector swap, old colour kept for the delay."""

    kind = StrategyKind.BLUEGREEN

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._plan: bg.Layout | None = None  # preflight's reading, until the record has it
        self._target: Object | None = None  # the target as preflight read it (this process)
        self._unready: str | None = None  # why the switch did not happen (for its gate)

    def steps(self) -> list[Step]:
        lay = self._layout()
        new, old = lay.new.color, lay.old.color
        pause = 0.0 if self.spec.auto_promote else PAUSE_MANUAL
        post = self.spec.post_promotion_checks + self.spec.analysis.checks
        return [
            Step(f"deploy {new}", self._deploy, (self.ready_gate(self._ref(lay.new)),), weight=0),
            Step(
                f"verify {new}",
                self._preview,
                (self._analysis(self.spec.pre_promotion_checks),),
                weight=0,
                pause=pause,
            ),
            Step(f"switch to {new}", self._switch, (self._switched, self._analysis(post)), 100),
            Step(f"scale down {old}", self._scale_down, (), weight=100),
        ]

    def preflight(self, deployment: Object) -> None:
        """Find the Service and the colours; refuse (exit 2, no write) what cannot work."""
        self._plan = discovery.resolve(self.cluster, self.spec, deployment)
        self._target = deployment

    def begin(self, deployment: Object) -> None:
        self.record.saved.update(self._layout().to_json())

    def rollback(self) -> None:
        lay = self._layout()
        self._bring_back_old(lay)
        self._swap_back(lay)
        self._restore_preview(lay)
        self._retire_new(lay)
        self._set_selector(lay.service, lay.original)  # first run: un-pin, new pods gone
        self._restore_target_template()

    def shift_to_stable(self) -> None:
        """The swap back, first thing on the way back, if the old colour is still up."""
        lay = self._layout()
        old = self.cluster.get(kube.Resource.DEPLOYMENT, self._ref(lay.old))
        if (
            deployments.is_complete(old)
            and deployments.desired_replicas(old) == lay.replicas
            and (not lay.adopt or deployments.images(old) == self.record.previous_images)
        ):
            self._swap_back(lay)

    def validate_writes(self, deployment: Object) -> None:
        lay = self._layout()
        if lay.adopt:
            self._set_selector(lay.service, lay.old.selector, expect=lay.original, dry_run=True)
        self._ensure_colour(lay, dry_run=True)

    # -- actions --------------------------------------------------------------

    def _deploy(self) -> None:
        lay = self._layout()
        if lay.adopt:
            self._set_selector(lay.service, lay.old.selector, expect=lay.original)
        self._ensure_colour(lay)

    def _preview(self) -> None:
        lay = self._layout()
        if lay.preview is None:
            return
        ref = ObjectRef(self.target.namespace, lay.preview)
        if lay.preview_original is None and self.cluster.find(kube.Resource.SERVICE, ref) is None:
            active = self.cluster.get(kube.Resource.SERVICE, self._svc(lay.service))
            body = bg.preview_service(active, lay.preview, self.target.name, lay.new.selector)
            self.cluster.create(kube.Resource.SERVICE, body, namespace=self.target.namespace)
        else:  # usually still on the old colour (ours from the last rollout, or the user's)
            self._set_selector(lay.preview, lay.new.selector, expect=lay.old.selector)

    def _switch(self) -> None:
        """The swap: one write, and only onto a colour that is fully available."""
        lay = self._layout()
        new = self.cluster.get(kube.Resource.DEPLOYMENT, self._ref(lay.new))
        self._unready = None if deployments.is_complete(new) else deployments.progress(new)
        if self._unready is None:
            self._set_selector(lay.service, lay.new.selector, expect=lay.old.selector)
            self.record.saved.setdefault(SWITCHED_AT, self.ctx.clock.now())

    def _scale_down(self) -> None:
        lay = self._layout()
        at = float(self.record.saved.get(SWITCHED_AT) or self.ctx.clock.now())
        remaining = at + self.spec.scale_down_delay - self.ctx.clock.now()
        if remaining > 0:
            log.info("bluegreen.scale_down_delay", seconds=round(remaining, 1))
            self.ctx.clock.sleep(remaining)
        containers = [{"name": n, "image": i} for n, i in self.record.target_images.items()]
        sync = {"template": {"spec": {"containers": containers}}}
        if lay.adopt:  # the old side is the target itself: to 0 and onto the new images
            self._patch_target({"spec": {"replicas": 0, **sync}})
            return
        self._scale(self._ref(lay.old), 0)
        self._patch_target({"spec": sync})

    # -- gates ----------------------------------------------------------------

    def _switched(self) -> analysis.Verdict:
        """Passes when every endpoint of the Service is a ready pod of the new colour."""
        lay = self._layout()
        if self._unready is not None:
            return analysis.failed(
                f"Deployment {self._ref(lay.new)} not available before the switch "
                f"({self._unready}); the Service was not switched"
            )
        prefix = f"{lay.new.deployment}-"

        def switched(ep: Object | None) -> bool:
            mine, ready, stale = bg.ready_share(ep, prefix)
            return mine == ready >= 1 and stale == 0

        svc = self._svc(lay.service)
        try:
            ep = self.cluster.wait_for(
                kube.Resource.ENDPOINTS,
                svc,
                switched,
                timeout=self.spec.timeout,
                describe=f"endpoints all {lay.new.color}",
            )
        except errors.WaitTimeout as e:
            mine, ready, _ = bg.ready_share(e.last if isinstance(e.last, dict) else None, prefix)
            return analysis.failed(
                f"Service {svc}: {mine} of {ready} ready endpoints are {lay.new.color} "
                f"after {self.spec.timeout:.0f}s"
            )
        mine, ready, _ = bg.ready_share(ep, prefix)
        self.record.steps[self.record.step].achieved = 100.0 * mine / ready
        return analysis.passed(f"Service {svc} selects {lay.new.color}: {mine} ready endpoints")

    def _analysis(self, checks: tuple[Check, ...]) -> Gate:
        return self.analysis_gate(self._variables, checks=checks)

    def _variables(self) -> analysis.Variables:
        lay = self._layout()
        old_pods = (
            f"{lay.old.deployment}-{lay.old.selector[bg.HASH]}-[a-z0-9]+"
            if lay.adopt
            else f"{lay.old.deployment}-[a-z0-9]+-[a-z0-9]+"
        )
        return analysis.Variables(
            namespace=self.target.namespace,
            service=lay.service,
            stable=lay.old.deployment,
            canary=lay.new.deployment,
            stable_pods=old_pods,
            canary_pods=f"{lay.new.deployment}-[a-z0-9]+-[a-z0-9]+",
        )

    # -- rollback pieces ------------------------------------------------------

    def _bring_back_old(self, lay: bg.Layout) -> None:
        """The old colour at full size and available again (no write if it still is)."""
        ref = self._ref(lay.old)
        if lay.adopt:
            d, previous = self.cluster.get(kube.Resource.DEPLOYMENT, ref), self.record
            if (
                deployments.desired_replicas(d) != lay.replicas
                or deployments.images(d) != previous.previous_images
            ):
                ops: list[Object] = [
                    {"op": "replace", "path": "/spec/replicas", "value": lay.replicas},
                    {
                        "op": "replace",
                        "path": "/spec/template",
                        "value": previous.previous_template,
                    },
                ]
                self.cluster.patch(kube.Resource.DEPLOYMENT, ref, ops, type=kube.PatchType.JSON)
        else:
            self._scale(ref, lay.replicas)
        verdict = self.ready_gate(ref)()
        if not verdict.passed:
            raise errors.InfraError(
                f"{verdict.message}; the Service still selects {lay.new.color}: fix "
                f"Deployment {ref} then run `rollout abort {self.target.name}` again"
            )

    def _swap_back(self, lay: bg.Layout) -> None:
        """The Service back onto the old colour in one write, if it selects the new one."""
        self._set_selector(lay.service, lay.old.selector, only_from=lay.new.selector)

    def _restore_preview(self, lay: bg.Layout) -> None:
        if lay.preview is None:
            return
        ref = ObjectRef(self.target.namespace, lay.preview)
        if lay.preview_original is not None:
            self._set_selector(lay.preview, lay.preview_original)
        elif bg.is_owned(self.cluster.find(kube.Resource.SERVICE, ref), self.target.name):
            self.cluster.delete(kube.Resource.SERVICE, ref)

    def _retire_new(self, lay: bg.Layout) -> None:
        """Delete the new colour if this rollout created it (waiting until its pods are
        gone), else scale it to 0. Never touches a Deployment rollout did not create."""
        ref = self._ref(lay.new)
        if not bg.is_owned(self.cluster.find(kube.Resource.DEPLOYMENT, ref), self.target.name):
            return
        if not lay.created:
            self._scale(ref, 0)
            return
        self.cluster.delete(kube.Resource.DEPLOYMENT, ref, propagation="Foreground")
        try:
            self.cluster.wait_for(
                kube.Resource.DEPLOYMENT,
                ref,
                lambda o: o is None,
                timeout=self.spec.timeout,
                describe="deleted with its pods",
            )
        except errors.WaitTimeout as e:
            raise errors.InfraError(
                f"Deployment {ref} still has pods {self.spec.timeout:.0f}s after its "
                f"deletion; the Service stays pinned to {lay.old.color}: `rollout abort` again"
            ) from e

    def _restore_target_template(self) -> None:
        """Undo step 4's image sync of the target's template (it has 0 replicas)."""
        d = self.cluster.get(kube.Resource.DEPLOYMENT, self.target)
        if deployments.images(d) != self.record.previous_images:
            ops = [
                {"op": "replace", "path": "/spec/template", "value": self.record.previous_template}
            ]
            self.cluster.patch(kube.Resource.DEPLOYMENT, self.target, ops, type=kube.PatchType.JSON)

    # -- plumbing -------------------------------------------------------------

    def _layout(self) -> bg.Layout:
        """From the record (so a resumed process agrees), else from preflight's plan."""
        if "new" in self.record.saved:
            return bg.Layout.from_json(
                {k: v for k, v in self.record.saved.items() if k != SWITCHED_AT}
            )
        assert self._plan is not None, "preflight() reads the layout before anything else"
        return self._plan

    def _ref(self, side: bg.Side) -> ObjectRef:
        return ObjectRef(self.target.namespace, side.deployment)

    def _svc(self, name: str) -> ObjectRef:
        return ObjectRef(self.target.namespace, name)

    def _set_selector(
        self,
        service: str,
        selector: bg.Selector,
        *,
        expect: bg.Selector | None = None,
        only_from: bg.Selector | None = None,
        dry_run: bool = False,
    ) -> None:
        """Replace a Service's whole selector in one JSON-patch write; none if it already
        is `selector`, or if `only_from` is given and the current selector is not that.

        With `expect` (or `only_from`), the write goes first, no read: the patch tests
        that the selector is that one. Else (or when `expect` was wrong) the Service is
        read first."""
        ref = self._svc(service)
        expected = only_from if only_from is not None else expect
        if expected is not None:
            try:
                self._patch_selector(ref, selector, test=expected, dry_run=dry_run)
                return
            except errors.Invalid:  # the selector was not `expected`
                if only_from is not None:
                    return
        current = (self.cluster.get(kube.Resource.SERVICE, ref).get("spec") or {}).get("selector")
        if current == selector or (only_from is not None and current != only_from):
            return
        self._patch_selector(ref, selector, dry_run=dry_run)

    def _patch_selector(
        self,
        ref: ObjectRef,
        selector: bg.Selector,
        *,
        test: bg.Selector | None = None,
        dry_run: bool,
    ) -> None:
        """One JSON patch: the selector replaced (only if it is `test`, when given)."""
        ops: list[Object] = [{"op": "replace", "path": "/spec/selector", "value": selector}]
        if test is not None:
            ops.insert(0, {"op": "test", "path": "/spec/selector", "value": test})
        self.cluster.patch(
            kube.Resource.SERVICE, ref, ops, type=kube.PatchType.JSON, dry_run=dry_run
        )
        if not dry_run:
            log.info("service.selector_set", service=ref.name, selector=bg.label_query(selector))

    def _scale(self, ref: ObjectRef, replicas: int) -> None:
        d = self.cluster.get(kube.Resource.DEPLOYMENT, ref)
        if deployments.desired_replicas(d) != replicas:
            self.cluster.patch(kube.Resource.DEPLOYMENT, ref, {"spec": {"replicas": replicas}})

    def _patch_target(self, body: Object) -> None:
        self.cluster.patch(
            kube.Resource.DEPLOYMENT, self.target, body, type=kube.PatchType.STRATEGIC
        )

    def _ensure_colour(self, lay: bg.Layout, *, dry_run: bool = False) -> None:
        """Create the new colour's Deployment, or (ours, from an earlier rollout, or this
        one before a crash) give it the new template and size."""
        target = self._target or self.cluster.get(kube.Resource.DEPLOYMENT, self.target)
        template = deployments.with_images(self.record.previous_template, self.record.target_images)
        body = bg.colour_deployment(target, lay.new, template=template, replicas=lay.replicas)
        ref = self._ref(lay.new)
        if lay.created:
            try:
                self.cluster.create(
                    kube.Resource.DEPLOYMENT, body, namespace=ref.namespace, dry_run=dry_run
                )
                return
            except errors.Conflict:  # created before a crash: ours (as preflight checked)
                pass

        def renew(d: Object) -> None:
            if not bg.is_owned(d, self.target.name):  # appeared since preflight: not ours
                raise errors.PreconditionError(
                    f"Deployment {ref} exists and was not created by rollout; rename or "
                    "delete it, then `rollout abort` or `rollout resume`"
                )
            d["spec"].update({k: v for k, v in body["spec"].items() if k != "selector"})
            d["metadata"].setdefault("labels", {}).update(body["metadata"]["labels"])

        self.cluster.update(kube.Resource.DEPLOYMENT, ref, renew, dry_run=dry_run)
