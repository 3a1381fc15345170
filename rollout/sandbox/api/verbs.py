"""The resource verbs (get, list, create, update, patch, delete, deletecollection) as HTTP
sees them: decode the request, call the store, shape the response body.

Object semantics stay in `store/`; this module maps requests onto them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollout.sandbox.api import negotiate, params, routes, tables
from rollout.sandbox.store import errors
from rollout.sandbox.store.store import Store

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """One resource request, decoded enough to serve."""

    verb: str
    route: routes.Route
    query: Mapping[str, str]
    body: bytes
    content_type: str | None
    dry_run: bool


def serve(store: Store, call: Call) -> tuple[int, Obj, list[Obj] | None]:
    """(status code, response body, the listed objects for a list) for one call."""
    route, ns = call.route, call.route.namespace or ""
    kind, name = route.kind, route.name or ""
    if call.verb == "list":
        return 200, *_list(store, call)
    if call.verb == "get":
        obj = store.get(kind, ns, name)
        return (
            200,
            (store.scale_of(kind, obj) if route.subresource == "scale" else versioned(obj, route)),
            None,
        )
    if call.verb == "create":
        obj = params.checked_body(call.body, route, call.content_type)
        return 201, versioned(store.create(kind, ns, obj, dry_run=call.dry_run), route), None
    if call.verb == "update":
        obj = params.checked_body(call.body, route, call.content_type)
        out = store.replace(
            kind, ns, name, obj, subresource=route.subresource, dry_run=call.dry_run
        )
        return 200, _out(out, route), None
    if call.verb == "patch":
        negotiate.patch_type(call.content_type, builtin=kind.builtin)
        out = store.patch(
            kind,
            ns,
            name,
            call.content_type or "",
            params.decode_patch(call.body),
            subresource=route.subresource,
            dry_run=call.dry_run,
        )
        return 200, _out(out, route), None
    options = params.delete_options(call.body, call.content_type)
    policy = params.propagation(call.query, options)
    if call.verb == "delete":
        gone = store.delete(
            kind,
            ns,
            name,
            propagation=policy,
            preconditions=options.get("preconditions"),
            dry_run=call.dry_run,
        )
        return 200, deleted_result(gone, route), None
    return 200, _delete_collection(store, call, policy), None


def _list(store: Store, call: Call) -> tuple[Obj, list[Obj]]:
    """A `<Kind>List` page: `limit` items after the `continue` token, like etcd paging."""
    route = call.route
    labels, fields = params.selectors(call.query, route.kind.kind, builtin=route.kind.builtin)
    items, rv = store.list(route.kind, route.namespace, labels=labels, fields=fields)
    start = _continue_from(call.query.get("continue"))
    if start is not None:
        items = [o for o in items if _key(o) > start]
    meta: Obj = {"resourceVersion": str(rv)}
    limit = params.integer(dict(call.query), "limit")
    if limit is not None and 0 < limit < len(items):
        items, rest = items[:limit], len(items) - limit
        token = json.dumps({"rv": rv, "start": list(_key(items[-1]))}).encode()
        meta.update(
            {"continue": base64.urlsafe_b64encode(token).decode(), "remainingItemCount": rest}
        )
    body = {
        "kind": f"{route.kind.kind}List",
        "apiVersion": route.kind.api_version(route.version),
        "metadata": meta,
        "items": [versioned(o, route) for o in items],
    }
    return body, items


def _key(obj: Obj) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _continue_from(token: str | None) -> tuple[str, str] | None:
    """The (namespace, name) a continue token resumes after; 400 when it is not ours."""
    if not token:
        return None
    try:
        ns, name = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
        return str(ns), str(name)
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        raise errors.bad_request(f"continue key is not valid: {e}") from e


def _delete_collection(store: Store, call: Call, policy: str | None) -> Obj:
    route = call.route
    labels, fields = params.selectors(call.query, route.kind.kind, builtin=route.kind.builtin)
    items, rv = store.list(route.kind, route.namespace, labels=labels, fields=fields)
    deleted = [
        store.delete(route.kind, *_key(o), propagation=policy, dry_run=call.dry_run) for o in items
    ]
    return {
        "kind": f"{route.kind.kind}List",
        "apiVersion": route.kind.api_version(route.version),
        "metadata": {"resourceVersion": str(rv)},
        "items": [versioned(o, route) for o in deleted],
    }


def _out(obj: Obj, route: routes.Route) -> Obj:
    return obj if obj.get("kind") == "Scale" else versioned(obj, route)


def versioned(obj: Obj, route: routes.Route) -> Obj:
    """`obj` labelled with the kind and the version the request used."""
    api_version = route.kind.api_version(route.version)
    if obj.get("apiVersion") == api_version and obj.get("kind") == route.kind.kind:
        return obj
    return {**obj, "apiVersion": api_version, "kind": route.kind.kind}


def deleted_result(gone: Obj, route: routes.Route) -> Obj:
    """What DELETE answers: the object while it lingers (finalizers; pods always), else a
    Success Status naming it."""
    if route.kind.key == "pods" or gone["metadata"].get("deletionTimestamp"):
        return versioned(gone, route)
    meta = gone["metadata"]
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": meta["name"],
            "group": route.kind.group,
            "kind": route.kind.plural,
            "uid": meta.get("uid"),
        },
    }


def convert(result: Obj, listed: list[Obj] | None, call: Call, target: negotiate.Target) -> Obj:
    """The response in the representation the Accept header chose (Table, partial...)."""
    shape = target.shape
    if shape is negotiate.As.OBJECT or result.get("kind") in ("Status", "Scale"):
        return result
    rv = str(result.get("metadata", {}).get("resourceVersion", ""))
    objects = listed if listed is not None else [result]
    if shape is negotiate.As.TABLE:
        table = tables.table(
            call.route.kind,
            objects,
            resource_version=rv,
            include=params.include_object(dict(call.query)),
            version=target.version,
        )
        if listed is not None and result["metadata"].get("continue"):
            table["metadata"]["continue"] = result["metadata"]["continue"]
        return table
    if shape is negotiate.As.PARTIAL_LIST:
        return tables.partial_list(objects, resource_version=rv, version=target.version)
    return tables.partial(result, target.version)
