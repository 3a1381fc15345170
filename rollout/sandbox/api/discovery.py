"""Discovery documents (/version, /api, /apis, resource lists) built from the kinds table.

Complete enough for kubectl to resolve kinds, plurals and short names. Pure data.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from rollout.sandbox import kinds

Doc = dict[str, Any]
SUBRESOURCE_VERBS = ["get", "patch", "update"]


def version() -> Doc:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-rollout-sandbox",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_versions(server_address: str) -> Doc:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> Doc:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def group_list() -> Doc:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name, versions) for name, versions in kinds.groups().items()],
    }


def group(name: str) -> Doc | None:
    versions = kinds.groups().get(name)
    if versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def resource_list(group_name: str, version_name: str) -> Doc | None:
    """The APIResourceList for one group/version, or None when it isn't served."""
    resources: list[Doc] = []
    for k in kinds.KINDS:
        if k.group != group_name or version_name not in k.versions:
            continue
        entry: Doc = {
            "name": k.plural,
            "singularName": k.singular,
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": kinds.VERBS,
        }
        if k.short_names:
            entry["shortNames"] = list(k.short_names)
        if k.categories:
            entry["categories"] = list(k.categories)
        resources.append(entry)
        for sub in k.subresources:
            sub_entry: Doc = {
                "name": f"{k.plural}/{sub}",
                "singularName": "",
                "namespaced": k.namespaced,
                "kind": k.kind,
                "verbs": SUBRESOURCE_VERBS,
            }
            if sub == "scale":
                sub_entry.update(group="autoscaling", version="v1", kind="Scale")
            resources.append(sub_entry)
    if not resources:
        return None
    gv = f"{group_name}/{version_name}" if group_name else version_name
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


# -- OpenAPI v3 ------------------------------------------------------------
#
# kubectl (create/apply/replace with the default --validate=strict) asks /openapi/v3
# whether the server supports the `fieldValidation` query parameter; a 404 makes it
# fall back to client-side validation against /openapi/v2, which fails without
# schemas. So each group-version document lists the resource paths with their
# GroupVersionKind and the `fieldValidation` parameter, and no component schemas.
# PATCH bodies list only JSON and merge patch: with no schemas to derive patch
# strategies from, `kubectl apply` then falls back to its compiled-in types for
# built-in kinds (strategic merge) and to JSON merge patch for custom resources,
# exactly what it computes against a real cluster.

_FIELD_VALIDATION = {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
_WRITE_CONTENT = {"application/json": {"schema": {"type": "object"}}}
_PATCH_CONTENT = {
    "application/json-patch+json": {"schema": {"type": "object"}},
    "application/merge-patch+json": {"schema": {"type": "object"}},
}


def _gv_path(group_name: str, version_name: str) -> str:
    return f"apis/{group_name}/{version_name}" if group_name else f"api/{version_name}"


def openapi_v3_root() -> Doc:
    """`/openapi/v3`: one entry per served group-version."""
    served = [("", "v1"), *((g, v) for g, vs in kinds.groups().items() for v in vs)]
    paths: Doc = {}
    for g, v in served:
        digest = (
            hashlib.sha512(json.dumps(openapi_v3(_gv_path(g, v)), sort_keys=True).encode())
            .hexdigest()
            .upper()
        )
        paths[_gv_path(g, v)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash={digest}"}
    return {"paths": paths}


def openapi_v3(path: str) -> Doc | None:
    """`/openapi/v3/<path>`: the root (empty path) or one group-version's document."""
    path = path.strip("/")
    if not path:
        return openapi_v3_root()
    parts = path.split("/")
    if parts[0] == "api" and len(parts) == 2:
        group_name, version_name = "", parts[1]
    elif parts[0] == "apis" and len(parts) == 3:
        group_name, version_name = parts[1], parts[2]
    else:
        return None
    paths: Doc = {}
    for k in kinds.KINDS:
        if k.group == group_name and version_name in k.versions:
            paths.update(_openapi_kind_paths(k, version_name))
    if not paths:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": version()["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _openapi_kind_paths(k: kinds.Kind, version_name: str) -> Doc:
    """Collection and item paths of one kind, each operation tagged with its GVK."""
    gvk = {"group": k.group, "version": version_name, "kind": k.kind}
    base = "/" + _gv_path(k.group, version_name)
    scope = f"{base}/namespaces/{{namespace}}" if k.namespaced else base

    def op(action: str, content: Doc | None = None) -> Doc:
        doc: Doc = {
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "responses": {"200": {"description": "OK"}},
        }
        if content is not None:
            doc["parameters"] = [_FIELD_VALIDATION]
            doc["requestBody"] = {"content": content}
        return doc

    return {
        f"{scope}/{k.plural}": {
            "get": op("list"),
            "post": op("post", _WRITE_CONTENT),
            "delete": op("deletecollection"),
        },
        f"{scope}/{k.plural}/{{name}}": {
            "get": op("get"),
            "put": op("put", _WRITE_CONTENT),
            "patch": op("patch", _PATCH_CONTENT),
            "delete": op("delete"),
        },
    }


# -- OpenAPI v2 ------------------------------------------------------------
#
# kubectl validates a `kind: List` file client-side against /openapi/v2 (the
# fieldValidation check cannot vouch for a List). It asks for gnostic protobuf and
# skips validation for kinds the document does not define, so a document with no
# definitions lets every manifest through, as the real server's lets valid ones.

OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
# What kube-openapi answers with: Go's mime parser rejects the "@" of the request form.
OPENAPI_V2_PROTOBUF_REPLY = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def openapi_v2(accept: str) -> tuple[str, bytes]:
    """`/openapi/v2` as (content type, body): protobuf when asked for, else JSON."""
    if OPENAPI_V2_PROTOBUF in accept or OPENAPI_V2_PROTOBUF_REPLY in accept:
        return OPENAPI_V2_PROTOBUF_REPLY, b"\n\x032.0"  # Document{swagger: "2.0"}
    doc = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version()["gitVersion"]},
        "paths": {},
        "definitions": {},
    }
    return "application/json", json.dumps(doc).encode()
