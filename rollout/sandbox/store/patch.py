"""Apply PATCH bodies to stored objects the way kube-apiserver does.

Strategic merge patch (a port of apimachinery's strategicpatch apply half, with the merge
keys of the built-in kinds the sandbox serves), RFC 7386 merge patch and RFC 6902 JSON patch.
Pure functions over JSON dicts: no I/O, and the inputs are never mutated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import jsonpointer

from rollout.sandbox.store.copying import json_copy

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
MAX_JSON_PATCH_OPERATIONS = 10000
# kube-apiserver answers a JSON patch that does not apply with this 422 message.
INVALID_MESSAGE = "the server rejected our request due to an error in our request"

Obj = dict[str, Any]

_REASONS = {400: "BadRequest", 413: "RequestEntityTooLarge", 422: "Invalid"}
_GO_KINDS = {"list": "slice", "number": "float64", "null": "invalid"}
_JSON_TYPES = {"map": "object", "list": "array"}
_KINDS = (("bool", bool), ("map", dict), ("list", list), ("number", int | float), ("string", str))
_ABSENT = object()


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
_META = _struct(finalizers=FieldMeta(merge=True), ownerReferences=_by("uid"))
_CONTAINER = {"ports": _by("containerPort"), "env": _by("name")}
_CONTAINER |= {"volumeMounts": _by("mountPath"), "volumeDevices": _by("devicePath")}
_POD_LISTS = {f: _by("name", _CONTAINER) for f in ("containers", "initContainers")}
_POD_LISTS |= {"ephemeralContainers": _by("name", _CONTAINER), "hostAliases": _by("ip")}
_POD_LISTS |= {f: _by("name") for f in ("volumes", "imagePullSecrets", "resourceClaims")}
_POD_SPEC = _struct(schedulingGates=_by("name"), topologySpreadConstraints=_by("topologyKey"))
_POD_SPEC = _struct(**_POD_SPEC.fields, **_POD_LISTS)
_CONDITIONS = _struct(conditions=_by("type"))
_POD_STATUS = _struct(conditions=_by("type"), podIPs=_by("ip"), hostIPs=_by("ip"))
_WORKLOAD_SPEC = _struct(template=_struct(metadata=_META, spec=_POD_SPEC))

# Kind -> schema. Kinds not listed (ConfigMap, Secret, Endpoints, Event, Lease, ...) only
# have ObjectMeta's merge lists; their other lists are replaced, as in the real types.
SCHEMAS: dict[str, FieldMeta] = {
    "Deployment": _struct(metadata=_META, spec=_WORKLOAD_SPEC, status=_CONDITIONS),
    "ReplicaSet": _struct(metadata=_META, spec=_WORKLOAD_SPEC, status=_CONDITIONS),
    "Pod": _struct(metadata=_META, spec=_POD_SPEC, status=_POD_STATUS),
    "Service": _struct(metadata=_META, spec=_struct(ports=_by("port")), status=_CONDITIONS),
    "Namespace": _struct(metadata=_META, status=_CONDITIONS),
    "HorizontalPodAutoscaler": _struct(metadata=_META, status=_CONDITIONS),
}
_DEFAULT_SCHEMA = _struct(metadata=_META)


def strategic_merge(original: Mapping[str, Any], patch: Any, *, kind: str | None = None) -> Obj:
    """Apply a strategic merge patch; `kind` defaults to `original["kind"]`.

    Follows apimachinery: `null` deletes, merge lists merge by key (new items first unless
    `$setElementOrder` says otherwise), `$patch`, `$retainKeys`, `$setElementOrder/<f>` and
    `$deleteFromPrimitiveList/<f>` directives; `$patch: merge` is rejected as upstream does.
    """
    patch = {} if patch is None else patch
    if not isinstance(patch, Mapping):
        raise PatchError(_unmarshal_error(patch, "map[string]interface {}"), 400)
    schema = SCHEMAS.get(kind or str(original.get("kind", "")), _DEFAULT_SCHEMA)
    return _merge_map(json_copy(dict(original)), json_copy(dict(patch)), schema)


def merge_patch(original: Mapping[str, Any], patch: Any) -> Obj:
    """Apply an RFC 7386 JSON merge patch (`null` deletes, objects merge, all else replaces)."""
    if not isinstance(patch, Mapping):
        raise PatchError("Invalid JSON Patch", 400)
    return _merge_docs(json_copy(dict(original)), patch)


def json_patch(original: Mapping[str, Any], ops: Any) -> Obj:
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
        result = jsonpatch.apply_patch(json_copy(dict(original)), json_copy(ops), True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
        raise PatchError(INVALID_MESSAGE, 422, detail=str(e)) from e
    if not isinstance(result, dict):
        raise PatchError(INVALID_MESSAGE, 422, detail="the patched document is not an object")
    return result


def _merge_docs(doc: Obj, patch: Mapping[str, Any]) -> Obj:
    """RFC 7386 MergePatch, pruning nulls from new values as evanphx/json-patch does."""
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(doc.get(key), dict):
            doc[key] = _merge_docs(doc[key], value)
        else:
            doc[key] = _prune_nulls(value)
    return doc


def _prune_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    return [_prune_nulls(v) for v in value] if isinstance(value, list) else value


def _merge_map(original: Obj, patch: Obj, schema: FieldMeta) -> Obj:
    """mergeMap: `original` and `patch` are private copies and are changed in place."""
    directive = patch.pop(DIRECTIVE, _ABSENT)
    if directive in ("replace", "delete"):
        return _clean(patch)[0] if directive == "replace" else {}
    if directive is not _ABSENT:
        shown = _go({DIRECTIVE: directive, **patch})
        raise PatchError(f"unknown patch type: {_go(directive)} in map: {shown}", 500)
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
        elif key not in original or _type(original[key]) != _type(value):
            cleaned, keep = _clean(value)
            if keep and not is_delete_list:
                original[key] = cleaned
            elif not is_delete_list:
                original.pop(key, None)
        elif isinstance(value, dict):
            original[key] = _merge_map(original[key], value, schema.fields.get(key, _UNKNOWN))
        elif isinstance(value, list):
            meta = schema.fields.get(key, _UNKNOWN)
            original[key] = _merge_list(original[key], value, meta, is_delete_list)
        else:
            original[key] = value
    return original


def _apply_retain_keys(original: Obj, patch: Obj) -> None:
    if RETAIN_KEYS not in patch:
        return
    keep = patch.pop(RETAIN_KEYS)
    if not isinstance(keep, list) or any(
        key not in keep
        for key, value in patch.items()
        if value is not None and not key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER))
    ):
        raise PatchError("invalid patch format of retainKeys", 400)
    for key in [k for k in original if k not in keep]:
        del original[key]


def _merge_ordered_lists(original: Obj, patch: Obj, schema: FieldMeta) -> None:
    """mergePatchIntoOriginal: merge each `$setElementOrder/<f>` list with its patch list."""
    for directive in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _bad_type("slice", order)
        name = _strip_prefix(directive, SET_ELEMENT_ORDER)
        for value in (d[name] for d in (original, patch) if name in d):
            if not isinstance(value, list):
                raise _bad_type("slice", value)
        orig_list, patch_list = original.get(name), patch.pop(name, None)
        meta = schema.fields.get(name, _UNKNOWN)
        _validate_order(patch_list or [], order, meta.key)
        if orig_list is not None and patch_list is not None:
            merged = _merge_list(orig_list, patch_list, meta, False)
        elif patch_list is not None:
            merged = _clean(patch_list)[0]
        elif orig_list is not None:
            merged = orig_list
        else:
            continue
        items, server_only = _partition(merged, order, meta.key)
        is_map = _element_type(orig_list or [], patch_list or []) == "map"
        original[name] = _normalize_order(items, server_only, order, orig_list or [], meta, is_map)


def _validate_order(patch_list: list[Any], order: list[Any], key: str) -> None:
    """validatePatchWithSetOrderList: patch items must appear in the order list, in order."""
    if key and (bad := [i for i in patch_list if not isinstance(i, dict)]):
        raise _bad_type("map", bad[0])
    wanted = [i for i in patch_list if not (isinstance(i, dict) and DIRECTIVE in i)]

    def same(a: Any, b: Any) -> bool:
        return _same(_key_of(a, key), _key_of(b, key)) if key else _same(a, b)

    remaining = iter(order)
    if order and not all(any(same(w, o) for o in remaining) for w in wanted):
        raise PatchError(
            f"the order in patch list:\n{_go(patch_list)}\n doesn't match "
            f"{SET_ELEMENT_ORDER} list:\n{_go(order)}",
            500,
        )


def _merge_list(
    original: list[Any], patch: list[Any], meta: FieldMeta, is_delete: bool
) -> list[Any]:
    """mergeSliceHandler + mergeSlice: merge by key (maps) or set-union (scalars), then order.

    A `$deleteFromPrimitiveList` also applies to lists without the merge strategy.
    """
    if not meta.merge and not is_delete:
        cleaned: list[Any] = _clean(patch)[0]
        return cleaned
    if not original and not patch:
        return original
    elem = _element_type(original, patch)
    if elem != "map":
        if is_delete:
            return [v for v in original if not any(_same(v, d) for d in patch)]
        both = original + patch
        merged = [v for i, v in enumerate(both) if not any(_same(v, o) for o in both[:i])]
    elif not meta.key:
        raise PatchError("cannot merge lists without merge key", 500)
    else:
        original, patch = _apply_list_directives(original, patch, meta.key)
        merged = list(original)  # `original` keeps the live order
        for item in patch:
            index = _index(merged, _key_of(item, meta.key), meta.key)
            if index < 0:
                merged.append(_clean(item)[0])
            else:
                merged[index] = _merge_map(merged[index], item, meta)
    items, server_only = _partition(merged, patch, meta.key)
    return _normalize_order(items, server_only, patch, original, meta, elem == "map")


def _apply_list_directives(
    original: list[Any], patch: list[Any], key: str
) -> tuple[list[Any], list[Any]]:
    """mergeSliceWithSpecialElements: `$patch: delete` / `replace` elements."""
    plain: list[Any] = []
    replace = False
    for item in patch:
        directive = item.get(DIRECTIVE)
        if DIRECTIVE not in item:
            plain.append(item)
        elif directive == "delete":
            value = _key_of(item, key)
            original = [o for o in original if not _same(o.get(key), value)]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch", 500)
        else:
            raise PatchError(f"unknown patch type: {_go(directive)} in map: {_go(item)}", 500)
    return (plain, []) if replace else (original, plain)


def _partition(merged: list[Any], by: list[Any], key: str) -> tuple[list[Any], list[Any]]:
    """Split `merged` into items present in `by` and server-only items."""
    inside: list[Any] = []
    server_only: list[Any] = []
    for item in merged:
        found = _index(by, _key_of(item, key) if key else item, key) >= 0
        (inside if found else server_only).append(item)
    return inside, server_only


def _normalize_order(
    items: list[Any],
    server_only: list[Any],
    order: list[Any],
    server_order: list[Any],
    meta: FieldMeta,
    is_map: bool,
) -> list[Any]:
    """normalizeElementOrder: sort each part, then interleave them by the live order."""
    key = meta.key if is_map else ""
    for item in [*items, *server_only, *order] if key else []:
        _key_of(item, key)

    def rank(within: list[Any]) -> Any:  # position in `within`; items not in it sort last
        return lambda item: _index(within, item[key] if key else item, key) % (len(within) + 1)

    items, server_only = sorted(items, key=rank(order)), sorted(server_only, key=rank(server_order))
    out: list[Any] = []
    while server_only and items:
        left, right = (
            _index(server_order, p[0][key] if key else p[0], key) for p in (server_only, items)
        )
        out.append((server_only if 0 <= left < right else items).pop(0))
    return out + server_only + items


def _clean(value: Any) -> tuple[Any, bool]:
    """Drop nulls, directive keys and `$patch` maps from a value taken from the patch as is."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        cleaned = {k: _clean(v) for k, v in value.items() if v is not None and k[:1] != "$"}
        return {k: v for k, (v, keep) in cleaned.items() if keep}, True
    if isinstance(value, list):
        return [c for c, keep in map(_clean, value) if keep], True
    return value, True


def _type(value: Any) -> str:
    return next((name for name, types in _KINDS if isinstance(value, types)), "null")


def _element_type(*lists: list[Any]) -> str:
    """sliceElementType: the one element type of all lists."""
    found = ""
    for kind in (_type(v) for lst in lists for v in lst):
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


def _key_of(item: Any, key: str) -> Any:
    """The merge key's value of a list item, which must be a map that has it."""
    if not isinstance(item, dict):
        raise _bad_type("map", item)
    if key not in item:
        raise PatchError(f"map: {_go(item)} does not contain declared merge key: {key}", 500)
    return item[key]


def _index(items: list[Any], value: Any, key: str) -> int:
    """Position of the item whose merge key (or, without a key, itself) equals `value`."""
    for i, item in enumerate(items):
        have = item.get(key, _ABSENT) if isinstance(item, dict) else _ABSENT
        if _same(have if key else item, value):
            return i
    return -1


def _strip_prefix(key: str, prefix: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        kind = "primitive list" if prefix == DELETE_FROM_PRIMITIVE_LIST else "setElementOrder list"
        raise PatchError(f"invalid patch format of {kind}", 400)
    return rest


def _bad_type(expected: str, value: Any) -> PatchError:
    received = _GO_KINDS.get(_type(value), _type(value))
    return PatchError(f"expected a {expected}, but received a {received}", 500)


def _unmarshal_error(value: Any, go_type: str) -> str:
    json_type = _JSON_TYPES.get(_type(value), _type(value))
    return f"json: cannot unmarshal {json_type} into Go value of type {go_type}"


def _go(value: Any) -> str:
    """Render a JSON value as Go's `%v` does, for error messages shaped like upstream's."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "<nil>" if value is None else str(value)
