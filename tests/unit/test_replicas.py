"""Counting the old and new version's ready pods from ReplicaSets, for the live view."""

from __future__ import annotations

from typing import Any

from rollout import replicas

WEB = {"app": "web", "tier": "front"}  # the target's pod labels
NEW = {"app": "repo/app:v2"}


def _rs(
    owner: str, image: str, ready: int | None, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    status = {} if ready is None else {"readyReplicas": ready}
    pods = {"labels": WEB if labels is None else labels}
    return {
        "metadata": {"ownerReferences": [{"kind": "Deployment", "name": owner}]},
        "spec": {
            "template": {
                "metadata": pods,
                "spec": {"containers": [{"name": "app", "image": image}]},
            }
        },
        "status": status,
    }


def test_ready_pods_are_split_by_image_over_the_target_and_its_companions() -> None:
    sets = {
        "web-1": _rs("web", "repo/app:v1", 3),
        "web-2": _rs("web", "repo/app:v2", 1),
        "web-canary-1": _rs("web-canary", "repo/app:v2", 2, {**WEB, "rollout.dev/canary": "true"}),
        "web-0": _rs("web", "repo/app:v0", None),  # an older revision, scaled to zero
        # other apps, whatever their names: not counted
        "web-worker-1": _rs("web-worker", "repo/app:v1", 5, {"app": "web-worker"}),
        "api-1": _rs("api", "repo/app:v2", 7, {"app": "api", "tier": "front"}),
    }

    assert replicas.count_ready(sets, WEB, NEW) == replicas.ReadyCount(old=3, new=3)


def test_no_pod_labels_count_nothing() -> None:
    """A template without labels cannot tell its pods from others': count none."""
    sets = {"web-1": _rs("web", "repo/app:v1", 3)}
    assert replicas.count_ready(sets, {}, NEW) == replicas.ReadyCount(old=0, new=0)


def test_no_replicasets_count_zero() -> None:
    assert replicas.count_ready({}, WEB, NEW) == replicas.ReadyCount(old=0, new=0)
