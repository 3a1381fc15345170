"""Ready replicas of the old and the new version while a rollout runs, for the live view.

One ReplicaSet watch on the target's namespace (started only when the reporter shows
replicas, i.e. on a TTY): no request per step. Counting is pure; the watch runs in a
daemon thread and never touches the rollout.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from rollout import deployments, errors, kube
from rollout.settings import Settings

log = structlog.get_logger(__name__)

Object = dict[str, Any]
WATCH_SECONDS = 5.0  # short watches, so the thread ends soon after the rollout does
THREAD_NAME = "rollout-replica-watch"


@dataclass(frozen=True, slots=True)
class ReadyCount:
    """Ready pods of the old version(s) and of the new one."""

    old: int
    new: int


def count_ready(
    replicasets: Mapping[str, Object], pod_labels: Mapping[str, str], new_images: Mapping[str, str]
) -> ReadyCount:
    """Sum `status.readyReplicas` of the Deployments' ReplicaSets whose pods carry all of
    the target's pod labels (the target's own, and the canary or colour Deployments the
    rollout made beside it, which keep them): those running `new_images` are new, the
    others old. Another app's ReplicaSets (other labels) are not counted."""
    old = new = 0
    for rs in replicasets.values():
        if not _belongs(rs, pod_labels):
            continue
        ready = int((rs.get("status") or {}).get("readyReplicas") or 0)
        template = rs.get("spec", {}).get("template", {})
        if deployments.images({"spec": {"template": template}}) == dict(new_images):
            new += ready
        else:
            old += ready
    return ReadyCount(old=old, new=new)


def _belongs(rs: Object, pod_labels: Mapping[str, str]) -> bool:
    owned = any(
        o.get("kind") == "Deployment" for o in rs.get("metadata", {}).get("ownerReferences") or []
    )
    template = rs.get("spec", {}).get("template", {})
    labels = (template.get("metadata") or {}).get("labels") or {}
    return owned and deployments.selects(pod_labels, labels)


@contextlib.contextmanager
def watch_ready(
    cluster: kube.Cluster,
    namespace: str,
    pod_labels: Mapping[str, str],
    new_images: Mapping[str, str],
    *,
    settings: Settings,
    report: Callable[[ReadyCount], None],
) -> Iterator[None]:
    """Call `report` with the counts now and whenever they change, until the block ends
    (the watch thread itself ends within WATCH_SECONDS after that)."""
    done = threading.Event()

    def watch() -> None:
        seen: dict[str, Object] = {}
        last: ReadyCount | None = None
        while not done.is_set():
            try:
                for type_, rs in cluster.watch_list(
                    kube.Resource.REPLICASET, namespace, timeout=WATCH_SECONDS
                ):
                    if done.is_set():
                        return
                    name = rs["metadata"]["name"]
                    if type_ == "DELETED":
                        seen.pop(name, None)
                    else:
                        seen[name] = rs
                    now = count_ready(seen, pod_labels, new_images)
                    if now != last:
                        last = now
                        report(now)
            except errors.RolloutError as e:  # the view goes without counts for a while
                if done.is_set():
                    return
                log.debug("replicas.watch_failed", error=str(e))
                done.wait(settings.lease_renew)

    thread = threading.Thread(target=watch, name=THREAD_NAME, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
