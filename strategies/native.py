"""Helpers for strategies that let the Deployment's own controller move pods
(rolling, recreate): find the new ReplicaSet, restore a saved template or strategy.
"""

from __future__ import annotations

from typing import Any

from rollout import analysis, deployments, errors, kube
from rollout.spec import ObjectRef, RolloutSpec
from rollout.state import RolloutRecord

Object = dict[str, Any]


def new_replicaset(cluster: kube.Cluster, target: ObjectRef, images: dict[str, str]) -> str:
    """Name of the Deployment's ReplicaSet that runs `images` (waits for it to exist)."""

    def find() -> str | None:
        for rs in cluster.list(kube.Resource.REPLICASET, target.namespace):
            owners = rs["metadata"].get("ownerReferences") or []
            if (
                any(o.get("name") == target.name and o.get("kind") == "Deployment" for o in owners)
                and deployments.images(rs) == images
            ):
                return str(rs["metadata"]["name"])
        return None

    name = find()
    if name is None:  # the controller has not created it yet: wait for it to observe us
        cluster.wait_for(
            kube.Resource.DEPLOYMENT,
            target,
            lambda d: d is None or deployments.is_observed(d),
            timeout=30,
            describe="controller observed the new template",
        )
        name = find()
    if name is None:
        raise errors.PreconditionError(
            f"Deployment {target}: no ReplicaSet runs the new "
            "template (is the Deployment paused by someone else?)"
        )
    return name


def restore_template(
    cluster: kube.Cluster, target: ObjectRef, template: Object, *, strategy: Object | None
) -> None:
    """Put back the saved pod template (and strategy), running, in one write."""
    ops: list[Object] = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "add", "path": "/spec/paused", "value": False},
    ]
    if strategy:
        ops.append({"op": "replace", "path": "/spec/strategy", "value": strategy})
    cluster.patch(kube.Resource.DEPLOYMENT, target, ops, type=kube.PatchType.JSON)


def restore_strategy(cluster: kube.Cluster, target: ObjectRef, strategy: Object | None) -> None:
    """Put back the Deployment's original strategy (changes no template: no new rollout)."""
    if strategy:
        cluster.patch(
            kube.Resource.DEPLOYMENT,
            target,
            [{"op": "replace", "path": "/spec/strategy", "value": strategy}],
            type=kube.PatchType.JSON,
        )


def new_pods_variables(
    cluster: kube.Cluster, spec: RolloutSpec, record: RolloutRecord
) -> analysis.Variables:
    """Analysis variables where the canary is the new ReplicaSet's pods."""
    target = spec.target
    rs = new_replicaset(cluster, target, record.target_images)
    return analysis.Variables(
        namespace=target.namespace,
        service=target.name,
        stable=target.name,
        canary=target.name,
        stable_pods=f"{target.name}-.*",
        canary_pods=f"{rs}-[a-z0-9]+",
    )
