"""Blue/green layout: which Deployment and which Service selector each colour has, and
the colour Deployment rollout creates. Pure data and functions over API JSON (no I/O);
`strategies.bluegreen` reads the cluster and acts on it.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

from rollout import deployments, ownership
from rollout.settings import PREFIX

Object = dict[str, Any]
Selector = dict[str, str]

COLOR = f"{PREFIX}/color"  # label on colour pods/Deployments and in the Service selector
OWNER = ownership.OWNER  # annotation on objects rollout creates: `Deployment/<target>`
MANAGED_BY = ownership.MANAGED_BY
HASH = deployments.HASH_LABEL  # pins the never-coloured Deployment's pods on the first run
BLUE, GREEN = "blue", "green"
COPIED_SPEC = ("strategy", "minReadySeconds", "progressDeadlineSeconds", "revisionHistoryLimit")


@dataclass(frozen=True, slots=True)
class Side:
    """One colour: its Deployment and the Service selector that picks exactly its pods."""

    color: str
    deployment: str
    selector: Selector


@dataclass(frozen=True, slots=True)
class Layout:
    """Everything a blue/green rollout needs to go forward or back; kept in record.saved.

    `original` is the Service selector before this rollout (put back on rollback);
    `adopt` marks a first run, where the old side is the user's own Deployment, pinned by
    pod-template-hash. `created`: this rollout creates the new colour's Deployment.
    `preview_original` is the preview Service's selector before, None if rollout creates it.
    """

    service: str
    original: Selector
    old: Side
    new: Side
    replicas: int
    adopt: bool
    created: bool
    preview: str | None = None
    preview_original: Selector | None = None

    def to_json(self) -> Object:
        return asdict(self)

    @classmethod
    def from_json(cls, body: Object) -> Layout:
        return cls(
            **{
                **body,
                "old": Side(**body["old"]),
                "new": Side(**body["new"]),
            }
        )


def base_selector(selector: Selector | None) -> Selector:
    """The Service selector without rollout's colour/hash keys (what names the app)."""
    return {k: v for k, v in (selector or {}).items() if k not in (COLOR, HASH)}


def other_color(color: str | None) -> str:
    """The colour the new version gets: green after blue or an uncoloured app."""
    return BLUE if color == GREEN else GREEN


def colour_name(target: str, color: str) -> str:
    return f"{target}-{color}"


def label_query(selector: Selector) -> str:
    """`a=1,b=2` for a list call's labelSelector."""
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def pod_labels(d: Object) -> dict[str, str]:
    """The pod template's labels."""
    return deployments.template_labels(d["spec"]["template"])


def is_owned(obj: Object | None, target: str) -> bool:
    """Created by rollout for `target` (the only objects rollout may delete)."""
    return ownership.is_owned(obj, target)


def owned_metadata(name: str, target: str, extra: dict[str, str] | None = None) -> Object:
    """metadata for an object rollout creates on behalf of Deployment `target`."""
    return {
        "name": name,
        "labels": {MANAGED_BY: "rollout", **(extra or {})},
        "annotations": {OWNER: ownership.owner_value(target)},
    }


def colour_deployment(target: Object, side: Side, *, template: Object, replicas: int) -> Object:
    """The Deployment for `side`: the target's spec with `template` (already carrying the
    new images) and `replicas`, the colour label added to its selector and pods."""
    name = target["metadata"]["name"]
    selector = copy.deepcopy(target["spec"]["selector"])
    selector.setdefault("matchLabels", {})[COLOR] = side.color
    pods = copy.deepcopy(template)
    pods.setdefault("metadata", {}).setdefault("labels", {})[COLOR] = side.color
    spec = {k: copy.deepcopy(target["spec"][k]) for k in COPIED_SPEC if k in target["spec"]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": owned_metadata(side.deployment, name, {COLOR: side.color}),
        "spec": {**spec, "replicas": replicas, "selector": selector, "template": pods},
    }


def preview_service(active: Object, name: str, target: str, selector: Selector) -> Object:
    """A preview Service rollout creates: the active Service's ports, the new colour's pods."""
    ports = [
        {k: v for k, v in p.items() if k != "nodePort"}
        for p in (active.get("spec") or {}).get("ports") or []
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": owned_metadata(name, target),
        "spec": {"selector": dict(selector), "ports": ports},
    }


def ready_share(endpoints: Object | None, prefix: str) -> tuple[int, int, int]:
    """(ready addresses of pods named `prefix*`, all ready, not-ready of other pods)."""
    mine = ready = others_not_ready = 0
    for subset in (endpoints or {}).get("subsets") or []:
        for address in subset.get("addresses") or []:
            ready += 1
            mine += _pod_name(address).startswith(prefix)
        for address in subset.get("notReadyAddresses") or []:
            others_not_ready += not _pod_name(address).startswith(prefix)
    return mine, ready, others_not_ready


def _pod_name(address: Object) -> str:
    return str((address.get("targetRef") or {}).get("name", ""))
