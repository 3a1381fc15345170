"""How rollout marks the objects it creates, and recognises them later.

An object is rollout's to change or delete only when it carries both the managed-by
label and the owner annotation naming the target Deployment. Pure; no I/O.
"""

from __future__ import annotations

from typing import Any

from rollout.settings import PREFIX

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "rollout"
OWNER = f"{PREFIX}/owner"  # value: "Deployment/<target name>"


def owner_value(target: str) -> str:
    """The owner annotation's value for objects made on behalf of Deployment `target`."""
    return f"Deployment/{target}"


def is_owned_by(obj: dict[str, Any] | None, owner: str) -> bool:
    """Created by rollout for `owner` (an `owner_value`); False for None."""
    if obj is None:
        return False
    meta = obj.get("metadata") or {}
    return (meta.get("labels") or {}).get(MANAGED_BY) == MANAGER and (
        meta.get("annotations") or {}
    ).get(OWNER) == owner


def is_owned(obj: dict[str, Any] | None, target: str) -> bool:
    """Created by rollout for Deployment `target`."""
    return is_owned_by(obj, owner_value(target))
