"""JSON types of the fields the sandbox reads, checked the way Go's decoder checks them.

kube-apiserver decodes every body into typed structs: a string where an int32 belongs
is a 400 (`json: cannot unmarshal string into Go struct field ...`), and `null` is the
zero value (as if absent). This module does the same for the typed fields of the
built-in kinds (unknown fields pass through untouched). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from rollout.sandbox.store.schemas import CUSTOM, FREE, IOS, KINDS, B, I, N, Q, S, Type

Obj = dict[str, Any]
OPENAPI_TYPES = {S: "string", I: "integer", B: "boolean", N: "number", IOS: "string", Q: "string"}
_JSON_NAMES: dict[type, str] = {str: "string", list: "array", dict: "object"}


class ShapeError(Exception):
    """A value of the wrong JSON type for its field (Go's UnmarshalTypeError)."""

    def __init__(
        self, value: Any, path: tuple[str | int, ...], parent: str, expected: Type
    ) -> None:
        self.value, self.path, self.parent, self.expected = value, path, parent, expected
        super().__init__(self.go_message())

    def go_message(self) -> str:
        """What Go's json decoder says (built-in kinds: a 400)."""
        fields = ".".join(str(p) for p in self.path if isinstance(p, str))
        return (
            f"json: cannot unmarshal {_json_type(self.value)} into Go struct field "
            f"{self.parent.split('.')[-1]}.{fields} of type {_go_name(self.expected)}"
        )

    def field(self) -> str:
        """The field path with list indexes (`spec.hosts[0]`)."""
        text = ""
        for p in self.path:
            text += f"[{p}]" if isinstance(p, int) else f".{p}"
        return text.lstrip(".")

    def schema_message(self) -> str:
        """What CRD schema validation says (custom resources: a 422 cause)."""
        expected = self.expected
        want = (
            OPENAPI_TYPES.get(expected, "string")
            if isinstance(expected, str)
            else "array"
            if expected[0] == "list"
            else "object"
        )
        got = _openapi_type(self.value)
        return f'Invalid value: "{got}": {self.field()} in body must be of type {want}: "{got}"'


def decoded(key: str, obj: Obj) -> Obj:
    """`obj` with nulls in typed fields dropped; ShapeError for a wrongly typed value."""
    schema: Type = KINDS.get(key, CUSTOM)
    checked: Obj = _check(obj, schema, (), schema[1])
    return checked


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value}" if isinstance(value, float) else "number"
    return _JSON_NAMES.get(type(value), "value")


def _openapi_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {str: "string", list: "array", dict: "object", float: "number"}.get(type(value), "null")


SCALARS: dict[str, Any] = {
    S: lambda v: isinstance(v, str),
    B: lambda v: isinstance(v, bool),
    I: lambda v: isinstance(v, int) and not isinstance(v, bool),
    N: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    IOS: lambda v: isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)),
    Q: lambda v: isinstance(v, str | int | float) and not isinstance(v, bool),
}


def _check(value: Any, spec: Type, path: tuple[str | int, ...], parent: str) -> Any:
    if spec == FREE:
        return value
    if isinstance(spec, str):
        if not SCALARS[spec](value):
            raise ShapeError(value, path, parent, spec)
        return value
    if spec[0] == "list":
        if not isinstance(value, list):
            raise ShapeError(value, path, parent, spec)
        return [
            _check(v, spec[1], (*path, i), parent) for i, v in enumerate(value) if v is not None
        ]
    if not isinstance(value, dict):
        raise ShapeError(value, path, parent, spec)
    if spec[0] == "map":
        return {
            k: _check(v, spec[1], (*path, k), parent) for k, v in value.items() if v is not None
        }
    out = {}
    for k, v in value.items():
        if v is not None:
            field = spec[2].get(k)
            out[k] = v if field is None else _check(v, field, (*path, k), spec[1])
    return out


def _go_name(spec: Type) -> str:
    if isinstance(spec, str):
        return spec
    if spec[0] == "map":
        return f"map[string]{_go_name(spec[1]) if spec[1] != FREE else 'interface {}'}"
    if spec[0] == "list":
        return f"[]{_go_name(spec[1])}"
    return str(spec[1])
