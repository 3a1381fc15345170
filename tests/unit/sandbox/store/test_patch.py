"""Unit tests for rollout.sandbox.store.patch: strategic merge, merge and JSON patches."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.sandbox.store import patch
from rollout.sandbox.store.patch import PatchError, json_patch, merge_patch, strategic_merge


def make_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web"},
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "finalizers": ["a", "b"],
        },
        "spec": {
            "replicas": 3,
            "paused": True,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"team": "core"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:v1",
                            "args": ["--a", "--b"],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80}, {"containerPort": 9090}],
                            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}],
                        },
                        {"name": "sidecar", "image": "envoy:1"},
                    ],
                    "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
                    "tolerations": [{"key": "x", "operator": "Exists"}],
                },
            },
        },
        "status": {"conditions": [{"type": "Available", "status": "True"}]},
    }


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def names(items: list[dict[str, Any]]) -> list[str]:
    return [i["name"] for i in items]


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


# --- strategic merge: directives -----------------------------------------------------


def test_strategic_merge_patch_replace_in_a_map_replaces_the_whole_map() -> None:
    body = {"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}}
    assert strategic_merge(make_deployment(), body)["spec"]["strategy"] == {"type": "Recreate"}


def test_strategic_merge_patch_delete_in_a_map_empties_it() -> None:
    body = {"spec": {"template": {"metadata": {"annotations": {"$patch": "delete"}}}}}
    patched = strategic_merge(make_deployment(), body)
    assert patched["spec"]["template"]["metadata"]["annotations"] == {}


def test_strategic_merge_patch_delete_list_element_removes_the_matching_item() -> None:
    body = {
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}
    }
    assert names(pod_spec(strategic_merge(make_deployment(), body))["containers"]) == ["app"]


def test_strategic_merge_patch_replace_list_element_replaces_the_list() -> None:
    body = {"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "only", "image": "o:1"},
    ]}}}}  # fmt: skip
    containers = pod_spec(strategic_merge(make_deployment(), body))["containers"]
    assert containers == [{"name": "only", "image": "o:1"}]


def test_strategic_merge_drops_directive_items_from_a_list_that_did_not_exist() -> None:
    body = {"spec": {"template": {"spec": {"initContainers": [
        {"name": "gone", "$patch": "delete"}, {"name": "init", "image": "i:1"},
    ]}}}}  # fmt: skip
    spec = pod_spec(strategic_merge(make_deployment(), body))
    assert spec["initContainers"] == [{"name": "init", "image": "i:1"}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"spec": {"strategy": {"$patch": "merge", "type": "Recreate"}}},
            "unknown patch type: merge in map: map[$patch:merge type:Recreate]",
        ),
        (
            {"spec": {"template": {"spec": {"containers": [{"$patch": "merge"}]}}}},
            "merging lists cannot yet be specified in the patch",
        ),
        (
            {"spec": {"strategy": {"$patch": "bogus"}}},
            "unknown patch type: bogus in map: map[$patch:bogus]",
        ),
        (
            {"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "bogus"}]}}}},
            "unknown patch type: bogus in map: map[$patch:bogus name:a]",
        ),
    ],
)
def test_strategic_merge_rejects_merge_and_unknown_patch_directives_like_upstream(
    body: Any, message: str
) -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge(make_deployment(), body)
    assert (err.value.code, err.value.message) == (500, message)


def test_strategic_merge_retain_keys_clears_keys_not_listed() -> None:
    body = {
        "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}
    }
    assert strategic_merge(make_deployment(), body)["spec"]["strategy"] == {"type": "Recreate"}


def test_strategic_merge_retain_keys_keeps_listed_live_keys() -> None:
    body = {
        "spec": {"strategy": {"$retainKeys": ["type", "rollingUpdate"], "type": "RollingUpdate"}}
    }
    strategy = strategic_merge(make_deployment(), body)["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}


@pytest.mark.parametrize(
    "strategy",
    [{"$retainKeys": ["type"], "type": "Recreate", "other": 1}, {"$retainKeys": "type"}],
)
def test_strategic_merge_rejects_bad_retain_keys_with_400(strategy: dict[str, Any]) -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge(make_deployment(), {"spec": {"strategy": strategy}})
    assert (err.value.code, err.value.message) == (400, "invalid patch format of retainKeys")


def test_strategic_merge_set_element_order_reorders_a_live_list() -> None:
    body = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
    }}}}  # fmt: skip
    assert names(pod_spec(strategic_merge(make_deployment(), body))["containers"]) == [
        "sidecar",
        "app",
    ]


def test_strategic_merge_set_element_order_places_new_items_where_listed() -> None:
    body = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "new"}, {"name": "sidecar"}],
        "containers": [{"name": "new", "image": "n:1"}],
    }}}}  # fmt: skip
    containers = pod_spec(strategic_merge(make_deployment(), body))["containers"]
    assert names(containers) == ["app", "new", "sidecar"]


def test_strategic_merge_set_element_order_for_a_list_the_object_lacks() -> None:
    body = {"spec": {"template": {"spec": {
        "$setElementOrder/initContainers": [{"name": "i1"}, {"name": "i2"}],
        "initContainers": [{"name": "i1"}, {"name": "i2"}],
    }}}}  # fmt: skip
    assert names(pod_spec(strategic_merge(make_deployment(), body))["initContainers"]) == [
        "i1",
        "i2",
    ]


def test_strategic_merge_set_element_order_orders_primitive_lists() -> None:
    body = {"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]}}
    assert strategic_merge(make_deployment(), body)["metadata"]["finalizers"] == ["b", "c", "a"]


def test_strategic_merge_rejects_patch_items_missing_from_element_order() -> None:
    body = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}],
        "containers": [{"name": "app", "image": "x"}],
    }}}}  # fmt: skip
    with pytest.raises(PatchError) as err:
        strategic_merge(make_deployment(), body)
    assert err.value.code == 500
    assert "doesn't match $setElementOrder list" in err.value.message


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ({"$setElementOrder/finalizers": "a"}, 500),
        ({"$setElementOrderfinalizers": ["a"]}, 400),
    ],
)
def test_strategic_merge_rejects_malformed_set_element_order(
    metadata: dict[str, Any], code: int
) -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge(make_deployment(), {"metadata": metadata})
    assert err.value.code == code


def test_strategic_merge_delete_from_primitive_list_removes_values() -> None:
    body = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}}
    assert strategic_merge(make_deployment(), body)["metadata"]["finalizers"] == ["b"]


def test_strategic_merge_delete_from_primitive_list_combines_with_additions() -> None:
    body = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"]}}
    assert strategic_merge(make_deployment(), body)["metadata"]["finalizers"] == ["c", "b"]


def test_strategic_merge_delete_from_primitive_list_of_a_missing_list_is_a_no_op() -> None:
    body = {"spec": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    assert "finalizers" not in strategic_merge(make_deployment(), body)["spec"]


def test_strategic_merge_rejects_delete_from_primitive_list_without_a_field() -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge(make_deployment(), {"metadata": {"$deleteFromPrimitiveList": ["a"]}})
    assert (err.value.code, err.value.message) == (400, "invalid patch format of primitive list")


def test_strategic_merge_applies_a_kubectl_apply_style_patch() -> None:
    body = {
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
            "labels": {"tier": "web"},
        },
        "spec": {
            "replicas": 4,
            "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None},
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "B"}],
                            "name": "app",
                            "env": [{"name": "A", "$patch": "delete"}],
                            "image": "app:v3",
                        },
                        {"name": "sidecar", "$patch": "delete"},
                    ],
                    "volumes": None,
                }
            },
        },
    }
    patched = strategic_merge(make_deployment(), body)
    spec = pod_spec(patched)
    assert patched["metadata"]["labels"] == {"app": "web", "tier": "web"}
    assert patched["spec"]["strategy"] == {"type": "Recreate"}
    assert names(spec["containers"]) == ["app"]
    assert spec["containers"][0]["env"] == [{"name": "B", "value": "2"}]
    assert spec["containers"][0]["image"] == "app:v3"
    assert "volumes" not in spec


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


# --- merge patch (RFC 7386) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "body", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
        ({"a": "b"}, {}, {"a": "b"}),
    ],
)
def test_merge_patch_follows_rfc_7386(
    original: dict[str, Any], body: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert merge_patch(original, body) == expected


def test_merge_patch_applies_kubectl_label_and_annotate_patches() -> None:
    body = {"metadata": {"labels": {"tier": "web", "app": None}, "annotations": {"n": "1"}}}
    metadata = merge_patch(make_deployment(), body)["metadata"]
    assert metadata["labels"] == {"tier": "web"}
    assert metadata["annotations"] == {"deployment.kubernetes.io/revision": "1", "n": "1"}


def test_merge_patch_replaces_lists_rather_than_merging_them() -> None:
    body = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "v2"}]}}}}
    containers = pod_spec(merge_patch(make_deployment(), body))["containers"]
    assert containers == [{"name": "app", "image": "v2"}]


def test_merge_patch_never_mutates_its_inputs() -> None:
    original, body = make_deployment(), {"spec": {"replicas": None, "new": {"a": [1]}}}
    before_original, before_body = copy.deepcopy(original), copy.deepcopy(body)
    patched = merge_patch(original, body)
    patched["spec"]["new"]["a"].append(2)
    assert (original, body) == (before_original, before_body)


@pytest.mark.parametrize("body", [[{"a": 1}], "x", None, 1])
def test_merge_patch_rejects_a_body_that_is_not_an_object_with_400(body: Any) -> None:
    with pytest.raises(PatchError) as err:
        merge_patch({"a": 1}, body)
    assert (err.value.code, err.value.message) == (400, "Invalid JSON Patch")


# --- JSON patch (RFC 6902) -----------------------------------------------------------


def test_json_patch_applies_every_operation() -> None:
    ops = [
        {"op": "add", "path": "/b", "value": {"c": [1]}},
        {"op": "add", "path": "/b/c/-", "value": 2},
        {"op": "replace", "path": "/a", "value": 10},
        {"op": "copy", "from": "/a", "path": "/d"},
        {"op": "move", "from": "/d", "path": "/e"},
        {"op": "remove", "path": "/x"},
        {"op": "test", "path": "/e", "value": 10},
    ]
    assert json_patch({"a": 1, "x": 0}, ops) == {"a": 10, "b": {"c": [1, 2]}, "e": 10}


def test_json_patch_applies_kubectl_rollout_undo_patch() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app"}]}}
    ops = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": {"k": "v"}},
    ]
    patched = json_patch(make_deployment(), ops)
    assert patched["spec"]["template"] == template
    assert patched["metadata"]["annotations"] == {"k": "v"}


def test_json_patch_never_mutates_its_inputs_or_aliases_values() -> None:
    original = {"a": {"b": 1}}
    ops = [{"op": "add", "path": "/c", "value": {"d": [1]}}]
    before_original, before_ops = copy.deepcopy(original), copy.deepcopy(ops)
    patched = json_patch(original, ops)
    patched["c"]["d"].append(2)
    assert (original, ops) == (before_original, before_ops)


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/a", "value": 2}],
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "add", "path": "/no/parent", "value": 1}],
        [{"op": "add", "path": "a", "value": 1}],
        [{"op": "bogus", "path": "/a"}],
        [{"path": "/a"}],
        [{"op": "add", "path": "/b"}],
        [{"op": "move", "from": "/missing", "path": "/b"}],
        [{"op": "replace", "path": "", "value": [1]}],
    ],
)
def test_json_patch_rejects_operations_that_do_not_apply_with_422(ops: list[Any]) -> None:
    with pytest.raises(PatchError) as err:
        json_patch({"a": 1}, ops)
    assert (err.value.code, err.value.reason) == (422, "Invalid")
    assert err.value.message == patch.INVALID_MESSAGE
    assert err.value.detail


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ({"op": "add"}, "cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("x", "cannot unmarshal string into Go value of type jsonpatch.Patch"),
        ([1], "cannot unmarshal number into Go value of type jsonpatch.Operation"),
    ],
)
def test_json_patch_rejects_a_body_of_the_wrong_json_type_with_400(ops: Any, message: str) -> None:
    with pytest.raises(PatchError) as err:
        json_patch({"a": 1}, ops)
    assert err.value.code == 400
    assert message in err.value.message


def test_json_patch_rejects_too_many_operations_with_413() -> None:
    ops = [{"op": "test", "path": "/a", "value": 1}] * (patch.MAX_JSON_PATCH_OPERATIONS + 1)
    with pytest.raises(PatchError) as err:
        json_patch({"a": 1}, ops)
    assert (err.value.code, err.value.reason) == (413, "RequestEntityTooLarge")


def test_patch_error_str_is_the_message_and_500_has_no_reason() -> None:
    err = PatchError("boom", 500)
    assert (str(err), err.code, err.reason, err.detail) == ("boom", 500, "", "boom")


def test_strategic_merge_rejects_a_null_patch_directive() -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge(make_deployment(), {"spec": {"strategy": {"$patch": None}}})
    assert (err.value.code, err.value.message) == (
        500,
        "unknown patch type: <nil> in map: map[$patch:<nil>]",
    )


def test_strategic_merge_drops_unknown_dollar_keys() -> None:
    patched = strategic_merge(make_deployment(), {"spec": {"$unknown": 1, "replicas": 2}})
    assert "$unknown" not in patched["spec"]
    assert patched["spec"]["replicas"] == 2


def test_strategic_merge_delete_from_primitive_list_also_prunes_non_merge_lists() -> None:
    body = {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "$deleteFromPrimitiveList/args": ["--a"]},
    ]}}}}  # fmt: skip
    assert pod_spec(strategic_merge(make_deployment(), body))["containers"][0]["args"] == ["--b"]


def test_strategic_merge_rejects_element_order_items_without_the_merge_key() -> None:
    body = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"image": "x"}]}}}}
    with pytest.raises(PatchError) as err:
        strategic_merge(make_deployment(), body)
    assert err.value.code == 500
    assert "does not contain declared merge key: name" in err.value.message
