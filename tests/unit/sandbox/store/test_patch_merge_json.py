"""rollout.sandbox.store.patch: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and
PatchError."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.sandbox.store import patch
from rollout.sandbox.store.patch import PatchError, json_patch, merge_patch
from tests.unit.sandbox.store.patch_objects import make_deployment, pod_spec

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
