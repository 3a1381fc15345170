"""Apply PATCH bodies to stored objects the way kube-apiserver does.

Strategic merge patch (a port of apimachinery's strategicpatch apply half, with the merge
keys of the built-in kinds the sandbox serves), RFC 7386 merge patch and RFC 6902 JSON patch.
Pure functions over JSON dicts: no I/O, and the inputs are never mutated.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import jsonpointer

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
MAX_JSON_PATCH_OPERATIONS = 10000
# kube-apiserver answers a JSON patch that does not apply with this 422 message.
INVALID_MESSAGE = "the server rejected our request due to an error in our request"

_REASONS = {400: "BadRequest", 413: "RequestEntityTooLarge", 422: "Invalid"}


class PatchError(Exception):
    """A patch the API server refuses; `code` is the HTTP status it answers with."""

    def __init__(self, message: str, code: int, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.detail = detail or message

    @property
    def reason(self) -> str:
        """The `Status.reason` for `code` ("" for an untyped 500, as the real server sends)."""
        return _REASONS.get(self.code, "")


@dataclass(frozen=True, slots=True)
class FieldMeta:
    """Patch metadata of one field: list strategy, merge key, and the fields of its values."""

    merge: bool = False  # patchStrategy "merge": by `key` for maps, set-union for scalars
    key: str = ""  # patchMergeKey of a list of maps
    fields: Mapping[str, FieldMeta] = field(default_factory=dict)


def _by(key: str, fields: Mapping[str, FieldMeta] | None = None) -> FieldMeta:
    return FieldMeta(merge=True, key=key, fields=fields or {})


def _struct(**fields: FieldMeta) -> FieldMeta:
    return FieldMeta(fields=fields)


_UNKNOWN = FieldMeta()  # maps merge recursively, lists are replaced
_OBJECT_META = _struct(finalizers=FieldMeta(merge=True), ownerReferences=_by("uid"))
_CONTAINER = {
    "ports": _by("containerPort"),
    "env": _by("name"),
    "volumeMounts": _by("mountPath"),
    "volumeDevices": _by("devicePath"),
}
_POD_SPEC = _struct(
    containers=_by("name", _CONTAINER),
    initContainers=_by("name", _CONTAINER),
    ephemeralContainers=_by("name", _CONTAINER),
    volumes=_by("name"),
    imagePullSecrets=_by("name"),
    hostAliases=_by("ip"),
    topologySpreadConstraints=_by("topologyKey"),
    resourceClaims=_by("name"),
    schedulingGates=_by("name"),
)
_CONDITIONS = _struct(conditions=_by("type"))
_POD_STATUS = _struct(conditions=_by("type"), podIPs=_by("ip"), hostIPs=_by("ip"))
_WORKLOAD_SPEC = _struct(template=_struct(metadata=_OBJECT_META, spec=_POD_SPEC))


def _kind(**fields: FieldMeta) -> FieldMeta:
    return _struct(metadata=_OBJECT_META, **fields)


# Kind -> schema. Kinds not listed (ConfigMap, Secret, Endpoints, Event, Lease, ...) only
# have ObjectMeta's merge lists; their other lists are replaced, as in the real types.
SCHEMAS: dict[str, FieldMeta] = {
    "Deployment": _kind(spec=_WORKLOAD_SPEC, status=_CONDITIONS),
    "ReplicaSet": _kind(spec=_WORKLOAD_SPEC, status=_CONDITIONS),
    "Pod": _kind(spec=_POD_SPEC, status=_POD_STATUS),
    "Service": _kind(spec=_struct(ports=_by("port")), status=_CONDITIONS),
    "Namespace": _kind(status=_CONDITIONS),
    "HorizontalPodAutoscaler": _kind(status=_CONDITIONS),
}
_DEFAULT_SCHEMA = _kind()


def strategic_merge(original: Mapping[str, Any], patch: Any, *, kind: str | None = None) -> dict:
    """Apply a strategic merge patch; `kind` defaults to `original["kind"]`.

    Follows apimachinery: `null` deletes, merge lists merge by key (new items first unless
    `$setElementOrder` says otherwise), `$patch`, `$retainKeys`, `$setElementOrder/<f>` and
    `$deleteFromPrimitiveList/<f>` directives; `$patch: merge` is rejected as upstream does.
    """
    if patch is None:
        patch = {}
    if not isinstance(patch, Mapping):
        raise PatchError(
            f"json: cannot unmarshal {_json_type(patch)} into Go value of type "
            "map[string]interface {}",
            400,
        )
    schema = SCHEMAS.get(kind or str(original.get("kind", "")), _DEFAULT_SCHEMA)
    return _merge_map(copy.deepcopy(dict(original)), copy.deepcopy(dict(patch)), schema)


def merge_patch(original: Mapping[str, Any], patch: Any) -> dict:
    """Apply an RFC 7386 JSON merge patch (`null` deletes, objects merge, all else replaces)."""
    if not isinstance(patch, Mapping):
        raise PatchError("Invalid JSON Patch", 400)
    return _merge_docs(copy.deepcopy(dict(original)), patch)


def json_patch(original: Mapping[str, Any], ops: Any) -> dict:
    """Apply an RFC 6902 JSON patch (a list of operations)."""
    if not isinstance(ops, list):
        raise PatchError(_unmarshal_error(ops, "jsonpatch.Patch"), 400)
    for op in ops:
        if not isinstance(op, Mapping):
            raise PatchError(_unmarshal_error(op, "jsonpatch.Operation"), 400)
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}",
            413,
        )
    try:
        result = jsonpatch.apply_patch(
            copy.deepcopy(dict(original)), copy.deepcopy(ops), in_place=True
        )
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
        raise PatchError(INVALID_MESSAGE, 422, detail=str(e)) from e
    if not isinstance(result, dict):
        raise PatchError(INVALID_MESSAGE, 422, detail="the patched document is not an object")
    return result


# --- RFC 7386 -------------------------------------------------------------------------


def _merge_docs(doc: dict, patch: Mapping[str, Any]) -> dict:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(doc.get(key), dict):
            doc[key] = _merge_docs(doc[key], value)
        else:
            doc[key] = _prune_nulls(value)
    return doc


def _prune_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


# --- strategic merge: maps ------------------------------------------------------------


def _merge_map(original: dict, patch: dict, schema: FieldMeta) -> dict:
    """mergeMap: `original` and `patch` are private copies and are changed in place."""
    if DIRECTIVE in patch:
        return _map_directive(patch)
    _apply_retain_keys(original, patch)
    _merge_ordered_lists(original, patch, schema)
    for key, value in patch.items():
        is_delete_list = key.startswith(DELETE_FROM_PRIMITIVE_LIST)
        if is_delete_list:
            key = _strip_prefix(key, DELETE_FROM_PRIMITIVE_LIST)
        elif key.startswith("$"):
            continue  # unknown directive-like key: dropped, as decoding drops unknown fields
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or _type(original[key]) != _type(value):
            if not is_delete_list:
                _set_clean(original, key, value)
            continue
        meta = schema.fields.get(key, _UNKNOWN)
        if isinstance(value, dict):
            original[key] = _merge_map(original[key], value, meta)
        elif isinstance(value, list):
            original[key] = _merge_list_field(original[key], value, meta, is_delete_list)
        else:
            original[key] = value
    return original


def _map_directive(patch: dict) -> dict:
    directive = patch[DIRECTIVE]
    if directive == "replace":
        del patch[DIRECTIVE]
        return _clean(patch)[0]
    if directive == "delete":
        return {}
    raise PatchError(f"unknown patch type: {_go(directive)} in map: {_go(patch)}", 500)


def _apply_retain_keys(original: dict, patch: dict) -> None:
    if RETAIN_KEYS not in patch:
        return
    keep = patch.pop(RETAIN_KEYS)
    if not isinstance(keep, list):
        raise PatchError("invalid patch format of retainKeys", 400)
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if key not in keep:
            raise PatchError("invalid patch format of retainKeys", 400)
    for key in [k for k in original if k not in keep]:
        del original[key]


def _merge_ordered_lists(original: dict, patch: dict, schema: FieldMeta) -> None:
    """mergePatchIntoOriginal: merge each `$setElementOrder/<f>` list with its patch list."""
    for directive in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise PatchError(f"expected a slice, but received a {_go_kind(order)}", 500)
        name = _strip_prefix(directive, SET_ELEMENT_ORDER)
        found_orig, found_patch = name in original, name in patch
        orig_list, patch_list = original.get(name), patch.get(name)
        for found, value in ((found_orig, orig_list), (found_patch, patch_list)):
            if found and not isinstance(value, list):
                raise PatchError(f"expected a slice, but received a {_go_kind(value)}", 500)
        meta = schema.fields.get(name, _UNKNOWN)
        _validate_order(patch_list or [], order, meta.key)
        if found_orig and found_patch:
            merged = _merge_list_field(orig_list, patch_list, meta, False)
        elif found_orig:
            merged = orig_list
        elif found_patch:
            merged = _clean(patch_list)[0]
        else:
            continue
        items, server_only = _partition(merged, order, meta.key)
        is_map = _element_type(orig_list or [], patch_list or []) == "map"
        original[name] = _normalize_order(items, server_only, order, orig_list or [], meta, is_map)
        patch.pop(name, None)


def _validate_order(patch_list: list, order: list, key: str) -> None:
    """validatePatchWithSetOrderList: patch items must appear in the order list, in order."""
    if not order or not patch_list:
        return
    items = [i for i in patch_list if not _is_delete_item(i)] if key else patch_list
    p = s = 0
    while p < len(items) and s < len(order):
        if isinstance(items[p], dict) and DIRECTIVE in items[p]:
            p += 1
            continue
        if _merge_key_equal(items[p], order[s], key):
            p += 1
        s += 1
    if p < len(items) and s >= len(order):
        raise PatchError(
            f"the order in patch list:\n{_go(patch_list)}\n doesn't match "
            f"{SET_ELEMENT_ORDER} list:\n{_go(order)}",
            500,
        )


# --- strategic merge: lists -----------------------------------------------------------


def _merge_list_field(original: list, patch: list, meta: FieldMeta, is_delete: bool) -> list:
    """mergeSliceHandler; a `$deleteFromPrimitiveList` also applies to non-merge lists."""
    if meta.merge or is_delete:
        return _merge_list(original, patch, meta, is_delete)
    return _clean(patch)[0]


def _merge_list(original: list, patch: list, meta: FieldMeta, is_delete: bool) -> list:
    """mergeSlice: merge by key (maps) or set-union (scalars), then restore the order."""
    if not original and not patch:
        return original
    elem = _element_type(original, patch)
    if elem != "map":
        if is_delete:
            return [v for v in original if not any(_same(v, d) for d in patch)]
        merged = _dedupe(original + patch)
    else:
        if not meta.key:
            raise PatchError("cannot merge lists without merge key", 500)
        original, patch = _apply_list_directives(original, patch, meta.key)
        merged = _merge_list_items(list(original), patch, meta)  # `original` keeps live order
    items, server_only = _partition(merged, patch, meta.key)
    return _normalize_order(items, server_only, patch, original, meta, elem == "map")


def _apply_list_directives(original: list, patch: list, key: str) -> tuple[list, list]:
    """mergeSliceWithSpecialElements: `$patch: delete` / `replace` elements."""
    plain: list = []
    replace = False
    for item in patch:
        directive = item.get(DIRECTIVE)
        if DIRECTIVE not in item:
            plain.append(item)
        elif directive == "delete":
            if key not in item:
                raise PatchError(_no_merge_key(item, key), 500)
            original = [o for o in original if not _same(o.get(key), item[key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch", 500)
        else:
            raise PatchError(f"unknown patch type: {_go(directive)} in map: {_go(item)}", 500)
    return (plain, []) if replace else (original, plain)


def _merge_list_items(original: list, patch: list, meta: FieldMeta) -> list:
    for item in patch:
        if meta.key not in item:
            raise PatchError(_no_merge_key(item, meta.key), 500)
        index = _find(original, meta.key, item[meta.key])
        if index is None:
            original.append(_clean(item)[0])
        else:
            original[index] = _merge_map(original[index], item, meta)
    return original


def _partition(merged: list, by: list, key: str) -> tuple[list, list]:
    """Split `merged` into items present in `by` and server-only items."""
    if not key:
        inside = [v for v in merged if any(_same(v, b) for b in by)]
        return inside, [v for v in merged if not any(_same(v, b) for b in by)]
    inside, server_only = [], []
    for item in merged:
        if not isinstance(item, dict):
            raise PatchError(f"expected a map, but received a {_go_kind(item)}", 500)
        if key not in item:
            raise PatchError(_no_merge_key(item, key), 500)
        bad = next((i for i, b in enumerate(by) if not isinstance(b, dict)), None)
        if bad is not None:
            raise PatchError(f"value for key {bad} is not a map.", 500)
        (inside if _find(by, key, item[key]) is not None else server_only).append(item)
    return inside, server_only


def _normalize_order(
    items: list, server_only: list, order: list, server_order: list, meta: FieldMeta, is_map: bool
) -> list:
    """normalizeElementOrder: sort each part, then interleave by the live order."""
    key = meta.key if is_map else ""
    if key:
        for item in [*items, *server_only, *order]:
            if not isinstance(item, dict) or key not in item:
                raise PatchError(_no_merge_key(item, key), 500)
    items = _sort_by(items, order, key)
    server_only = _sort_by(server_only, server_order, key)
    out: list = []
    i = j = 0
    while i < len(server_only) or j < len(items):
        if j >= len(items):
            out.append(server_only[i])
            i += 1
            continue
        if i < len(server_only):
            li = _index(server_order, server_only[i], key)
            ri = _index(server_order, items[j], key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(server_only[i])
                i += 1
                continue
        out.append(items[j])
        j += 1
    return out


def _sort_by(items: list, order: list, key: str) -> list:
    def rank(item: Any) -> int:
        index = _index(order, item, key)
        return index if index >= 0 else len(order)

    return sorted(items, key=rank)


# --- helpers --------------------------------------------------------------------------


def _set_clean(original: dict, key: str, value: Any) -> None:
    cleaned, keep = _clean(value)
    if keep:
        original[key] = cleaned
    else:
        original.pop(key, None)


def _clean(value: Any) -> tuple[Any, bool]:
    """Drop nulls, directive keys and `$patch` maps from a value taken from the patch as is."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        out = {}
        for k, v in value.items():
            if v is None or k.startswith("$"):
                continue
            cleaned, keep = _clean(v)
            if keep:
                out[k] = cleaned
        return out, True
    if isinstance(value, list):
        return [c for c, keep in map(_clean, value) if keep], True
    return value, True


def _type(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "string"


def _element_type(*lists: list) -> str:
    """sliceElementType: the one element type of all lists."""
    found = ""
    for value in (v for lst in lists for v in lst):
        kind = _type(value)
        if kind == "list":
            raise PatchError("lists of lists are not supported", 422)
        if found and kind != found:
            raise PatchError(f"list element types are not identical: {_go(list(lists))}", 500)
        found = kind
    if not found:
        raise PatchError("no elements in any of the given slices", 500)
    return found


def _same(a: Any, b: Any) -> bool:
    """Go interface equality for JSON scalars (so 1 != true and "1" != 1)."""
    return _type(a) == _type(b) and a == b


def _dedupe(values: list) -> list:
    out: list = []
    for v in values:
        if not any(_same(v, o) for o in out):
            out.append(v)
    return out


def _find(items: list, key: str, value: Any) -> int | None:
    for index, item in enumerate(items):
        if isinstance(item, dict) and key in item and _same(item[key], value):
            return index
    return None


def _index(items: list, item: Any, key: str) -> int:
    if key:
        value = item.get(key) if isinstance(item, dict) else None
        found = _find(items, key, value)
        return -1 if found is None else found
    return next((i for i, v in enumerate(items) if _same(v, item)), -1)


def _merge_key_equal(left: Any, right: Any, key: str) -> bool:
    if not key:
        return _same(left, right)
    for side in (left, right):
        if not isinstance(side, dict):
            raise PatchError(f"expected a map, but received a {_go_kind(side)}", 500)
        if key not in side:
            raise PatchError(_no_merge_key(side, key), 500)
    return _same(left[key], right[key])


def _is_delete_item(item: Any) -> bool:
    if not isinstance(item, dict):
        raise PatchError(f"expected a map, but received a {_go_kind(item)}", 500)
    return item.get(DIRECTIVE) == "delete"


def _strip_prefix(key: str, prefix: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        kind = "primitive list" if prefix == DELETE_FROM_PRIMITIVE_LIST else "setElementOrder list"
        raise PatchError(f"invalid patch format of {kind}", 400)
    return rest


def _no_merge_key(item: Any, key: str) -> str:
    return f"map: {_go(item)} does not contain declared merge key: {key}"


def _json_type(value: Any) -> str:
    return {"map": "object", "list": "array", "null": "null"}.get(_type(value), _type(value))


def _unmarshal_error(value: Any, go_type: str) -> str:
    return f"json: cannot unmarshal {_json_type(value)} into Go value of type {go_type}"


def _go_kind(value: Any) -> str:
    names = {"list": "slice", "number": "float64", "null": "invalid"}
    return names.get(_type(value), _type(value))


def _go(value: Any) -> str:
    """Render a JSON value as Go's `%v` does, for error messages shaped like upstream's."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "<nil>" if value is None else str(value)
