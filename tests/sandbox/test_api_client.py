"""The official `kubernetes` client against the sandbox: CRUD for every kind, list selectors,
generation and immutable metadata, and CustomObjectsApi on Istio kinds at each version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client

from rollout.sandbox import Sandbox
from tests.factories import make_deployment, make_destination_rule, make_virtual_service
from tests.sandbox import rawhttp

Obj = dict[str, Any]
ISTIO = "networking.istio.io"
TELEMETRY = "telemetry.istio.io"


@dataclass(frozen=True)
class Case:
    """One kind as the typed client exposes it: `<verb>_namespaced_<snake>` on `api`."""

    api: type
    snake: str
    body: Callable[[str], Obj]
    change: Obj  # a merge of this into the body is a visible, valid replace
    namespaced: bool = True

    def call(
        self, api_client: client.ApiClient, verb: str, *args: Any, suffix: str = "", **kw: Any
    ) -> Any:
        """Call `<verb>_[namespaced_]<snake><suffix>` on this kind's API."""
        scope = "namespaced_" if self.namespaced else ""
        method = getattr(self.api(api_client), f"{verb}_{scope}{self.snake}{suffix}")
        return method(*args, **kw)


def _meta(name: str, **extra: Any) -> Obj:
    return {"name": name, "labels": {"tier": "test"}, **extra}


def _tiered(body: Obj) -> Obj:
    body["metadata"]["labels"]["tier"] = "test"
    return body


def _pod(name: str) -> Obj:
    return {"metadata": _meta(name), "spec": {"containers": [{"name": "app", "image": "app:v1"}]}}


def _rule(resource: str) -> Obj:
    return {"apiGroups": [""], "resources": [resource], "verbs": ["get", "list"]}


def _role_ref(kind: str, name: str) -> Obj:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}


CASES = [
    Case(
        client.CoreV1Api,
        "namespace",
        lambda n: {"metadata": _meta(n)},
        {"metadata": {"annotations": {"a": "1"}}},
        namespaced=False,
    ),
    Case(
        client.AppsV1Api,
        "deployment",
        lambda n: _tiered(make_deployment(n, replicas=0)),
        {"spec": {"paused": True}},
    ),
    Case(
        client.AppsV1Api,
        "replica_set",
        lambda n: _tiered({k: v for k, v in make_deployment(n, replicas=0).items() if k != "kind"}),
        {"spec": {"minReadySeconds": 5}},
    ),
    Case(client.CoreV1Api, "pod", _pod, {"metadata": {"annotations": {"a": "1"}}}),
    Case(
        client.CoreV1Api,
        "service",
        lambda n: {"metadata": _meta(n), "spec": {"selector": {"app": n}, "ports": [{"port": 80}]}},
        {"spec": {"selector": {"app": "other"}}},
    ),
    Case(
        client.CoreV1Api,
        "endpoints",
        lambda n: {
            "metadata": _meta(n),
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}],
        },
        {"subsets": [{"addresses": [{"ip": "10.0.0.2"}], "ports": [{"port": 80}]}]},
    ),
    Case(
        client.CoreV1Api,
        "event",
        lambda n: {
            "metadata": _meta(n),
            "involvedObject": {"kind": "Pod", "name": "p"},
            "reason": "Tested",
            "message": "hello",
            "type": "Normal",
        },
        {"message": "changed"},
    ),
    Case(
        client.CoordinationV1Api,
        "lease",
        lambda n: {
            "metadata": _meta(n),
            "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15},
        },
        {"spec": {"holderIdentity": "you"}},
    ),
    Case(
        client.CoreV1Api,
        "config_map",
        lambda n: {"metadata": _meta(n), "data": {"k": "v"}},
        {"data": {"k": "changed"}},
    ),
    Case(
        client.CoreV1Api,
        "secret",
        lambda n: {"metadata": _meta(n), "data": {"k": "dg=="}},
        {"data": {"k": "Yw=="}},
    ),
    Case(
        client.AutoscalingV2Api,
        "horizontal_pod_autoscaler",
        lambda n: {
            "metadata": _meta(n),
            "spec": {
                "maxReplicas": 3,
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            },
        },
        {"spec": {"maxReplicas": 5}},
    ),
    Case(
        client.CoreV1Api,
        "service_account",
        lambda n: {"metadata": _meta(n), "automountServiceAccountToken": False},
        {"imagePullSecrets": [{"name": "registry"}]},
    ),
    Case(
        client.RbacAuthorizationV1Api,
        "role",
        lambda n: {"metadata": _meta(n), "rules": [_rule("pods")]},
        {"rules": [_rule("services")]},
    ),
    Case(
        client.RbacAuthorizationV1Api,
        "role_binding",
        lambda n: {"metadata": _meta(n), "roleRef": _role_ref("Role", n), "subjects": []},
        {"subjects": [{"kind": "ServiceAccount", "name": "app"}]},
    ),
    Case(
        client.RbacAuthorizationV1Api,
        "cluster_role",
        lambda n: {"metadata": _meta(n), "rules": [_rule("pods")]},
        {"rules": [_rule("nodes")]},
        namespaced=False,
    ),
    Case(
        client.RbacAuthorizationV1Api,
        "cluster_role_binding",
        lambda n: {"metadata": _meta(n), "roleRef": _role_ref("ClusterRole", n), "subjects": []},
        {"subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "default"}]},
        namespaced=False,
    ),
]


def _merged(base: Obj, change: Obj) -> Obj:
    out = dict(base)
    for key, value in change.items():
        out[key] = _merged(base.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def _subset(want: Obj, have: Obj) -> bool:
    return all(
        _subset(v, have.get(k) or {}) if isinstance(v, dict) else have.get(k) == v
        for k, v in want.items()
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.snake)
def test_every_builtin_kind_supports_create_read_list_replace_patch_delete(
    case: Case, api_client: client.ApiClient, namespace: str
) -> None:
    ns_args: tuple[str, ...] = (namespace,) if case.namespaced else ()
    name = f"{namespace}-crud" if not case.namespaced else "crud"
    created, code, _ = case.call(
        api_client, "create", *ns_args, case.body(name), suffix="_with_http_info"
    )
    assert code == 201
    assert created.metadata.uid and created.metadata.resource_version

    read = case.call(api_client, "read", name, *ns_args)
    assert read.metadata.uid == created.metadata.uid

    listed = case.call(api_client, "list", *ns_args, label_selector="tier=test")
    assert name in [o.metadata.name for o in listed.items]

    raw = api_client.sanitize_for_serialization(read)
    del raw["metadata"]["resourceVersion"]  # unconditional: controllers may write meanwhile
    replaced = case.call(api_client, "replace", name, *ns_args, _merged(raw, case.change))
    assert _subset(case.change, api_client.sanitize_for_serialization(replaced))
    assert int(replaced.metadata.resource_version) > int(read.metadata.resource_version)

    patched = case.call(
        api_client, "patch", name, *ns_args, {"metadata": {"labels": {"patched": "yes"}}}
    )
    assert patched.metadata.labels == {**(read.metadata.labels or {}), "patched": "yes"}

    case.call(api_client, "delete", name, *ns_args)
    if case.snake != "namespace":  # a namespace is Terminating until emptied
        with pytest.raises(client.ApiException) as gone:
            case.call(api_client, "read", name, *ns_args)
        assert gone.value.status == 404


@pytest.fixture
def labelled(core: client.CoreV1Api, namespace: str) -> str:
    """Config maps a (app=web, track=stable), b (app=web, track=canary), c (app=db), d (none)."""
    for name, labels in (
        ("a", {"app": "web", "track": "stable"}),
        ("b", {"app": "web", "track": "canary"}),
        ("c", {"app": "db"}),
        ("d", {}),
    ):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})
    return namespace


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["a", "b"]),
        ("app==web", ["a", "b"]),
        ("app!=web", ["c", "d"]),
        ("app in (web,db)", ["a", "b", "c"]),
        ("app notin (web)", ["c", "d"]),
        ("track", ["a", "b"]),
        ("!track", ["c", "d"]),
        ("app=web,track!=canary", ["a"]),
        ("app in (web), !track", []),
    ],
)
def test_list_filters_by_each_label_selector_form(
    core: client.CoreV1Api, labelled: str, selector: str, expected: list[str]
) -> None:
    items = core.list_namespaced_config_map(labelled, label_selector=selector).items
    assert [o.metadata.name for o in items] == expected


def test_list_filters_by_metadata_name_and_namespace_field_selectors(
    core: client.CoreV1Api, labelled: str
) -> None:
    by_name = core.list_namespaced_config_map(labelled, field_selector="metadata.name=b")
    assert [o.metadata.name for o in by_name.items] == ["b"]
    not_name = core.list_namespaced_config_map(labelled, field_selector="metadata.name!=b")
    assert [o.metadata.name for o in not_name.items] == ["a", "c", "d"]
    everywhere = core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.namespace={labelled}", label_selector="app"
    )
    assert {(o.metadata.namespace, o.metadata.name) for o in everywhere.items} == {
        (labelled, "a"),
        (labelled, "b"),
        (labelled, "c"),
    }


def test_list_carries_the_kind_and_a_resource_version_to_watch_from(
    sandbox: Sandbox, labelled: str
) -> None:
    raw = rawhttp.request(sandbox, "GET", f"/api/v1/namespaces/{labelled}/configmaps").json()
    assert raw["kind"] == "ConfigMapList" and raw["apiVersion"] == "v1"
    assert int(raw["metadata"]["resourceVersion"]) >= max(
        int(o["metadata"]["resourceVersion"]) for o in raw["items"]
    )


def _telemetry() -> Obj:
    return {
        "apiVersion": f"{TELEMETRY}/v1alpha1",
        "kind": "Telemetry",
        "metadata": {"name": "web"},
        "spec": {"metrics": [{"providers": [{"name": "prometheus"}]}]},
    }


CUSTOM_CASES = [
    *((ISTIO, v, "virtualservices", make_virtual_service) for v in ("v1beta1", "v1")),
    *((ISTIO, v, "destinationrules", make_destination_rule) for v in ("v1beta1", "v1")),
    *((TELEMETRY, v, "telemetries", _telemetry) for v in ("v1alpha1", "v1")),
]


@pytest.mark.parametrize(
    ("group", "version", "plural", "build"),
    [pytest.param(*case, id=f"{case[2]}-{case[1]}") for case in CUSTOM_CASES],
)
def test_custom_objects_api_crud_on_istio_kinds_at_each_version(
    custom: client.CustomObjectsApi,
    namespace: str,
    group: str,
    version: str,
    plural: str,
    build: Callable[..., Obj],
) -> None:
    body = build()
    body["apiVersion"] = f"{group}/{version}"
    made = custom.create_namespaced_custom_object(group, version, namespace, plural, body)
    assert made["apiVersion"] == f"{group}/{version}" and made["metadata"]["uid"]
    args = (group, version, namespace, plural, "web")
    assert custom.get_namespaced_custom_object(*args)["metadata"]["uid"] == made["metadata"]["uid"]
    listed = custom.list_namespaced_custom_object(group, version, namespace, plural)
    assert [o["metadata"]["name"] for o in listed["items"]] == ["web"]
    assert listed["apiVersion"] == f"{group}/{version}"
    patched = custom.patch_namespaced_custom_object(*args, {"metadata": {"labels": {"p": "1"}}})
    assert patched["metadata"]["labels"] == {"p": "1"}
    # a field of each kind's spec: networking's exportTo, Telemetry's workload selector
    field, value = ("exportTo", ["."]) if group == ISTIO else ("selector", {"matchLabels": {}})
    patched["spec"][field] = value
    replaced = custom.replace_namespaced_custom_object(*args, patched)
    assert replaced["spec"][field] == value
    custom.delete_namespaced_custom_object(*args)
    with pytest.raises(client.ApiException) as gone:
        custom.get_namespaced_custom_object(*args)
    assert gone.value.status == 404


def test_custom_object_written_at_v1beta1_reads_back_at_v1(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    custom.create_namespaced_custom_object(
        ISTIO, "v1beta1", namespace, "virtualservices", make_virtual_service()
    )
    got = custom.get_namespaced_custom_object(ISTIO, "v1", namespace, "virtualservices", "web")
    assert got["apiVersion"] == f"{ISTIO}/v1"
    assert got["spec"]["hosts"] == ["web"]


def test_sandbox_fixture_is_reachable_over_http(
    sandbox: Sandbox, api_client: client.ApiClient
) -> None:
    assert api_client.configuration.host == sandbox.url
    version = client.VersionApi(api_client).get_code()
    assert version.major == "1"
