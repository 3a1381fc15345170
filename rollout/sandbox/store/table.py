"""The store's object table: every stored object by kind, namespace and name.

Namespaces are buckets of their own, so a namespaced list scans one namespace, and a
list sorts only what its selectors matched. Not thread-safe: the Store calls it under
its lock. Pure in-memory; objects are stored as given, never copied or mutated.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from rollout.sandbox.store.selectors import FieldSelector, LabelSelector

Obj = dict[str, Any]


class Table:
    """kind key -> namespace ("" when cluster-scoped) -> name -> object."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._kinds: dict[str, dict[str, dict[str, Obj]]] = {key: {} for key in keys}

    def get(self, key: str, namespace: str, name: str) -> Obj | None:
        """The object stored under this kind, namespace and name, or None."""
        bucket = self._kinds[key].get(namespace)
        return bucket.get(name) if bucket is not None else None

    def put(self, key: str, obj: Obj) -> None:
        """Store `obj` under its metadata's namespace and name (replacing any there)."""
        meta = obj["metadata"]
        self._kinds[key].setdefault(meta.get("namespace", ""), {})[meta["name"]] = obj

    def pop(self, key: str, obj: Obj) -> None:
        """Remove the object stored under `obj`'s namespace and name."""
        meta = obj["metadata"]
        buckets, namespace = self._kinds[key], meta.get("namespace", "")
        del buckets[namespace][meta["name"]]
        if not buckets[namespace]:
            del buckets[namespace]

    def select(
        self,
        key: str,
        namespace: str | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
    ) -> list[Obj]:
        """Objects matching both selectors (None: any), sorted by namespace, then name.

        `namespace` None lists every namespace; "" lists cluster-scoped objects."""
        buckets = self._kinds[key]
        if namespace is None:
            spaces = [buckets[ns] for ns in sorted(buckets)]
        else:
            spaces = [buckets[namespace]] if namespace in buckets else []
        named = fields.exact("metadata.name") if fields is not None else None
        items: list[Obj] = []
        for bucket in spaces:
            candidates = bucket.values() if named is None else _only(bucket.get(named))
            matched = [
                obj
                for obj in candidates
                if (labels is None or labels.matches(obj["metadata"].get("labels") or {}))
                and (fields is None or fields.matches(obj))
            ]
            matched.sort(key=_name)
            items += matched
        return items

    def every(self) -> Iterator[tuple[str, Obj]]:
        """(kind key, object) for every stored object (a snapshot: safe to write while
        iterating)."""
        snapshot = [
            (key, obj)
            for key, buckets in self._kinds.items()
            for bucket in buckets.values()
            for obj in bucket.values()
        ]
        return iter(snapshot)


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def _only(obj: Obj | None) -> list[Obj]:
    return [obj] if obj is not None else []
