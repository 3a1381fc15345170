"""json_copy: a deep copy of JSON documents, as `copy.deepcopy` makes it, only faster."""

from __future__ import annotations

import collections
import copy

from rollout.sandbox.store.copying import json_copy
from tests.factories import make_deployment


def test_copy_is_equal_and_shares_no_dict_or_list() -> None:
    original = make_deployment(sidecar="proxy:1")
    original["status"] = {"conditions": [{"type": "Available", "status": "True"}], "x": None}

    copied = json_copy(original)

    assert copied == original == copy.deepcopy(original)
    copied["spec"]["template"]["spec"]["containers"][0]["image"] = "changed"
    copied["status"]["conditions"].append({})
    copied["metadata"]["labels"]["new"] = "label"
    assert original == make_deployment(sidecar="proxy:1") | {"status": original["status"]}
    assert original["status"]["conditions"] == [{"type": "Available", "status": "True"}]


def test_nested_lists_and_scalars_copy_as_they_are() -> None:
    original = {"a": [[1, 2.5], [True, None, "s"]], "b": []}
    copied = json_copy(original)
    assert copied == original
    assert copied["a"][0] is not original["a"][0]


def test_values_of_other_types_are_deep_copied_like_deepcopy_does() -> None:
    inner = {"k": [1]}
    original = {"t": (inner,), "o": collections.OrderedDict(x=[1])}

    copied = json_copy(original)

    assert copied == original
    assert copied["t"][0] is not inner
    assert type(copied["o"]) is collections.OrderedDict
    assert copied["o"]["x"] is not original["o"]["x"]
    assert json_copy("text") == "text" and json_copy(None) is None
