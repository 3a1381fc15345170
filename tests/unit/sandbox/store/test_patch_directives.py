"""rollout.sandbox.store.patch: strategic merge directives ($patch, $retainKeys,
$setElementOrder, $deleteFromPrimitiveList)."""

from __future__ import annotations

from typing import Any

import pytest

from rollout.sandbox.store.patch import PatchError, strategic_merge
from tests.unit.sandbox.store.patch_objects import make_deployment, names, pod_spec

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


def test_strategic_merge_rejects_a_null_patch_directive() -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge(make_deployment(), {"spec": {"strategy": {"$patch": None}}})
    assert (err.value.code, err.value.message) == (
        500,
        "unknown patch type: <nil> in map: map[$patch:<nil>]",
    )


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
