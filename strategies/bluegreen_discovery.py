"""Blue/green preflight: read the cluster into a `Layout` — the one Service that selects
the app, which colour is live, where the new one goes — and refuse (PreconditionError,
exit 2) what cannot work. Read-only: no write happens here.
"""

from __future__ import annotations

from rollout import deployments, errors, kube
from rollout.spec import ObjectRef, RolloutSpec
from strategies import bluegreen_layout as bg

Object = kube.Object


def resolve(cluster: kube.Cluster, spec: RolloutSpec, d: Object) -> bg.Layout:
    """The layout of this rollout of `d` (the target Deployment)."""
    target = spec.target
    service = active_service(cluster, spec, d)
    original = dict(service["spec"]["selector"])
    base = bg.base_selector(original)
    refuse_other_apps(cluster, target, service, base, d)
    active = original.get(bg.COLOR)
    if active is None:
        old = bg.Side(bg.BLUE, target.name, {**base, bg.HASH: live_hash(cluster, target, d)})
        replicas = deployments.desired_replicas(d)
    else:
        name = bg.colour_name(target.name, active)
        old = bg.Side(active, name, {**base, bg.COLOR: active})
        replicas = active_replicas(cluster, ObjectRef(target.namespace, name), active)
    color = bg.other_color(active)
    new = bg.Side(color, bg.colour_name(target.name, color), {**base, bg.COLOR: color})
    new_ref = ObjectRef(target.namespace, new.deployment)
    existing = cluster.find(kube.Resource.DEPLOYMENT, new_ref)
    if existing is not None and not bg.is_owned(existing, target.name):
        raise errors.PreconditionError(
            f"Deployment {new_ref} exists and was not created by rollout for "
            f"{target.name}; rename or delete it (bluegreen runs {color} there)"
        )
    preview, preview_original = preview_plan(cluster, spec, service)
    return bg.Layout(
        service=service["metadata"]["name"],
        original=original,
        old=old,
        new=new,
        replicas=replicas,
        adopt=active is None,
        created=existing is None,
        preview=preview,
        preview_original=preview_original,
    )


def active_service(cluster: kube.Cluster, spec: RolloutSpec, d: Object) -> Object:
    """The one Service (not the preview, not rollout's own) selecting the target's pods."""
    labels = bg.pod_labels(d)
    selecting = [
        s
        for s in cluster.list(kube.Resource.SERVICE, spec.target.namespace)
        if (s["metadata"].get("labels") or {}).get(bg.MANAGED_BY) != "rollout"
        and deployments.selects(bg.base_selector((s.get("spec") or {}).get("selector")), labels)
    ]
    found = [s for s in selecting if s["metadata"]["name"] != spec.preview_service]
    if len(found) == 1:
        return found[0]
    if not found and selecting:
        raise errors.SpecError(
            f'--preview-service "{spec.preview_service}": that is the active Service '
            f"(it selects Deployment {spec.target}); name another one"
        )
    where = f"Deployment {spec.target} (pods labelled {bg.label_query(labels)})"
    if not found:
        raise errors.PreconditionError(
            f"no Service selects {where}; bluegreen swaps a Service's selector: create one"
        )
    names = ", ".join(s["metadata"]["name"] for s in found)
    raise errors.PreconditionError(
        f"{len(found)} Services select {where}: {names}; bluegreen swaps exactly one "
        "(pass the other as --preview-service if it is the preview)"
    )


def refuse_other_apps(
    cluster: kube.Cluster, target: ObjectRef, service: Object, base: bg.Selector, d: Object
) -> None:
    """The Service must select only this app's pods, or the swap would cut others off."""
    labels, query, ns = bg.pod_labels(d), bg.label_query(base), target.namespace
    selects = deployments.selects
    others = [
        f"Deployment {ns}/{o['metadata']['name']}"
        for o in cluster.list(kube.Resource.DEPLOYMENT, ns)
        if selects(base, bg.pod_labels(o)) and not selects(labels, bg.pod_labels(o))
    ] + [
        f"Pod {ns}/{p['metadata']['name']}"
        for p in cluster.list(kube.Resource.POD, ns, labels=query)
        if not selects(labels, p["metadata"].get("labels"))
    ]
    if others:
        raise errors.PreconditionError(
            f"Service {ns}/{service['metadata']['name']} (selector {query}) also selects "
            f"{others[0]}; bluegreen would swap its traffic too: give "
            f"{target.name} a Service of its own"
        )


def live_hash(cluster: kube.Cluster, target: ObjectRef, d: Object) -> str:
    """pod-template-hash of the target's only ReplicaSet with pods (first run)."""
    uid = d["metadata"]["uid"]
    live = [
        rs
        for rs in cluster.list(kube.Resource.REPLICASET, target.namespace)
        if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences") or [])
        and int((rs.get("status") or {}).get("replicas", 0)) > 0
    ]
    if not deployments.is_complete(d) or len(live) != 1 or deployments.desired_replicas(d) < 1:
        raise errors.PreconditionError(
            f"Deployment {target} is not settled ({deployments.progress(d)}, "
            f"{len(live)} ReplicaSets with pods); bluegreen adopts one complete version: "
            "wait for it (`kubectl rollout status`)"
        )
    return str((live[0]["metadata"].get("labels") or {})[bg.HASH])


def active_replicas(cluster: kube.Cluster, ref: ObjectRef, color: str) -> int:
    """Size of the live colour's Deployment (the new colour gets the same)."""
    live = cluster.find(kube.Resource.DEPLOYMENT, ref)
    if live is None or deployments.desired_replicas(live) < 1:
        raise errors.PreconditionError(
            f"the Service selects {color} but Deployment {ref} is "
            f"{'missing' if live is None else 'scaled to 0'}; restore it first"
        )
    return deployments.desired_replicas(live)


def preview_plan(
    cluster: kube.Cluster, spec: RolloutSpec, service: Object
) -> tuple[str | None, bg.Selector | None]:
    """(--preview-service, its selector before; None when rollout will create it)."""
    name = spec.preview_service
    if name is None:
        return None, None
    found = cluster.find(kube.Resource.SERVICE, ObjectRef(spec.target.namespace, name))
    if found is None:
        return name, None
    return name, dict((found.get("spec") or {}).get("selector") or {})
