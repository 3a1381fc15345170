"""Counting the old and new version's ready pods from ReplicaSets, for the live view."""

from __future__ import annotations

from typing import Any

from rollout import replicas
from rollout.spec import ObjectRef

TARGET = ObjectRef("shop", "web")
NEW = {"app": "repo/app:v2"}


def _rs(owner: str, image: str, ready: int | None) -> dict[str, Any]:
    status = {} if ready is None else {"readyReplicas": ready}
    return {
        "metadata": {"ownerReferences": [{"kind": "Deployment", "name": owner}]},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
        "status": status,
    }


def test_ready_pods_are_split_by_image_over_the_target_and_its_companions() -> None:
    sets = {
        "web-1": _rs("web", "repo/app:v1", 3),
        "web-2": _rs("web", "repo/app:v2", 1),
        "web-canary-1": _rs("web-canary", "repo/app:v2", 2),
        "web-0": _rs("web", "repo/app:v0", None),  # an older revision, scaled to zero
        "webshop-1": _rs("webshop", "repo/app:v1", 5),  # another app: not counted
        "api-1": _rs("api", "repo/app:v2", 7),
    }

    assert replicas.count_ready(sets, TARGET, NEW) == replicas.ReadyCount(old=3, new=3)


def test_no_replicasets_count_zero() -> None:
    assert replicas.count_ready({}, TARGET, NEW) == replicas.ReadyCount(old=0, new=0)
