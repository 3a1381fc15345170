"""Facts about a Deployment read from its API JSON: containers, images, revisions,
and whether its rollout is complete, stuck or paused.

Pure functions (no I/O), unit-tested without a cluster; predicates for `Cluster.wait_for`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollout import errors
from rollout.spec import ImageChange, resolve_image

Object = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"


def containers(d: Object) -> list[Object]:
    """The pod template's containers."""
    return list(d["spec"]["template"]["spec"].get("containers") or [])


def images(d: Object) -> dict[str, str]:
    """Container name -> image of the pod template."""
    return {c["name"]: c.get("image", "") for c in containers(d)}


def target_images(d: Object, changes: tuple[ImageChange, ...]) -> dict[str, str]:
    """Container name -> new image after applying `changes` (tag-only keeps the repository).

    Raises SpecError for an unknown container, or an unnamed change with several containers.
    """
    current = images(d)
    ref = f"Deployment {d['metadata'].get('namespace')}/{d['metadata']['name']}"
    result = dict(current)
    for change in changes:
        name = change.container
        if name is None:
            if len(current) != 1:
                raise errors.SpecError(
                    f"{ref} has {len(current)} containers ({', '.join(current)}); "
                    f"say which with --image NAME={change.image}"
                )
            name = next(iter(current))
        if name not in current:
            raise errors.SpecError(
                f"{ref} has no container {name!r} (containers: {', '.join(current)})"
            )
        result[name] = resolve_image(change, current[name]) if change.tag_only else change.image
    return result


def images_text(images: dict[str, str]) -> str:
    """`repo:v2`, or `app=repo:v2, sidecar=proxy:1` for several containers."""
    if len(images) == 1:
        return ", ".join(images.values())
    return ", ".join(f"{k}={v}" for k, v in images.items())


def selects(selector: Mapping[str, str], labels: Mapping[str, str] | None) -> bool:
    """Every key=value of an equality selector is in `labels` (an empty one selects
    nothing: a Service without a selector, a template without labels)."""
    labels = labels or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def template_labels(template: Object) -> dict[str, str]:
    """The labels of a pod template (`spec.template` of a Deployment)."""
    return dict((template.get("metadata") or {}).get("labels") or {})


def with_images(template: Object, new_images: dict[str, str]) -> Object:
    """A copy of a pod template with container images replaced."""
    out = copy.deepcopy(template)
    for c in out["spec"].get("containers") or []:
        if c["name"] in new_images:
            c["image"] = new_images[c["name"]]
    return out


@dataclass(frozen=True, slots=True)
class Revision:
    """One revision of a Deployment: its ReplicaSet, images and size."""

    number: int
    replicaset: str
    images: dict[str, str]
    replicas: int
    current: bool
    created: str


def revisions(d: Object, replicasets: list[Object]) -> list[Revision]:
    """The Deployment's ReplicaSets as revisions, newest first."""
    out = [
        Revision(
            number=int(revision(rs) or 0),
            replicaset=rs["metadata"]["name"],
            images={
                c["name"]: c.get("image", "")
                for c in rs["spec"]["template"]["spec"].get("containers") or []
            },
            replicas=int(rs["spec"].get("replicas", 0)),
            current=revision(rs) == revision(d),
            created=str(rs["metadata"].get("creationTimestamp", "")),
        )
        for rs in replicasets
    ]
    return sorted(out, key=lambda r: -r.number)


def revision(d: Object) -> str:
    return str((d["metadata"].get("annotations") or {}).get(REVISION, ""))


def desired_replicas(d: Object) -> int:
    return int(d["spec"].get("replicas", 1))


def is_observed(d: Object) -> bool:
    """The controller has seen the latest spec."""
    status = d.get("status") or {}
    return int(status.get("observedGeneration", 0)) >= int(d["metadata"].get("generation", 0))


def is_complete(d: Object | None) -> bool:
    """Rollout finished: every desired replica updated and available, no old pods left."""
    if d is None or not is_observed(d):
        return False
    status = d.get("status") or {}
    want = desired_replicas(d)
    return all(
        status.get(count, 0) == want
        for count in ("updatedReplicas", "replicas", "availableReplicas")
    )


def condition(d: Object, type_: str) -> Object | None:
    for c in (d.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def is_deadline_exceeded(d: Object | None) -> bool:
    """Progressing=False with reason ProgressDeadlineExceeded."""
    if d is None:
        return False
    c = condition(d, "Progressing")
    return c is not None and c.get("reason") == "ProgressDeadlineExceeded"


def is_done_or_stuck(d: Object | None) -> bool:
    """Predicate for waits: complete, or the progress deadline says it never will be."""
    return is_complete(d) or is_deadline_exceeded(d)


def progress(d: Object) -> str:
    """`updated/available/desired` evidence for messages."""
    s = d.get("status") or {}
    return (
        f"{s.get('updatedReplicas', 0)} updated, {s.get('availableReplicas', 0)} available "
        f"of {desired_replicas(d)}"
    )
