"""Per-kind update rules, as kube-apiserver's registry strategies apply them on every write.

What a write may change (spec vs status subresource), which metadata is system-owned,
when `generation` bumps, and the autoscaling/v1 Scale view. Pure functions over JSON
dicts: no I/O, the store calls them under its lock.
"""

from __future__ import annotations

import copy
from typing import Any

from rollout.sandbox.kinds import STATUS_KINDS, Kind
from rollout.sandbox.store import errors, patch, shapes
from rollout.sandbox.store.copying import json_copy
from rollout.sandbox.store.selectors import SelectorError, label_selector_from_object

Obj = dict[str, Any]
SYSTEM_FIELDS = ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp")
# Metadata a status write may not change, per kind (upstream *StatusStrategy.PrepareForUpdate).
STATUS_KEEPS_METADATA = {"deployments.apps": ("labels",), "pods": ("ownerReferences",)}


def prepare_update(kind: Kind, old: Obj, new: Obj, subresource: str | None) -> Obj:
    """`new` as it would be stored: the other half (spec or status) and system metadata
    from `old`, generation bumped; 422 when `new` changes the uid."""
    if subresource == "status":
        new = _status_update(kind, old, new)
    elif kind.key in STATUS_KINDS:
        new = copy.copy(new)
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    meta, old_meta = new.setdefault("metadata", {}), old["metadata"]
    if meta.get("uid") not in (None, "", old_meta["uid"]):
        raise errors.invalid(
            kind.kind,
            kind.group,
            old_meta["name"],
            [("metadata.uid", f'Invalid value: "{meta["uid"]}": field is immutable')],
        )
    for fixed in SYSTEM_FIELDS:
        if fixed in old_meta:
            meta[fixed] = old_meta[fixed]
        else:
            meta.pop(fixed, None)
    meta["resourceVersion"] = old_meta["resourceVersion"]
    if "generation" in old_meta:
        bump = subresource != "status" and spec_changed(kind, old, new)
        meta["generation"] = old_meta["generation"] + (1 if bump else 0)
    drop_none(meta)
    return new


def prepare_create(kind: Kind, obj: Obj) -> Obj:
    """`obj` as a create stores it: a kind with a status subresource cannot set status
    on create (upstream PrepareForCreate); defaulting then adds what it starts with."""
    if kind.key in STATUS_KINDS:
        obj.pop("status", None)
    return obj


def decoded(kind: Kind, obj: Obj) -> Obj:
    """A create/update body as the typed decoder sees it: 400 for a wrongly typed field of
    a built-in kind, 422 (schema validation) for a custom resource's."""
    try:
        return shapes.decoded(kind.key, obj)
    except shapes.ShapeError as e:
        if not kind.builtin:
            raise _schema_invalid(kind, obj, e) from e
        raise errors.bad_request(
            f'{kind.kind} in version "{kind.preferred_version}" cannot be handled as a '
            f"{kind.kind}: {e}"
        ) from e


def _schema_invalid(kind: Kind, obj: Obj, e: shapes.ShapeError) -> errors.ApiError:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return errors.invalid(kind.kind, kind.group, str(name or ""), [(e.field(), e.schema_message())])


def patched(kind: Kind, style: str, base: Obj, body: Any, *, scale: bool = False) -> Obj:
    """`base` with a strategic/merge/JSON patch applied, decoded like a body: upstream's
    status codes for patches that do not apply (400/422, 500 for some strategic merges)
    and 422 Invalid when the result has a wrongly typed field."""
    try:
        if style == "strategic":
            new = patch.strategic_merge(base, body)
        elif style == "merge":
            new = patch.merge_patch(base, body)
        else:
            new = patch.json_patch(base, body)
    except patch.PatchError as e:
        raise errors.ApiError(e.code, e.reason, str(e)) from e
    if not isinstance(new.get("metadata"), dict):
        raise errors.invalid(
            kind.kind,
            kind.group,
            base["metadata"]["name"],
            [("metadata", "Invalid value: must be an object")],
        )
    if scale:
        return new
    try:
        return shapes.decoded(kind.key, new)
    except shapes.ShapeError as e:
        if not kind.builtin:
            raise _schema_invalid(kind, new, e) from e
        raise errors.invalid(
            kind.kind, kind.group, base["metadata"]["name"], [("patch", f"Invalid value: {e}")]
        ) from e


def _status_update(kind: Kind, old: Obj, new: Obj) -> Obj:
    """A status write keeps everything but status (and, for built-in kinds, most metadata)."""
    merged = json_copy(old)
    merged["status"] = new.get("status", {})
    if kind.builtin:
        meta = json_copy(new.get("metadata") or {})
        for key in STATUS_KEEPS_METADATA.get(kind.key, ()):
            if key in old["metadata"]:
                meta[key] = old["metadata"][key]
            else:
                meta.pop(key, None)
        merged["metadata"] = meta
    return merged


def spec_changed(kind: Kind, old: Obj, new: Obj) -> bool:
    """Whether a write bumps generation: spec (and, for Deployments, annotations, which
    upstream copies to ReplicaSets); for custom resources everything but metadata/status."""
    if kind.key == "deployments.apps":
        before = old["metadata"].get("annotations") or {}
        if before != (new["metadata"].get("annotations") or {}):
            return True
    if kind.builtin:
        return old.get("spec") != new.get("spec")
    strip = ("metadata", "status")
    return {k: v for k, v in old.items() if k not in strip} != {
        k: v for k, v in new.items() if k not in strip
    }


def scale_of(obj: Obj) -> Obj:
    """The autoscaling/v1 Scale view of a Deployment or ReplicaSet."""
    meta = obj["metadata"]
    try:
        selector = str(label_selector_from_object(obj["spec"].get("selector")))
    except SelectorError:  # validated on write; an old object may still carry one
        selector = ""
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": obj["spec"].get("replicas", 1)},
        "status": {
            "replicas": obj.get("status", {}).get("replicas", 0),
            "selector": selector,
        },
    }


def scaled(kind: Kind, old: Obj, scale: Obj) -> Obj:
    """`old` with the replicas of a Scale body; 409 on a stale one, 422 on bad replicas."""
    name = old["metadata"]["name"]
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    if rv and rv != old["metadata"]["resourceVersion"]:
        raise errors.conflict(kind.plural, kind.group, name)
    replicas = (scale.get("spec") or {}).get("replicas")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise errors.invalid(
            "Scale",
            "autoscaling",
            name,
            [("spec.replicas", "Invalid value: must be greater than or equal to 0")],
        )
    new = json_copy(old)
    new["spec"]["replicas"] = replicas
    return new


def drop_none(meta: Obj) -> None:
    """Remove keys whose value is None (cleared metadata fields)."""
    for key in [k for k, v in meta.items() if v is None]:
        del meta[key]
