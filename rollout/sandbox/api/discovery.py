"""Discovery documents (/version, /api, /apis, resource lists) built from the kinds table.

Complete enough for kubectl to resolve kinds, plurals and short names. Pure data.
"""

from __future__ import annotations

from typing import Any

from rollout.sandbox import kinds

Doc = dict[str, Any]
SUBRESOURCE_VERBS = ["get", "patch", "update"]


def version() -> Doc:
    return {
        "major": "1", "minor": "32", "gitVersion": "v1.32.0-rollout-sandbox",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_versions(server_address: str) -> Doc:
    return {
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                        "serverAddress": server_address}],
    }


def _group(name: str, versions: list[str]) -> Doc:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def group_list() -> Doc:
    return {
        "kind": "APIGroupList", "apiVersion": "v1",
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
            "name": k.plural, "singularName": k.singular, "namespaced": k.namespaced,
            "kind": k.kind, "verbs": kinds.VERBS,
        }
        if k.short_names:
            entry["shortNames"] = list(k.short_names)
        if k.categories:
            entry["categories"] = list(k.categories)
        resources.append(entry)
        for sub in k.subresources:
            sub_entry: Doc = {"name": f"{k.plural}/{sub}", "singularName": "",
                              "namespaced": k.namespaced, "kind": k.kind,
                              "verbs": SUBRESOURCE_VERBS}
            if sub == "scale":
                sub_entry.update(group="autoscaling", version="v1", kind="Scale")
            resources.append(sub_entry)
    if not resources:
        return None
    gv = f"{group_name}/{version_name}" if group_name else version_name
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}
