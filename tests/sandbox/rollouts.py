"""Helpers for the Deployment-semantics tests: wait on a Deployment with a watch, and
replay every pod / ReplicaSet event of a rollout in resourceVersion order.

Everything goes through the real kubernetes client. Waits read first, then follow a
watch from that resourceVersion, bounded by the server-side `timeout_seconds`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch

Obj = dict[str, Any]
ListFn = Callable[..., Any]
POKE = "test.rollout/poke"


def rolled_out(d: Obj) -> bool:
    """What `kubectl rollout status` waits for: every replica updated and available,
    no old replica left, and the latest generation observed."""
    spec, status = d.get("spec") or {}, d.get("status") or {}
    want = spec.get("replicas", 1)
    return (
        status.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)
        and status.get("updatedReplicas", 0) == want
        and status.get("replicas", 0) == want
        and status.get("availableReplicas", 0) == want
    )


def condition(d: Obj, type_: str) -> Obj:
    """The condition of that type ({} when absent)."""
    found = [c for c in (d.get("status") or {}).get("conditions") or [] if c["type"] == type_]
    return found[0] if found else {}


def listing(list_fn: ListFn, namespace: str, **kwargs: Any) -> Obj:
    """A list call's raw JSON (items and metadata.resourceVersion)."""
    return json.loads(list_fn(namespace, _preload_content=False, **kwargs).data)


def wait_for(
    list_fn: ListFn,
    namespace: str,
    name: str,
    predicate: Callable[[Obj], bool],
    *,
    timeout: float = 5.0,
) -> Obj:
    """The object `name` once `predicate` holds: read, then follow a watch."""
    selector = f"metadata.name={name}"
    current = listing(list_fn, namespace, field_selector=selector)
    last = next(iter(current["items"]), None)
    if last is not None and predicate(last):
        return last
    stream = watch.Watch()
    for event in stream.stream(
        list_fn,
        namespace,
        field_selector=selector,
        resource_version=current["metadata"]["resourceVersion"],
        timeout_seconds=math.ceil(timeout),
    ):
        last = event["raw_object"]
        if event["type"] != "DELETED" and predicate(last):
            stream.stop()
            return last
    raise AssertionError(
        f"{name} in {namespace}: condition not met within {timeout}s; "
        f"last seen: {json.dumps((last or {}).get('status'))}"
    )


def wait_rolled_out(
    apps: client.AppsV1Api, namespace: str, name: str, *, timeout: float = 5.0
) -> Obj:
    """The Deployment once its rollout is complete (like `kubectl rollout status`)."""
    return wait_for(apps.list_namespaced_deployment, namespace, name, rolled_out, timeout=timeout)


@dataclass
class History:
    """Objects of one kind as of a list, and every watch event after it, in order."""

    initial: list[Obj]
    events: list[tuple[int, str, Obj]] = field(default_factory=list)  # (rv, type, object)

    def states(self) -> Iterator[dict[str, Obj]]:
        """The set of objects (by name) after each event, starting after the first."""
        current = {o["metadata"]["name"]: o for o in self.initial}
        for _, type_, obj in self.events:
            if type_ == "DELETED":
                current.pop(obj["metadata"]["name"], None)
            else:
                current[obj["metadata"]["name"]] = obj
            yield dict(current)


class Recorder:
    """Records every event of one kind in a namespace from now until `finish()`."""

    def __init__(self, list_fn: ListFn, namespace: str) -> None:
        self.list_fn, self.namespace = list_fn, namespace
        start = listing(list_fn, namespace)
        self.history = History(start["items"])
        self.since = start["metadata"]["resourceVersion"]

    def finish(self, poke: Callable[[str, str, Obj], Any], name: str) -> History:
        """Mark the end by annotating object `name` with `poke` (a patch function), then
        replay the watch from the start up to that write."""
        end = poke(name, self.namespace, {"metadata": {"annotations": {POKE: "end"}}})
        until = int(end.metadata.resource_version)
        stream = watch.Watch()
        for event in stream.stream(
            self.list_fn, self.namespace, resource_version=self.since, timeout_seconds=5
        ):
            obj = event["raw_object"]
            rv = int(obj["metadata"]["resourceVersion"])
            self.history.events.append((rv, event["type"], obj))
            if rv >= until:
                stream.stop()
                return self.history
        raise AssertionError(f"the watch never reached resourceVersion {until}")


def is_ready(pod: Obj) -> bool:
    """Pod Ready condition True and not being deleted."""
    if pod["metadata"].get("deletionTimestamp"):
        return False
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def pod_hash(obj: Obj) -> str:
    return str((obj["metadata"].get("labels") or {}).get("pod-template-hash", ""))


def image_of(obj: Obj) -> str:
    """The first container's image of a Deployment or ReplicaSet."""
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])
