"""rollout.sandbox.store.patch: strategic merge as kubectl and rollout send it, merge keys
per path, and the bodies it refuses."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.sandbox.store.patch import PatchError, strategic_merge
from tests.unit.sandbox.store.patch_objects import make_deployment, names, pod_spec

# --- strategic merge: the cases kubectl and rollout send -----------------------------


def test_strategic_merge_changes_only_the_named_containers_image() -> None:
    original = make_deployment()
    patched = strategic_merge(
        original, {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "v2"}]}}}}
    )
    expected = make_deployment()
    pod_spec(expected)["containers"][0]["image"] = "v2"
    assert patched == expected


def test_strategic_merge_accepts_kubectl_set_image_patch_with_element_order() -> None:
    body = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                    "containers": [{"image": "app:v2", "name": "app"}],
                }
            }
        }
    }
    containers = pod_spec(strategic_merge(make_deployment(), body))["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("app", "app:v2"),
        ("sidecar", "envoy:1"),
    ]
    assert containers[0]["env"] == pod_spec(make_deployment())["containers"][0]["env"]


def test_strategic_merge_never_mutates_its_inputs() -> None:
    original = make_deployment()
    body = {
        "spec": {
            "paused": None,
            "template": {"spec": {"containers": [{"name": "app", "env": [{"name": "C"}]}]}},
        }
    }
    before_original, before_body = copy.deepcopy(original), copy.deepcopy(body)
    patched = strategic_merge(original, body)
    pod_spec(patched)["containers"][0]["env"][0]["value"] = "changed"
    assert original == before_original
    assert body == before_body


def test_strategic_merge_null_deletes_a_key_like_rollout_resume() -> None:
    patched = strategic_merge(make_deployment(), {"spec": {"paused": None}})
    assert "paused" not in patched["spec"]
    assert patched["spec"]["replicas"] == 3


def test_strategic_merge_null_for_an_absent_key_adds_nothing() -> None:
    patched = strategic_merge(make_deployment(), {"spec": {"minReadySeconds": None}})
    assert "minReadySeconds" not in patched["spec"]


def test_strategic_merge_discards_nulls_inside_new_values() -> None:
    patched = strategic_merge(make_deployment(), {"spec": {"extra": {"a": None, "b": {"c": None}}}})
    assert patched["spec"]["extra"] == {"b": {}}


def test_strategic_merge_sets_scalars_like_rollout_pause_and_scale() -> None:
    patched = strategic_merge(make_deployment(), {"spec": {"paused": False, "replicas": 5}})
    assert (patched["spec"]["paused"], patched["spec"]["replicas"]) == (False, 5)


def test_strategic_merge_adds_restart_annotation_keeping_other_annotations() -> None:
    body = {
        "spec": {
            "template": {
                "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2024-01-01"}}
            }
        }
    }
    annotations = strategic_merge(make_deployment(), body)["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert annotations == {"team": "core", "kubectl.kubernetes.io/restartedAt": "2024-01-01"}


def test_strategic_merge_puts_new_list_items_first_without_element_order() -> None:
    body = {"spec": {"template": {"spec": {"containers": [{"name": "new", "image": "n:1"}]}}}}
    containers = pod_spec(strategic_merge(make_deployment(), body))["containers"]
    assert names(containers) == ["new", "app", "sidecar"]


def test_strategic_merge_keeps_live_order_for_items_it_merges() -> None:
    body = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "e:2"}]}}}}
    containers = pod_spec(strategic_merge(make_deployment(), body))["containers"]
    assert names(containers) == ["app", "sidecar"]


def test_strategic_merge_replaces_a_value_of_another_type() -> None:
    patched = strategic_merge(make_deployment(), {"spec": {"strategy": "Recreate"}})
    assert patched["spec"]["strategy"] == "Recreate"


def test_strategic_merge_uses_kind_argument_over_the_objects_kind() -> None:
    service = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    patched = strategic_merge(
        service, {"spec": {"ports": [{"port": 80, "name": "http"}]}}, kind="Service"
    )
    assert patched["spec"]["ports"] == [
        {"port": 80, "targetPort": 8080, "name": "http"},
        {"port": 443},
    ]


def test_strategic_merge_treats_a_null_body_as_an_empty_patch() -> None:
    assert strategic_merge(make_deployment(), None) == make_deployment()


# --- strategic merge: merge keys per path -------------------------------------------

MERGE_KEY_CASES = [
    # (kind, path to the list, merge key, live items, patch item)
    ("Deployment", "spec.template.spec.containers", "name", [{"name": "a", "x": 1}], {"name": "a"}),
    (
        "Deployment",
        "spec.template.spec.initContainers",
        "name",
        [{"name": "i", "x": 1}],
        {"name": "i"},
    ),
    ("Pod", "spec.ephemeralContainers", "name", [{"name": "dbg", "x": 1}], {"name": "dbg"}),
    ("Pod", "spec.volumes", "name", [{"name": "v", "x": 1}], {"name": "v"}),
    ("Pod", "spec.imagePullSecrets", "name", [{"name": "s", "x": 1}], {"name": "s"}),
    ("Pod", "spec.hostAliases", "ip", [{"ip": "1.2.3.4", "x": 1}], {"ip": "1.2.3.4"}),
    (
        "Pod",
        "spec.topologySpreadConstraints",
        "topologyKey",
        [{"topologyKey": "z", "x": 1}],
        {"topologyKey": "z"},
    ),
    ("Pod", "status.conditions", "type", [{"type": "Ready", "x": 1}], {"type": "Ready"}),
    (
        "ReplicaSet",
        "status.conditions",
        "type",
        [{"type": "ReplicaFailure", "x": 1}],
        {"type": "ReplicaFailure"},
    ),
    ("Service", "spec.ports", "port", [{"port": 80, "x": 1}], {"port": 80}),
    ("Service", "metadata.ownerReferences", "uid", [{"uid": "u1", "x": 1}], {"uid": "u1"}),
    ("Namespace", "status.conditions", "type", [{"type": "T", "x": 1}], {"type": "T"}),
    (
        "HorizontalPodAutoscaler",
        "status.conditions",
        "type",
        [{"type": "AbleToScale", "x": 1}],
        {"type": "AbleToScale"},
    ),
    ("Lease", "metadata.ownerReferences", "uid", [{"uid": "u1", "x": 1}], {"uid": "u1"}),
]


def nest(path: str, value: Any) -> dict[str, Any]:
    for part in reversed(path.split(".")):
        value = {part: value}
    return value


def dig(obj: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        obj = obj[part]
    return obj


@pytest.mark.parametrize(("kind", "path", "key", "live", "item"), MERGE_KEY_CASES)
def test_strategic_merge_merges_list_items_on_their_merge_key(
    kind: str, path: str, key: str, live: list[dict[str, Any]], item: dict[str, Any]
) -> None:
    original = {"kind": kind, **nest(path, live)}
    patched = strategic_merge(original, nest(path, [{**item, "y": 2}]))
    assert dig(patched, path) == [{**live[0], "y": 2}]


@pytest.mark.parametrize(
    ("field", "key", "live"),
    [
        ("env", "name", [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
        ("ports", "containerPort", [{"containerPort": 80}, {"containerPort": 9090}]),
        ("volumeMounts", "mountPath", [{"name": "cfg", "mountPath": "/etc/cfg"}]),
    ],
)
def test_strategic_merge_merges_container_lists_on_their_merge_key(
    field: str, key: str, live: list[dict[str, Any]]
) -> None:
    body = {"spec": {"template": {"spec": {"containers": [
        {"name": "app", field: [{key: live[0][key], "extra": "x"}]},
    ]}}}}  # fmt: skip
    merged = pod_spec(strategic_merge(make_deployment(), body))["containers"][0][field]
    assert merged == [{**live[0], "extra": "x"}, *live[1:]]


def test_strategic_merge_container_ports_merge_on_container_port_not_service_port() -> None:
    pod = {
        "kind": "Pod",
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "port": 1}]}]},
    }
    body = {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 81, "port": 1}]}]}}
    ports = strategic_merge(pod, body)["spec"]["containers"][0]["ports"]
    assert ports == [{"containerPort": 81, "port": 1}, {"containerPort": 80, "port": 1}]


def test_strategic_merge_replaces_lists_without_a_merge_key() -> None:
    body = {"spec": {"template": {"spec": {
        "tolerations": [{"key": "y", "operator": "Exists"}],
        "containers": [{"name": "app", "args": ["--c"]}],
    }}}}  # fmt: skip
    spec = pod_spec(strategic_merge(make_deployment(), body))
    assert spec["tolerations"] == [{"key": "y", "operator": "Exists"}]
    assert spec["containers"][0]["args"] == ["--c"]


def test_strategic_merge_replaces_endpoints_subsets() -> None:
    endpoints = {"kind": "Endpoints", "subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}
    patched = strategic_merge(endpoints, {"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]})
    assert patched["subsets"] == [{"addresses": [{"ip": "10.0.0.2"}]}]


def test_strategic_merge_unions_finalizers_with_new_ones_first() -> None:
    patched = strategic_merge(make_deployment(), {"metadata": {"finalizers": ["b", "c"]}})
    assert patched["metadata"]["finalizers"] == ["a", "b", "c"]
    patched = strategic_merge(make_deployment(), {"metadata": {"finalizers": ["c"]}})
    assert patched["metadata"]["finalizers"] == ["c", "a", "b"]


def test_strategic_merge_merges_maps_of_kinds_without_a_schema() -> None:
    config = {"kind": "ConfigMap", "data": {"a": "1", "b": "2"}, "metadata": {"finalizers": ["x"]}}
    patched = strategic_merge(
        config, {"data": {"b": None, "c": "3"}, "metadata": {"finalizers": ["y"]}}
    )
    assert patched == {
        "kind": "ConfigMap",
        "data": {"a": "1", "c": "3"},
        "metadata": {"finalizers": ["y", "x"]},
    }


# --- strategic merge: invalid bodies -------------------------------------------------


@pytest.mark.parametrize(("body", "json_type"), [([1], "array"), ("x", "string"), (3, "number")])
def test_strategic_merge_rejects_a_body_that_is_not_an_object_with_400(
    body: Any, json_type: str
) -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge(make_deployment(), body)
    assert err.value.code == 400
    assert err.value.reason == "BadRequest"
    assert f"cannot unmarshal {json_type}" in err.value.message


def test_strategic_merge_rejects_list_items_without_the_merge_key() -> None:
    body = {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}
    with pytest.raises(PatchError) as err:
        strategic_merge(make_deployment(), body)
    assert err.value.code == 500
    assert err.value.message == "map: map[image:x] does not contain declared merge key: name"


def test_strategic_merge_rejects_lists_of_lists_with_422() -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge(make_deployment(), {"metadata": {"finalizers": [["x"]]}})
    assert (err.value.code, err.value.reason) == (422, "Invalid")


def test_strategic_merge_rejects_mixed_element_types() -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge(make_deployment(), {"metadata": {"finalizers": [1]}})
    assert err.value.code == 500
    assert "list element types are not identical" in err.value.message


def test_strategic_merge_drops_unknown_dollar_keys() -> None:
    patched = strategic_merge(make_deployment(), {"spec": {"$unknown": 1, "replicas": 2}})
    assert "$unknown" not in patched["spec"]
    assert patched["spec"]["replicas"] == 2
