"""The object table under the store: selection by namespace and selectors, in order."""

from __future__ import annotations

from typing import Any

from rollout.sandbox.store.selectors import parse_field_selector, parse_label_selector
from rollout.sandbox.store.table import Table

Obj = dict[str, Any]


def obj(namespace: str, name: str, **labels: str) -> Obj:
    return {"metadata": {"namespace": namespace, "name": name, "labels": labels}}


def names(items: list[Obj]) -> list[str]:
    return [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in items]


def filled() -> Table:
    table = Table(["pods", "namespaces"])
    for ns, name, app in [
        ("b", "z", "web"),
        ("a", "y", "db"),
        ("b", "a", "web"),
        ("a", "x", "web"),
    ]:
        table.put("pods", obj(ns, name, app=app))
    return table


def test_select_sorts_by_namespace_then_name_whatever_the_insertion_order() -> None:
    table = filled()
    assert names(table.select("pods", None, None, None)) == ["a/x", "a/y", "b/a", "b/z"]
    assert names(table.select("pods", "b", None, None)) == ["b/a", "b/z"]
    assert table.select("pods", "c", None, None) == []


def test_select_filters_by_labels_and_fields() -> None:
    table = filled()
    web = parse_label_selector("app=web")
    assert names(table.select("pods", None, web, None)) == ["a/x", "b/a", "b/z"]
    by_name = parse_field_selector("metadata.name=a")
    assert names(table.select("pods", None, None, by_name)) == ["b/a"]
    both = parse_field_selector("metadata.name=a,metadata.namespace!=b")
    assert table.select("pods", None, None, both) == []


def test_pop_and_replace_keep_one_object_per_name() -> None:
    table = filled()
    table.put("pods", obj("b", "a", app="db"))
    table.pop("pods", obj("a", "x"))
    table.pop("pods", obj("a", "y"))
    assert names(table.select("pods", None, None, None)) == ["b/a", "b/z"]
    assert table.get("pods", "b", "a") == obj("b", "a", app="db")
    assert table.get("pods", "a", "x") is None


def test_every_is_a_snapshot_safe_to_write_through() -> None:
    table = filled()
    table.put("namespaces", {"metadata": {"name": "a"}})
    seen = []
    for key, item in table.every():
        table.pop(key, item)
        seen.append(key)
    assert sorted(seen) == ["namespaces"] + ["pods"] * 4
    assert table.select("pods", None, None, None) == []
    assert table.select("namespaces", "", None, None) == []
