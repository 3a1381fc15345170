"""Request decoding: HTTP method -> verb, query parameters and bodies, validated the way
kube-apiserver validates them (400 for undecodable input, 405/422 where it answers so).

Pure functions: no store, no sockets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from rollout.sandbox.api import negotiate, protobuf, routes
from rollout.sandbox.store import errors
from rollout.sandbox.store.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)

Obj = dict[str, Any]
Query = Mapping[str, str]
PROPAGATION = ("Foreground", "Background", "Orphan")
# Verbs each kind of path serves (the rest get 405, as upstream routes them).
ALLOWED = {
    "collection": {"list", "watch", "create", "deletecollection"},
    "item": {"get", "watch", "update", "patch", "delete"},
    "subresource": {"get", "update", "patch"},
}


def verb(method: str, route: routes.Route, query: Query) -> str:
    """The API verb of a request (`watch` is a GET with watch=true)."""
    if method == "GET":
        if route.subresource is None and query.get("watch", "").lower() in ("true", "t", "1"):
            return "watch"  # Go's ParseBool
        return "get" if route.name else "list"
    if method == "DELETE":
        return "delete" if route.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def check_allowed(verb_name: str, route: routes.Route) -> None:
    """405 MethodNotAllowed for a verb the path does not serve (e.g. POST to a name)."""
    where = "subresource" if route.subresource else "item" if route.name else "collection"
    if verb_name not in ALLOWED[where]:
        raise errors.ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )


def is_dry_run(query: Query, body: bytes) -> bool:
    """dryRun=All in the query, or in a DELETE's DeleteOptions body."""
    if query.get("dryRun") == "All":
        return True
    if not body.lstrip().startswith(b"{") or b"dryRun" not in body:
        return False
    try:
        options = json.loads(body)
    except ValueError:
        return False
    return isinstance(options, dict) and "All" in (options.get("dryRun") or [])


def check_dry_run(query: Query, verb_name: str) -> None:
    """422 for a dryRun value other than All (upstream's Create/Update/PatchOptions rule)."""
    value = query.get("dryRun")
    if value is None or value == "All":
        return
    options = {
        "create": "CreateOptions",
        "update": "UpdateOptions",
        "patch": "PatchOptions",
        "delete": "DeleteOptions",
        "deletecollection": "DeleteOptions",
    }.get(verb_name)
    if options is not None:
        raise errors.invalid(
            options,
            "meta.k8s.io",
            "",
            [("dryRun", f'Unsupported value: []string{{"{value}"}}: supported values: "All"')],
        )


def decode(body: bytes, content_type: str | None = None) -> Any:
    """A JSON (or, by Content-Type, YAML or protobuf) request body; 400 when it does not
    parse."""
    fmt = negotiate.body_format(content_type)
    if fmt == "protobuf":
        return protobuf.decode(body)
    try:
        if fmt == "yaml":
            return yaml.safe_load(body.decode()) if body else None
        return json.loads(body) if body else None
    except (ValueError, yaml.YAMLError) as e:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from e


def decode_patch(body: bytes) -> Any:
    """A PATCH body (always JSON here); 400 when it does not parse."""
    try:
        return json.loads(body) if body else None
    except ValueError as e:
        raise errors.bad_request(f"error decoding patch: {e}") from e


def checked_body(body: bytes, route: routes.Route, content_type: str | None) -> Obj:
    """A create/update body: an object of the route's kind, namespace and name (400 if not)."""
    obj = decode(body, content_type)
    if not isinstance(obj, dict):
        raise errors.bad_request(f"the object provided is not a JSON object: {_json_type(obj)}")
    kind = route.kind
    if route.subresource == "scale":
        return obj
    if obj.get("kind") and obj["kind"] != kind.kind:
        raise errors.bad_request(
            f"the kind in the data ({obj['kind']}) does not match the expected kind ({kind.kind})"
        )
    api_version = kind.api_version(route.version)
    given = obj.get("apiVersion")
    if given and (
        not isinstance(given, str) or given.rsplit("/", 1)[0] != api_version.rsplit("/", 1)[0]
    ):
        raise errors.bad_request(
            f"the API version in the data ({given}) does not match the "
            f"expected API version ({api_version})"
        )
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise errors.bad_request(
            f'{kind.kind} in version "{route.version}" cannot be handled '
            f"as a {kind.kind}: metadata must be an object"
        )
    if route.namespace and meta.get("namespace") not in (None, "", route.namespace):
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if route.name and meta.get("name") not in (None, route.name):
        raise errors.bad_request(
            f"the name of the object ({meta.get('name')}) does not match "
            f"the name on the URL ({route.name})"
        )
    obj["kind"], obj["apiVersion"] = kind.kind, api_version
    return obj


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", bool: "bool", type(None): "null"}.get(
        type(value), "number"
    )


def selectors(
    query: Query, kind_name: str, *, builtin: bool
) -> tuple[LabelSelector | None, FieldSelector | None]:
    """labelSelector / fieldSelector; 400 for bad syntax or an unsupported field label."""
    try:
        text = query.get("labelSelector")
        labels = parse_label_selector(text) if text else None
        text = query.get("fieldSelector")
        fields = parse_field_selector(text) if text else None
        if fields is not None:
            fields.require_supported(kind_name if builtin else "")
    except SelectorError as e:
        raise errors.bad_request(str(e)) from e
    return labels, fields


def integer(query: Query, name: str) -> int | None:
    """An int64 query parameter (timeoutSeconds, limit...); 400 when it is not one."""
    text = query.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text, 10)
    except ValueError as e:
        raise errors.bad_request(f'strconv.ParseInt: parsing "{text}": invalid syntax') from e


def propagation(query: Query, options: Obj) -> str | None:
    """DeleteOptions.propagationPolicy (query or body; orphanDependents as Orphan); 422 when
    it is not one of the three policies."""
    policy = query.get("propagationPolicy") or options.get("propagationPolicy")
    orphan = query.get("orphanDependents") or options.get("orphanDependents")
    if policy is None and orphan in (True, "true"):
        return "Orphan"
    if policy is not None and policy not in PROPAGATION:
        raise errors.invalid(
            "DeleteOptions",
            "meta.k8s.io",
            "",
            [
                (
                    "propagationPolicy",
                    f'Unsupported value: "{policy}": supported values: "Foreground", "Background", '
                    '"Orphan", "nil"',
                )
            ],
        )
    return policy


def delete_options(body: bytes, content_type: str | None) -> Obj:
    """A DELETE's DeleteOptions body ({} when absent); 400 when it is not an object."""
    options = decode(body, content_type) if body.strip() else {}
    if not isinstance(options, dict):
        raise errors.bad_request(f"the object provided is not a JSON object: {_json_type(options)}")
    return options


def include_object(query: Query) -> str:
    """Table's includeObject (None, Metadata, Object); 400 for anything else."""
    value = query.get("includeObject", "")
    if value not in ("", "None", "Metadata", "Object"):
        raise errors.bad_request(
            f"Unable to convert to Table as requested: includeObject: Unsupported value: "
            f'"{value}": supported values: "Metadata", "None", "Object"'
        )
    return value
