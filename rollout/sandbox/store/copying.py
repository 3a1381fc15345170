"""A deep copy for JSON documents: new dicts and lists, shared immutable scalars.

Objects in the store are JSON (dicts, lists, strings, numbers, booleans, None), so
`copy.deepcopy`'s generality (a memo table, a copier looked up per value) is overhead
on every write; this is about four times faster. Values of any other type (a tuple, a
dict subclass) still go through `copy.deepcopy`, so the result is the same.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

T = TypeVar("T")
_ATOMS = frozenset({str, int, float, bool, type(None)})


def json_copy(value: T) -> T:
    """A deep copy of `value` (dicts and lists rebuilt, scalars shared)."""
    kind = type(value)
    if kind is dict:
        return _copy_dict(value)  # type: ignore[arg-type, return-value]
    if kind is list:
        return _copy_list(value)  # type: ignore[arg-type, return-value]
    return value if kind in _ATOMS else copy.deepcopy(value)


def _copy_dict(value: dict[Any, Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, item in value.items():
        kind = type(item)
        if kind is dict:
            out[key] = _copy_dict(item)
        elif kind is list:
            out[key] = _copy_list(item)
        elif kind in _ATOMS:
            out[key] = item
        else:
            out[key] = copy.deepcopy(item)
    return out


def _copy_list(value: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in value:
        kind = type(item)
        if kind is dict:
            out.append(_copy_dict(item))
        elif kind is list:
            out.append(_copy_list(item))
        elif kind in _ATOMS:
            out.append(item)
        else:
            out.append(copy.deepcopy(item))
    return out
