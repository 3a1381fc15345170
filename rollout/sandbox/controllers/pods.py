"""Facts about pods and owners that several controllers share: ownership, readiness, availability.

Pure functions over pod JSON; no store access.
"""

from __future__ import annotations

import datetime
from typing import Any

from rollout.sandbox.store.selectors import SelectorError, label_selector_from_object

Obj = dict[str, Any]


def owner_uid(obj: Obj) -> str | None:
    """The uid of the controlling owner, if any."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def owner_ref(owner: Obj) -> Obj:
    """A controlling ownerReference to `owner`."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def add_owner(obj: Obj, owner: Obj) -> None:
    """Adopt `obj`: append a controlling ownerReference to `owner`."""
    obj["metadata"].setdefault("ownerReferences", []).append(owner_ref(owner))


def selects(owner: Obj, labels: dict[str, str]) -> bool:
    """Whether a workload's spec.selector matches `labels` (invalid or empty: none)."""
    selector = (owner.get("spec") or {}).get("selector")
    try:
        return bool(selector) and label_selector_from_object(selector).matches(labels)
    except SelectorError:
        return False


def is_terminating(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def condition(obj: Obj, type_: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond  # type: ignore[no-any-return]
    return None


def is_ready(pod: Obj) -> bool:
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True" and not is_terminating(pod)


def ready_since(pod: Obj) -> float | None:
    """Wall-clock epoch seconds at which the pod became Ready, or None."""
    cond = condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime", ""))


def is_available(pod: Obj, min_ready_seconds: float, now: float, speed: float) -> bool:
    """Ready for at least minReadySeconds (sandbox seconds; `now` is wall epoch seconds)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and (now - since) * speed >= min_ready_seconds


def parse_time(text: str) -> float | None:
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def format_time(epoch: float) -> str:
    """RFC 3339 with microseconds (sub-second readiness matters when the clock is sped up)."""
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
