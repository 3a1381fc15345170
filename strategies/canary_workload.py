"""The `<name>-canary` Deployment beside a stable one, for the canary strategies.

Creates, sizes and removes the canary; sizes, promotes (new template by the stable's own
rolling update) and restores the stable; finds the Service in front of both and measures
the canary's share of its ready endpoints. Used by canary.py (replica ratio) and the
Istio weighted canary. Talks to the API only through kube.Cluster, writes only the
stable Deployment and objects it created (managed-by label + owner annotation), and
holds no policy: when to wait, gate or roll back is the strategy's business.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from rollout import analysis, deployments, errors, kube, ownership
from rollout.lease import MANAGED_BY
from rollout.settings import PREFIX
from rollout.spec import ObjectRef
from strategies.base import Context, Strategy

log = structlog.get_logger(__name__)

Object = dict[str, Any]
CANARY_LABEL = f"{PREFIX}/canary"
"""`"true"` on the canary Deployment, in its selector and on its pods (never on stable's)."""
OWNER_ANNOTATION = ownership.OWNER
"""On objects rollout creates: `Deployment/<stable name>`, the rollout they belong to."""
MANAGER = "rollout"  # value of app.kubernetes.io/managed-by on objects rollout creates
SUFFIX = "-canary"
_POD_SUFFIX = "-[a-z0-9]+"  # a ReplicaSet's pods: <replicaset>-<5 chars>


@dataclass(frozen=True, slots=True)
class Share:
    """A Service's ready endpoints: how many belong to the new version, out of all."""

    new: int
    total: int

    @property
    def old(self) -> int:
        return self.total - self.new

    @property
    def percent(self) -> float | None:
        """The new version's share in %, None when nothing is ready."""
        return 100.0 * self.new / self.total if self.total else None

    def __str__(self) -> str:
        pct = "no ready endpoints" if self.percent is None else f"{self.percent:.1f}%"
        return f"{self.new} new of {self.total} ready endpoints ({pct})"


# -- pure helpers ---------------------------------------------------------------------


def canary_ref(target: ObjectRef) -> ObjectRef:
    """`<ns>/<name>-canary` for the stable Deployment `target`."""
    return ObjectRef(target.namespace, target.name + SUFFIX)


def owner_value(target: ObjectRef) -> str:
    return ownership.owner_value(target.name)


def is_owned(obj: Object, target: ObjectRef) -> bool:
    """Created by rollout for `target` (managed-by label and owner annotation both say so)."""
    return ownership.is_owned(obj, target.name)


def replicas_for_weight(total: int, weight: float) -> int:
    """Pods that can take `weight`% of what `total` pods take: ceil(total x weight), >= 1."""
    return max(1, math.ceil(total * weight / 100 - 1e-9))


def canary_template(template: Object, images: dict[str, str]) -> Object:
    """The stable pod template with the new images and the canary label added (so the
    Service, which selects a subset of stable's labels, selects canary pods too)."""
    out = deployments.with_images(template, images)
    out.setdefault("metadata", {}).setdefault("labels", {})[CANARY_LABEL] = "true"
    return out


def canary_manifest(stable: Object, template: Object, *, replicas: int) -> Object:
    """The canary Deployment for `stable` running `template` (from canary_template).

    Selector = stable's + the canary label, so it never claims stable pods. (Stable's own
    selector does match canary pods, as it is immutable; its ReplicaSets select by
    pod-template-hash and controllers only adopt orphans, so they never take them.)
    Stable's rollout settings are copied; not its GitOps labels or annotations, and an
    ownerReference (controller: false) ties it to stable, where GitOps UIs show it.
    """
    m = kube.meta(stable)
    target = ObjectRef(m.get("namespace", ""), m.get("name", ""))
    selector = copy.deepcopy(stable["spec"]["selector"])
    selector.setdefault("matchLabels", {})[CANARY_LABEL] = "true"
    spec = {
        k: copy.deepcopy(v)
        for k, v in stable["spec"].items()
        if k in ("minReadySeconds", "progressDeadlineSeconds", "strategy")
    }
    spec.update(replicas=replicas, selector=selector, template=template, revisionHistoryLimit=1)
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": target.name,
             "uid": m.get("uid", ""), "controller": False, "blockOwnerDeletion": False}  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": canary_ref(target).name,
            "namespace": target.namespace,
            "labels": {
                **selector["matchLabels"],
                MANAGED_BY: MANAGER,
            },
            "annotations": {OWNER_ANNOTATION: owner_value(target)},
            "ownerReferences": [owner],
        },
        "spec": spec,
    }


def share_of(endpoints: Object | None, prefixes: tuple[str, ...]) -> Share:
    """Ready addresses of an Endpoints object; `new` = those whose pod name starts with
    one of `prefixes` (e.g. `web-canary-`)."""
    names = [
        str((a.get("targetRef") or {}).get("name", ""))
        for s in (endpoints or {}).get("subsets") or []
        for a in s.get("addresses") or []
    ]
    return Share(sum(n.startswith(prefixes) for n in names), len(names))


# -- the workload ---------------------------------------------------------------------


class CanaryWorkload:
    """The canary Deployment `<target>-canary` and the stable Deployment `target`."""

    def __init__(self, cluster: kube.Cluster, target: ObjectRef) -> None:
        self.cluster = cluster
        self.target = target
        self.ref = canary_ref(target)
        # From preflight (this process): the stable Deployment, for the canary's manifest,
        # and whether the canary was absent (the first ensure then creates it directly).
        self._stable: Object | None = None
        self._absent = False

    @property
    def prefix(self) -> str:
        """Every canary pod's name starts with this."""
        return self.ref.name + "-"

    # reads (safe in preflight) ---------------------------------------------------------

    def preflight(self, stable: Object) -> None:
        """Before any write: check_free, and remember `stable` and whether the canary
        exists (so the first `ensure` sends one create, not a patch, a 404 and a read)."""
        self._absent = self.check_free() is None
        self._stable = stable

    def check_free(self) -> Object | None:
        """The canary Deployment if it exists (None if not); PreconditionError when it
        exists and rollout did not create it."""
        existing = self.cluster.find(kube.Resource.DEPLOYMENT, self.ref)
        if existing is not None and not is_owned(existing, self.target):
            raise errors.PreconditionError(
                f"Deployment {self.ref} exists and was not created by rollout for "
                f"{self.target} (no {MANAGED_BY}={MANAGER} / {OWNER_ANNOTATION}); "
                "rename or delete it"
            )
        return existing

    def find_service(self, stable: Object) -> str:
        """Name of the Service in front of stable's pods (the one named like the Deployment
        if several). PreconditionError when none does, or it also selects other apps' pods
        (its endpoints would not be stable + canary alone)."""
        labels = (stable["spec"]["template"].get("metadata") or {}).get("labels") or {}
        ns = self.target.namespace
        services = [
            s for s in self.cluster.list(kube.Resource.SERVICE, ns)
            if deployments.selects((s.get("spec") or {}).get("selector") or {}, labels)
        ]  # fmt: skip
        if not services:
            raise errors.PreconditionError(
                f"Deployment {self.target}: no Service selects its pods (labels "
                f"{_labels(labels)}); a canary needs one to share traffic"
            )
        services.sort(key=lambda s: (kube.meta(s).get("name") != self.target.name,
                                     kube.meta(s).get("name", "")))  # fmt: skip
        service = services[0]
        selector = service["spec"]["selector"]
        for d in self.cluster.list(kube.Resource.DEPLOYMENT, ns):
            name = kube.meta(d).get("name", "")
            mine = name in (self.target.name, self.ref.name)
            if not mine and deployments.selects(
                selector, deployments.template_labels(d["spec"]["template"])
            ):
                raise errors.PreconditionError(
                    f"Service {ns}/{kube.meta(service).get('name')} (selector "
                    f"{_labels(selector)}) also selects the pods of Deployment {ns}/{name}; "
                    "narrow its selector so it fronts only this app"
                )
        return str(kube.meta(service).get("name"))

    def measure(self, service: str, *, also_new: tuple[str, ...] = ()) -> Share:
        """The canary's share (+ pods named `also_new`...) of the Service's ready endpoints."""
        ep = self.cluster.find(kube.Resource.ENDPOINTS, ObjectRef(self.target.namespace, service))
        return share_of(ep, (self.prefix, *also_new))

    def wait_share(
        self,
        service: str,
        done: Callable[[Share], bool],
        *,
        timeout: float,
        also_new: tuple[str, ...] = (),
    ) -> Share:
        """Follow the Service's Endpoints until `done(share)`; returns the last share seen
        (check `done` again: after `timeout` seconds it may not hold)."""
        prefixes = (self.prefix, *also_new)
        try:
            ep = self.cluster.wait_for(
                kube.Resource.ENDPOINTS,
                ObjectRef(self.target.namespace, service),
                lambda o: done(share_of(o, prefixes)),
                timeout=timeout,
                describe="endpoints split",
            )
        except errors.WaitTimeout as e:
            ep = e.last if isinstance(e.last, dict) else None
        return share_of(ep, prefixes)

    def variables(
        self, *, service: str, stable_replicaset: str, mesh: analysis.Mesh = analysis.Mesh.PLAIN
    ) -> analysis.Variables:
        """Analysis variables: canary = `<name>-canary` pods, stable = the stable RS's pods."""
        return analysis.Variables(
            namespace=self.target.namespace,
            service=service,
            stable=self.target.name,
            canary=self.ref.name,
            stable_pods=stable_replicaset + _POD_SUFFIX,
            canary_pods=self.ref.name + _POD_SUFFIX + _POD_SUFFIX,
            mesh=mesh,
        )

    # writes -----------------------------------------------------------------------------

    def ensure(self, template: Object, *, replicas: int, dry_run: bool = False) -> None:
        """The canary runs `template` (from canary_template) with `replicas` pods: one
        write (a JSON patch that first tests the owner annotation), or a create."""
        if self._absent:
            self._absent = dry_run  # a dry run leaves it absent
            try:
                self._create(template, replicas=replicas, dry_run=dry_run)
                return
            except errors.Conflict:  # created meanwhile (by whom: the patch's test says)
                pass
        ops: list[Object] = [
            {"op": "test", "path": _pointer("metadata", "annotations", OWNER_ANNOTATION),
             "value": owner_value(self.target)},
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/spec/replicas", "value": replicas},
        ]  # fmt: skip
        try:
            self.cluster.patch(kube.Resource.DEPLOYMENT, self.ref, ops,
                               type=kube.PatchType.JSON, dry_run=dry_run)  # fmt: skip
        except errors.NotFound:
            self._create(template, replicas=replicas, dry_run=dry_run)
            return
        except errors.Invalid:
            self.check_free()  # not ours: says so; ours: the patch itself was bad
            raise
        log.info("canary.sized", canary=self.ref.name, replicas=replicas)

    def _create(self, template: Object, *, replicas: int, dry_run: bool) -> None:
        stable = self._stable or self.cluster.get(kube.Resource.DEPLOYMENT, self.target)
        body = canary_manifest(stable, template, replicas=replicas)
        self.cluster.create(kube.Resource.DEPLOYMENT, body, namespace=self.ref.namespace,
                            dry_run=dry_run)  # fmt: skip
        log.info("canary.created", canary=self.ref.name, replicas=replicas, dry_run=dry_run)

    def remove(self) -> bool:
        """Delete the canary (its pods leave the endpoints as they terminate) if rollout
        created it; False when it was gone already or is not ours (left alone)."""
        existing = self.cluster.find(kube.Resource.DEPLOYMENT, self.ref)
        if existing is None:
            return False
        if not is_owned(existing, self.target):
            log.warning("canary.not_ours", canary=self.ref.name)
            return False
        deleted = self.cluster.delete(kube.Resource.DEPLOYMENT, self.ref)
        log.info("canary.removed", canary=self.ref.name)
        return deleted

    def scale_stable(self, replicas: int) -> None:
        """Set the stable Deployment's replica count (no template change: no rollout)."""
        self.cluster.patch(kube.Resource.DEPLOYMENT, self.target, {"spec": {"replicas": replicas}})
        log.info("stable.sized", replicas=replicas)

    def promote_stable(self, images: dict[str, str], *, replicas: int) -> None:
        """Stable to the new images at `replicas` pods, by its own rolling update, in one
        write (only the images change in its template, as `kubectl set image` would)."""
        patch = {
            "spec": {
                "replicas": replicas,
                "paused": False,
                "template": {
                    "spec": {"containers": [{"name": n, "image": i} for n, i in images.items()]}
                },
            }
        }
        self.cluster.patch(
            kube.Resource.DEPLOYMENT, self.target, patch, type=kube.PatchType.STRATEGIC
        )
        log.info("stable.promoted", images=images, replicas=replicas)

    def restore_stable(self, template: Object, *, replicas: int) -> bool:
        """Stable back to `template` (if its images changed) and `replicas`, in one write;
        False when it already was (no write)."""
        current = self.cluster.get(kube.Resource.DEPLOYMENT, self.target)
        ops: list[Object] = []
        if deployments.images(current) != deployments.images({"spec": {"template": template}}):
            ops += [{"op": "replace", "path": "/spec/template", "value": template},
                    {"op": "add", "path": "/spec/paused", "value": False}]  # fmt: skip
        if deployments.desired_replicas(current) != replicas:
            ops.append({"op": "replace", "path": "/spec/replicas", "value": replicas})
        if not ops:
            return False
        self.cluster.patch(kube.Resource.DEPLOYMENT, self.target, ops, type=kube.PatchType.JSON)
        log.info("stable.restored", replicas=replicas, ops=len(ops))
        return True


class CanaryStrategyBase(Strategy):
    """What the two canary strategies share: the workload, and from the record the
    stable's size and Service before the rollout and the canary's pod template."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.workload = CanaryWorkload(self.cluster, self.target)

    @property
    def replicas(self) -> int:
        """The stable's size before the rollout (the total with --shrink-stable)."""
        return int(self.record.saved["replicas"])

    @property
    def service(self) -> str:
        return str(self.record.saved["service"])

    def _template(self) -> Object:
        return canary_template(self.record.previous_template, self.record.target_images)

    def _restore_stable(self) -> analysis.Verdict | None:
        """Stable back on its template and size; its readiness verdict if it had to move."""
        if self.workload.restore_stable(self.record.previous_template, replicas=self.replicas):
            return self.ready_gate()()
        return None


def _pointer(*parts: str) -> str:
    """An RFC 6901 JSON pointer (`/` in keys becomes `~1`)."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"
