"""Discovery as kubectl and raw HTTP see it: /api, /apis, the resource lists (both Istio
versions), `kubectl api-resources`, and every short name resolving in `kubectl get`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from rollout.sandbox import Sandbox
from tests.sandbox import rawhttp
from tests.sandbox.conftest import Kubectl

Obj = dict[str, Any]
Run = Callable[..., Any]
ISTIO = "networking.istio.io"
SHORT_NAMES = {
    "deploy": ("deployments", "apps/v1", "Deployment"),
    "rs": ("replicasets", "apps/v1", "ReplicaSet"),
    "po": ("pods", "v1", "Pod"),
    "svc": ("services", "v1", "Service"),
    "ep": ("endpoints", "v1", "Endpoints"),
    "ev": ("events", "v1", "Event"),
    "vs": ("virtualservices", f"{ISTIO}/v1", "VirtualService"),  # the preferred version
    "dr": ("destinationrules", f"{ISTIO}/v1", "DestinationRule"),
}


@pytest.fixture
def kc(kubectl: Kubectl, tmp_path: Path) -> Run:
    """kubectl with a discovery cache of its own (none left over from another sandbox)."""
    cache = f"--cache-dir={tmp_path / 'kube-cache'}"
    return lambda *args, **kwargs: kubectl(cache, *args, **kwargs)


def table_rows(text: str) -> list[dict[str, str]]:
    """kubectl's fixed-width table as dicts; columns are cut at the header's offsets, so
    empty cells (a resource without short names) stay empty."""
    header, *lines = text.rstrip("\n").splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    ends = [*starts[1:], None]
    return [
        {name: line[a:b].strip() for name, a, b in zip(names, starts, ends, strict=True)}
        for line in lines
        if line.strip()
    ]


def test_api_resources_wide_lists_the_short_names_kinds_and_verbs(kc: Run) -> None:
    rows = {row["NAME"]: row for row in table_rows(kc("api-resources", "-o", "wide").stdout)}

    for short, (plural, api_version, kind) in SHORT_NAMES.items():
        row = rows[plural]
        assert short in row["SHORTNAMES"].split(","), row
        assert (row["APIVERSION"], row["KIND"], row["NAMESPACED"]) == (api_version, kind, "true")
        assert {"get", "list", "watch", "patch"} <= set(row["VERBS"].split(",")), row
    assert rows["leases"]["APIVERSION"] == "coordination.k8s.io/v1"
    assert rows["leases"]["SHORTNAMES"] == ""
    assert rows["namespaces"]["NAMESPACED"] == "false"
    assert "all" in rows["deployments"]["CATEGORIES"].split(",")
    assert not any("/" in name for name in rows)  # subresources are not listed


def test_every_short_name_resolves_in_kubectl_get(kc: Run) -> None:
    got = kc("get", ",".join(SHORT_NAMES), "-n", "kube-system", "-o", "json", check=False)

    assert got.returncode == 0, got.stderr  # an unknown one: "doesn't have a resource type"
    assert json.loads(got.stdout) == {
        "apiVersion": "v1",
        "items": [],
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }


def test_get_events_and_leases_together(
    kc: Run, api_client: client.ApiClient, sandbox: Sandbox
) -> None:
    client.CoordinationV1Api(api_client).create_namespaced_lease(
        "default",
        {"metadata": {"name": "rollout-web"}, "spec": {"holderIdentity": "ci-42"}},
    )
    client.CoreV1Api(api_client).create_namespaced_event(
        "default",
        {
            "metadata": {"name": "web.1"},
            "involvedObject": {"kind": "Deployment", "name": "web", "namespace": "default"},
            "reason": "StepStarted",
            "message": "canary step 1 of 3",
            "type": "Normal",
        },
    )

    listed = json.loads(kc("get", "ev,lease", "-o", "json").stdout)["items"]
    table = kc("get", "ev,lease").stdout

    assert sorted((o["kind"], o["metadata"]["name"]) for o in listed) == [
        ("Event", "web.1"),
        ("Lease", "rollout-web"),
    ]
    assert "StepStarted" in table and "deployment/web" in table and "canary step 1 of 3" in table
    assert re.search(r"^lease\.coordination\.k8s\.io/rollout-web\s+ci-42\s", table, re.MULTILINE)


def test_core_api_versions_name_the_served_address(sandbox: Sandbox) -> None:
    doc = rawhttp.request(sandbox, "GET", "/api").json()

    assert (doc["kind"], doc["versions"]) == ("APIVersions", ["v1"])
    [address] = doc["serverAddressByClientCIDRs"]
    assert address["serverAddress"] == sandbox.url.removeprefix("http://")


def test_group_list_offers_istio_v1_preferred_over_v1beta1(sandbox: Sandbox) -> None:
    doc = rawhttp.request(sandbox, "GET", "/apis").json()

    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupList", "v1")
    groups = {g["name"]: g for g in doc["groups"]}
    assert {"apps", "coordination.k8s.io", "autoscaling", "discovery.k8s.io", ISTIO} <= set(groups)
    assert "" not in groups  # the core group is /api's
    istio = groups[ISTIO]
    assert [v["groupVersion"] for v in istio["versions"]] == [f"{ISTIO}/v1", f"{ISTIO}/v1beta1"]
    assert istio["preferredVersion"] == {"groupVersion": f"{ISTIO}/v1", "version": "v1"}
    assert groups["apps"]["preferredVersion"]["groupVersion"] == "apps/v1"


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_istio_resource_lists_serve_both_kinds_with_status_subresources(
    sandbox: Sandbox, version: str
) -> None:
    resp = rawhttp.request(sandbox, "GET", f"/apis/{ISTIO}/{version}")
    doc = resp.json()

    assert resp.status == 200 and resp.headers["content-type"].startswith("application/json")
    assert (doc["kind"], doc["groupVersion"]) == ("APIResourceList", f"{ISTIO}/{version}")
    resources = {r["name"]: r for r in doc["resources"]}
    assert set(resources) == {
        "virtualservices",
        "virtualservices/status",
        "destinationrules",
        "destinationrules/status",
    }
    vs, dr = resources["virtualservices"], resources["destinationrules"]
    assert (vs["kind"], vs["singularName"], vs["shortNames"]) == (
        "VirtualService",
        "virtualservice",
        ["vs"],
    )
    assert (dr["kind"], dr["singularName"], dr["shortNames"]) == (
        "DestinationRule",
        "destinationrule",
        ["dr"],
    )
    assert vs["namespaced"] and dr["namespaced"]
    assert {"create", "get", "list", "watch", "patch", "update", "delete"} <= set(vs["verbs"])
    assert sorted(resources["virtualservices/status"]["verbs"]) == ["get", "patch", "update"]


def test_core_and_apps_resource_lists_carry_short_names_and_the_scale_kind(
    sandbox: Sandbox,
) -> None:
    core = {r["name"]: r for r in rawhttp.request(sandbox, "GET", "/api/v1").json()["resources"]}
    apps = {
        r["name"]: r for r in rawhttp.request(sandbox, "GET", "/apis/apps/v1").json()["resources"]
    }

    for short, (plural, api_version, _) in SHORT_NAMES.items():
        listed = core if api_version == "v1" else apps if api_version == "apps/v1" else None
        if listed is not None:
            assert short in listed[plural]["shortNames"]
    scale = apps["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert "replicasets/scale" in apps and "replicasets/status" in apps


@pytest.mark.parametrize(
    "path", [f"/apis/{ISTIO}/v1alpha3", "/apis/nope.example.com/v1", "/apis/nope"]
)
def test_unserved_group_versions_are_404(sandbox: Sandbox, path: str) -> None:
    resp = rawhttp.request(sandbox, "GET", path)

    assert resp.status == 404
    assert resp.reason == "NotFound"
