"""IstioRouter: stable/canary weights on the VirtualService route that serves a
Service's host, with DestinationRule subsets `stable`/`canary`.

Stable pods are selected by their ReplicaSet's `pod-template-hash` (already on every
pod: nothing restarts), canary pods by labels only they carry. The user's route and
subsets are remembered in the rollout record (`saved`) by `prepare`, before any write,
and put back by `restore` (Flagger's Finalize). Objects created with `--create-routing`
carry the managed-by label and owner annotation and are deleted by `restore`. Reads and
writes go through kube.Cluster; the shape changes are pure (istio_routes).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

from rollout import deployments, errors, kube, ownership
from rollout.routers import istio_routes as shapes
from rollout.routers.base import ALL_STABLE, Routing, Weights
from rollout.spec import HeaderMatch, ObjectRef

log = structlog.get_logger(__name__)

MANAGED_BY = ownership.MANAGED_BY
OWNER = ownership.OWNER  # "Deployment/<name>": the rollout that created the object
VS, DR = kube.Resource.VIRTUAL_SERVICE, kube.Resource.DESTINATION_RULE


class IstioRouter:
    """Weights on one VirtualService route; subsets on one DestinationRule."""

    def __init__(
        self, cluster: kube.Cluster, routing: Routing, saved: MutableMapping[str, Any]
    ) -> None:
        """`saved` is this router's part of the rollout record (filled by `prepare`)."""
        self.cluster, self.routing, self.saved = cluster, routing, saved
        self.namespace = routing.service.namespace
        self.host = routing.service.name
        # This process's last copy of each routing object (read or written), the base of
        # the next update: one PUT per change instead of GET + PUT (a 409 if stale).
        self._seen: dict[kube.Resource, kube.Object] = {}
        # Stable's labels as prepare() read them, for the first ensure() (nothing changes
        # the stable Deployment between the two); later ensures read them afresh.
        self._stable: dict[str, str] | None = None

    # -- the Router protocol -------------------------------------------------------------

    def prepare(self) -> None:
        """Find the VirtualService and DestinationRule (or plan to create them), check
        them, and remember the user's route and subsets. Read-only; once per rollout."""
        if self.saved.get("virtualService"):
            return  # a resumed rollout: the record already holds the user's shape
        vs_name, vs = self._find_virtual_service()
        dr_name, dr = self._find_destination_rule()
        self._seen = {res: obj for res, obj in ((VS, vs), (DR, dr)) if obj is not None}
        self._stable = self._stable_labels()
        if vs is None:
            route: shapes.Route = {
                "name": "primary",
                "route": [{"destination": {"host": self.host}}],
            }
        else:
            route = self._user_route(vs)
        subsets = None if dr is None else (dr.get("spec") or {}).get("subsets")
        if dr is not None and shapes.taken_subsets(subsets):
            raise errors.PreconditionError(
                f"DestinationRule {self._ref(dr_name)} already has subsets named "
                f"{', '.join(shapes.taken_subsets(subsets))}; rollout adds its own "
                f"{shapes.STABLE}/{shapes.CANARY}: rename yours"
            )
        self.saved.update(
            virtualService=vs_name,
            destinationRule=dr_name,
            createdVirtualService=vs is None,
            createdDestinationRule=dr is None,
            route=route,
            subsets=subsets,
        )

    def ensure(self) -> None:
        """DestinationRule subsets for the current stable ReplicaSet and the canary; the
        serving route converted to stable/canary subsets (100/0) if it is not yet."""
        stable, self._stable = self._stable or self._stable_labels(), None
        labels = {"stable": stable, "canary": dict(self.routing.canary_labels)}
        subsets = {"host": self.host, "subsets": shapes.with_subsets(None, **labels)}
        if not self._created(DR, subsets):
            self._update(
                DR,
                lambda spec: spec.__setitem__(
                    "subsets", shapes.with_subsets(spec.get("subsets"), **labels)
                ),
            )
        route = shapes.weighted(self.saved["route"], ALL_STABLE)
        if self._created(VS, {"hosts": [self.host], "http": [route]}):
            return

        def convert(spec: dict[str, Any]) -> None:
            http = spec.get("http") or []
            if not shapes.is_weighted(http[self._index(http)]):
                spec["http"] = self._with(http, ALL_STABLE, None, 0)

        self._update(VS, convert)

    def set_weights(
        self, weights: Weights, *, match_header: HeaderMatch | None = None, mirror: int = 0
    ) -> None:
        """One write (none when already so). 100/0 on a route still in the user's shape,
        or with no VirtualService at all, changes nothing."""
        to_stable = weights == ALL_STABLE and match_header is None and not mirror

        def split(spec: dict[str, Any]) -> None:
            http = spec.get("http") or []
            if to_stable and not shapes.is_weighted(http[self._index(http)]):
                return
            spec["http"] = self._with(http, weights, match_header, mirror)

        try:
            self._update(VS, split)
        except errors.NotFound:
            if to_stable:
                return  # no VirtualService (created routing not there yet): nothing to move
            raise errors.PreconditionError(
                f"VirtualService {self._ref(self._name(VS))} not found; "
                "`rollout abort` to restore routing"
            ) from None
        log.info(
            "weights.set",
            stable=weights.stable,
            canary=weights.canary,
            match_header=match_header.name if match_header else None,
            mirror=mirror,
        )

    def get_weights(self) -> Weights:
        """The split on the serving route now (100/0 if it is in the user's shape)."""
        vs = self._find(VS)
        if vs is None:
            return ALL_STABLE
        http = (vs.get("spec") or {}).get("http") or []
        try:
            return shapes.weights_of(http, service=self.host, namespace=self.namespace)
        except (ValueError, errors.SpecError) as e:
            raise self._unusable(e) from None

    def restore(self) -> None:
        """The user's route, then the user's subsets (created objects deleted)."""
        if not self.saved.get("virtualService"):
            return  # prepare never ran: nothing was changed
        if self.saved["createdVirtualService"]:
            self._delete_ours(VS)
        else:
            route = self.saved["route"]
            self._update(
                VS,
                lambda spec: spec.__setitem__(
                    "http", shapes.restored(spec.get("http") or [], route)
                ),
                missing_ok=True,
            )
        if self.saved["createdDestinationRule"]:
            self._delete_ours(DR)
        else:
            original = self.saved["subsets"]
            self._update(
                DR,
                lambda spec: _replace(spec, shapes.restored_subsets(spec, original)),
                missing_ok=True,
            )
        log.info("routing.restored", virtual_service=self.saved["virtualService"])

    # -- discovery -------------------------------------------------------------------

    def _find_virtual_service(self) -> tuple[str, kube.Object | None]:
        name = self.routing.virtual_service
        if name:
            vs = self.cluster.find(VS, self._ref(name))
            if vs is None and not self.routing.create:
                raise errors.PreconditionError(
                    f"VirtualService {self._ref(name)} not found; check --virtual-service "
                    "or pass --create-routing"
                )
            return name, vs
        found = [
            vs
            for vs in self.cluster.list(VS, self.namespace)
            if shapes.hosts_service(
                vs.get("spec") or {}, service=self.host, namespace=self.namespace
            )
        ]
        return self._one(VS, found, "--virtual-service", "whose hosts include")

    def _find_destination_rule(self) -> tuple[str, kube.Object | None]:
        name = self.routing.destination_rule
        if name:
            dr = self.cluster.find(DR, self._ref(name))
            if dr is None and not self.routing.create:
                raise errors.PreconditionError(
                    f"DestinationRule {self._ref(name)} not found; check --destination-rule "
                    "or pass --create-routing"
                )
            if dr is not None and not self._is_host(dr):
                raise errors.PreconditionError(
                    f"DestinationRule {self._ref(name)} is for host "
                    f"{(dr.get('spec') or {}).get('host')}, not {self.host}; name the rule "
                    f"for host {self.host}"
                )
            return name, dr
        found = [dr for dr in self.cluster.list(DR, self.namespace) if self._is_host(dr)]
        return self._one(DR, found, "--destination-rule", "for")

    def _one(
        self, res: kube.Resource, found: list[kube.Object], flag: str, relation: str
    ) -> tuple[str, kube.Object | None]:
        if len(found) == 1:
            return str(kube.meta(found[0])["name"]), found[0]
        if found:
            names = ", ".join(str(kube.meta(o)["name"]) for o in found)
            raise errors.PreconditionError(
                f"{res.kind}s {names} in {self.namespace} are all {relation} host "
                f"{self.host}; choose one with {flag}"
            )
        if not self.routing.create:
            raise errors.PreconditionError(
                f"no {res.kind} in {self.namespace} {relation} host {self.host}; "
                f"name one with {flag} or pass --create-routing"
            )
        return self.host, None  # created by ensure(), named like the Service

    def _user_route(self, vs: kube.Object) -> shapes.Route:
        ref = self._ref(str(kube.meta(vs)["name"]))
        http = (vs.get("spec") or {}).get("http") or []
        try:
            route = http[shapes.serving_route(http, service=self.host, namespace=self.namespace)]
            shapes.check_route(route, service=self.host, namespace=self.namespace)
        except ValueError as e:
            raise errors.PreconditionError(
                f"VirtualService {ref}: does not route host {self.host} ({e}); point one "
                "http route at it, or name another VirtualService with --virtual-service"
            ) from None
        if shapes.is_weighted(route):
            raise errors.PreconditionError(
                f"VirtualService {ref}: already splits host {self.host} between subsets "
                f"{shapes.STABLE}/{shapes.CANARY} with no rollout in progress; put its route "
                "back to one destination first"
            )
        return dict(route)

    def _is_host(self, dr: kube.Object) -> bool:
        host = str((dr.get("spec") or {}).get("host", ""))
        return shapes.is_service_host(host, service=self.host, namespace=self.namespace)

    def _stable_labels(self) -> dict[str, str]:
        """The stable Deployment's selector plus its current ReplicaSet's pod-template-hash."""
        d = self.cluster.get(kube.Resource.DEPLOYMENT, self.routing.stable)
        for rs in self.cluster.list(kube.Resource.REPLICASET, self.namespace):
            owners = kube.meta(rs).get("ownerReferences") or []
            if any(
                o.get("uid") == kube.meta(d).get("uid") for o in owners
            ) and deployments.revision(rs) == deployments.revision(d):
                pod_hash = (kube.meta(rs).get("labels") or {}).get(deployments.HASH_LABEL)
                if pod_hash:
                    selector = d["spec"]["selector"].get("matchLabels") or {}
                    return {**selector, deployments.HASH_LABEL: pod_hash}
        raise errors.PreconditionError(
            f"Deployment {self.routing.stable}: no ReplicaSet of revision "
            f"{deployments.revision(d) or '?'} with a {deployments.HASH_LABEL} label; "
            "wait for its rollout to finish"
        )

    # -- plumbing --------------------------------------------------------------------

    def _index(self, http: list[shapes.Route]) -> int:
        try:
            return shapes.serving_route(http, service=self.host, namespace=self.namespace)
        except ValueError as e:
            raise self._unusable(e) from None

    def _with(
        self, http: list[shapes.Route], weights: Weights, header: HeaderMatch | None, mirror: int
    ) -> list[shapes.Route]:
        return shapes.with_weights(
            http,
            self.saved["route"],
            weights,
            service=self.host,
            namespace=self.namespace,
            match_header=header,
            mirror=mirror,
        )

    def _unusable(self, e: Exception) -> errors.PreconditionError:
        return errors.PreconditionError(
            f"VirtualService {self._ref(self._name(VS))}: no longer routes host {self.host} "
            f"({e}); fix its http routes, then `rollout resume` or `rollout abort`"
        )

    def _ref(self, name: str) -> ObjectRef:
        return ObjectRef(self.namespace, name)

    def _name(self, res: kube.Resource) -> str:
        return str(self.saved["virtualService" if res is VS else "destinationRule"])

    def _find(self, res: kube.Resource) -> kube.Object | None:
        found = self.cluster.find(res, self._ref(self._name(res)))
        self._remember(res, found)
        return found

    def _remember(self, res: kube.Resource, obj: kube.Object | None) -> None:
        if obj is None:
            self._seen.pop(res, None)
        else:
            self._seen[res] = obj

    def _update(
        self,
        res: kube.Resource,
        mutate: Callable[[dict[str, Any]], None],
        *,
        missing_ok: bool = False,
    ) -> None:
        """Mutate the spec of the last copy seen (else a fresh GET), PUT if it changed
        (re-read and re-applied after a 409)."""
        try:
            updated = self.cluster.update(
                res,
                self._ref(self._name(res)),
                lambda obj: mutate(obj.setdefault("spec", {})),
                base=self._seen.get(res),
            )
        except errors.NotFound:
            self._remember(res, None)
            if not missing_ok:
                raise
        else:
            self._remember(res, updated)

    def _created(self, res: kube.Resource, spec: dict[str, Any]) -> bool:
        """Create the object with `spec` if rollout is to create it and this process has
        not seen it; False when it is the user's or exists already (ours: update it)."""
        created = self.saved["createdVirtualService" if res is VS else "createdDestinationRule"]
        return bool(created) and res not in self._seen and self._create(res, spec)

    def _create(self, res: kube.Resource, spec: dict[str, Any]) -> bool:
        """Create it (True), or find it already there and ours (False); Conflict if not ours."""
        owner = f"Deployment/{self.routing.stable.name}"
        body = {
            "apiVersion": res.api_version,
            "kind": res.kind,
            "metadata": {
                "name": self._name(res),
                "labels": {MANAGED_BY: "rollout"},
                "annotations": {OWNER: owner},
            },
            "spec": spec,
        }
        try:
            self._remember(res, self.cluster.create(res, body, namespace=self.namespace))
        except errors.Conflict:
            if not _is_ours(self._find(res), owner):
                raise
            return False
        log.info("routing.created", kind=res.kind, name=self._name(res))
        return True

    def _delete_ours(self, res: kube.Resource) -> None:
        if _is_ours(self._find(res), f"Deployment/{self.routing.stable.name}"):
            self.cluster.delete(res, self._ref(self._name(res)))
            self._remember(res, None)


def _is_ours(obj: kube.Object | None, owner: str) -> bool:
    """Created by rollout for this Deployment (never delete anything else)."""
    return ownership.is_owned_by(obj, owner)


def _replace(target: dict[str, Any], new: dict[str, Any]) -> None:
    target.clear()
    target.update(new)
