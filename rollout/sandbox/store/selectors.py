"""Label and field selectors: parse `?labelSelector=` / `?fieldSelector=` text and match objects.

Mirrors apimachinery's `labels` and `fields` packages: same grammar, same validation of
label keys and values, error messages shaped like the real ones (the API answers 400).
Pure: no I/O, and nothing here knows about HTTP or the store.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class SelectorError(Exception):
    """Selector text or object that the API server would reject with 400 BadRequest."""


class Operator(enum.Enum):
    """A label requirement's operator (apimachinery `selection.Operator` values)."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_SETS = (Operator.IN, Operator.NOT_IN)
_EXACT = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS)
_UNARY = (Operator.EXISTS, Operator.DOES_NOT_EXIST)
_NUMERIC = (Operator.GREATER_THAN, Operator.LESS_THAN)
_BINARY_OPERATORS = {o.value: o for o in Operator if o not in _UNARY}
_EXPRESSION_OPERATORS = {"In": _SETS[0], "NotIn": _SETS[1], "Exists": _UNARY[0]}
_EXPRESSION_OPERATORS["DoesNotExist"] = Operator.DOES_NOT_EXIST
_COUNT_RULES = (  # (operators, is this number of values valid, message)
    (_SETS, bool, "for 'in', 'notin' operators, values set can't be empty"),
    (_EXACT, (1).__eq__, "exact-match compatibility requires one single value"),
    (_UNARY, (0).__eq__, "values set must be empty for exists and does not exist"),
    (_NUMERIC, (1).__eq__, "for 'Gt', 'Lt' operators, exactly one value is required"),
)
_EXPECTED_IN_SET = {"(": "',', ')' or identifier", "id": "',' or ')'", ",": "',', or identifier"}
_TOKEN = re.compile(r"==|!=|[=!(),<>]|[^ \t\r\n=!(),<>]+")
_SYMBOLS = {">": "gt", "<": "lt"}
_KEYWORDS = ("in", "notin")
_INT64 = re.compile(r"[+-]?[0-9]+")
_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME = re.compile(_NAME_FMT)
_DNS1123_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_ENDS = "and must start and end with an alphanumeric character"
_CHARS = f"alphanumeric characters, '-', '_' or '.', {_ENDS}"
_NAME_MSG = f"must consist of {_CHARS}"
_VALUE_MSG = f"a valid label must be an empty string or consist of {_CHARS}"
_DNS1123_MSG = (
    f"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    f"'-' or '.', {_ENDS}"
)


@dataclass(frozen=True, slots=True)
class Requirement:
    """One label requirement: `key <operator> values` (values sorted and de-duplicated)."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies this requirement (apimachinery semantics)."""
        op, has = self.operator, self.key in labels
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return has and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not has or labels[self.key] not in self.values
        if op in _UNARY:
            return has == (op is Operator.EXISTS)
        if not has or not _INT64.fullmatch(labels[self.key]) or len(self.values) != 1:
            return False
        have, want = int(labels[self.key]), int(self.values[0])
        return have > want if op is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        op = self.operator
        if op in _UNARY:
            return f"!{self.key}" if op is Operator.DOES_NOT_EXIST else self.key
        if op in _SETS:
            return f"{self.key} {op.value} ({','.join(self.values)})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{self.values[0]}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """Requirements that must all hold (AND); `nothing` marks the match-nothing selector."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels (None = no labels) is selected."""
        return not self.nothing and all(r.matches(labels or {}) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the string form (`a=b,c in (x,y),!d`); "" selects everything."""
    requirements = _LabelParser(text).parse()
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


def label_selector_from_object(obj: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a `{matchLabels, matchExpressions}` object (LabelSelectorAsSelector).

    As upstream: `None` selects nothing and `{}` selects everything. (An API object whose
    selector is required, like a Deployment's, must be validated by its caller.)
    """
    if obj is None:
        return LabelSelector(nothing=True)
    if not isinstance(obj, Mapping):
        raise SelectorError(f"a label selector must be an object, got {obj!r}")
    match_labels = obj.get("matchLabels") or {}
    expressions = obj.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        raise SelectorError("matchLabels must be an object and matchExpressions a list")
    requirements = [_new_requirement(k, Operator.EQUALS, [v]) for k, v in match_labels.items()]
    requirements += [_expression(e) for e in expressions]
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


def _expression(expr: Any) -> Requirement:
    if not isinstance(expr, Mapping):
        raise SelectorError(f"a matchExpressions entry must be an object, got {expr!r}")
    name = expr.get("operator") or ""
    operator = _EXPRESSION_OPERATORS.get(name) if isinstance(name, str) else None
    if operator is None:
        raise SelectorError(f'"{name}" is not a valid label selector operator')
    values = expr.get("values") or []
    if not isinstance(values, list):
        raise SelectorError(f"matchExpressions values must be a list, got {values!r}")
    return _new_requirement(expr.get("key"), operator, values)


def _new_requirement(key: Any, op: Operator, values: Iterable[Any]) -> Requirement:
    """NewRequirement: validate the key, the number of values and each value."""
    vals = list(values)
    if not isinstance(key, str) or not all(isinstance(v, str) for v in vals):
        raise SelectorError(f"label selector keys and values must be strings: {key!r} {vals!r}")
    errs = [f'key: Invalid value: "{key}": {"; ".join(m)}' for m in [label_key_errors(key)] if m]
    count_error = next((m for ops, ok, m in _COUNT_RULES if op in ops and not ok(len(vals))), "")
    if count_error:
        quoted = ", ".join(f'"{v}"' for v in vals)
        errs.append(f"values: Invalid value: []string{{{quoted}}}: {count_error}")
    for i, v in enumerate(vals):
        if op in _NUMERIC and not (_INT64.fullmatch(v) and -(2**63) <= int(v) < 2**63):
            msg = "for 'Gt', 'Lt' operators, the value must be an integer"
            errs.append(f'values[{i}]: Invalid value: "{v}": {msg}')
        if msgs := label_value_errors(v):
            errs.append(f'values[{i}][{key}]: Invalid value: "{v}": {"; ".join(msgs)}')
    if errs:
        raise SelectorError(errs[0] if len(errs) == 1 else f"[{', '.join(errs)}]")
    return Requirement(key, op, tuple(sorted(set(vals))))


class _LabelParser:
    """The apimachinery label selector parser: a lexer pass, then recursive descent."""

    def __init__(self, text: str) -> None:
        words = _TOKEN.findall(text)  # kinds: a symbol, "gt", "lt", "in", "notin", "id", "end"
        self.tokens = [
            (_SYMBOLS.get(w, w) if w in _KEYWORDS or w[0] in "=!(),<>" else "id", w) for w in words
        ] + [("end", "")]
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        """The next token; in a value context `in` / `notin` are plain identifiers."""
        kind, literal = self.tokens[self.pos]
        return ("id" if values and kind in _KEYWORDS else kind), literal

    def take(self, values: bool = True) -> tuple[str, str]:
        token = self.peek(values)
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        kind, literal = self.peek()
        if kind not in ("id", "!", "end"):
            raise SelectorError(f"found '{literal}', expected: !, identifier, or 'end of string'")
        while kind != "end":
            try:
                requirements.append(self.requirement())
            except SelectorError as e:
                raise SelectorError(f"unable to parse requirement: {e}") from e
            kind, literal = self.take()
            if kind not in (",", "end"):
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            if kind == "," and self.peek()[0] not in ("id", "!"):
                raise SelectorError(f"found '{self.peek()[1]}', expected: identifier after ','")
        return requirements

    def requirement(self) -> Requirement:
        negated = self.peek()[0] == "!"
        if negated:
            self.take()
        kind, key = self.take()
        if kind != "id":
            raise SelectorError(f"found '{key}', expected: identifier")
        if msgs := label_key_errors(key):
            raise SelectorError(f'Invalid value: "{key}": {"; ".join(msgs)}')
        if negated or self.peek()[0] in ("end", ","):
            exists = Operator.DOES_NOT_EXIST if negated else Operator.EXISTS
            return _new_requirement(key, exists, [])
        kind, literal = self.take(values=False)
        if (op := _BINARY_OPERATORS.get(kind)) is None:
            raise SelectorError(f"found '{literal}', expected: in, notin, =, ==, !=, gt, lt")
        if op in _SETS:
            values = self.value_set()
        elif self.peek()[0] in ("end", ","):
            values = [""]
        elif (token := self.take())[0] == "id":
            values = [token[1]]
        else:
            raise SelectorError(f"found '{token[1]}', expected: identifier")
        return _new_requirement(key, op, sorted(set(values)))  # a sorted set, as upstream

    def value_set(self) -> list[str]:
        """`( v1, v2, ... )`: an empty entry ("()", "(,x)", "(x,)") selects the empty value."""
        kind, literal = self.take()
        if kind != "(":
            raise SelectorError(f"found '{literal}' expected: '('")
        values: list[str] = []
        last = "("
        while True:
            kind, literal = self.take()
            if kind in (")", ",") and last != "id":
                values.append("")  # "()", "(,", ",," and ",)" select the empty value
            elif kind == "id" and last != "id":
                values.append(literal)
            elif kind not in (")", ","):
                raise SelectorError(f"found '{literal}', expected: {_EXPECTED_IN_SET[last]}")
            if kind == ")":
                return values
            last = kind


def label_key_errors(key: str) -> list[str]:
    """validation.IsQualifiedName: `[prefix/]name`, name <= 63 chars."""
    parts = key.split("/")
    if len(parts) > 2:
        return [
            f"a qualified name {_NAME_REGEX_ERROR} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    errs: list[str] = []
    if len(parts) == 2 and not parts[0]:
        errs.append("prefix part must be non-empty")
    elif len(parts) == 2 and len(parts[0]) > 253:
        errs.append("prefix part must be no more than 253 characters")
    elif len(parts) == 2 and not re.fullmatch(_DNS1123_FMT, parts[0]):
        errs.append(f"prefix part {_regex_error(_DNS1123_MSG, _DNS1123_FMT, 'example.com')}")
    name = parts[-1]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not _NAME.fullmatch(name):
        errs.append(f"name part {_NAME_REGEX_ERROR}")
    return errs


def label_value_errors(value: str) -> list[str]:
    """validation.IsValidLabelValue: empty, or a name-like string of <= 63 chars."""
    errs = ["must be no more than 63 characters"] if len(value) > 63 else []
    if value and not _NAME.fullmatch(value):
        errs.append(_regex_error(_VALUE_MSG, f"({_NAME_FMT})?", "MyValue", "my_value", "12345"))
    return errs


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    shown = "".join((" or " if i else "") + f"'{e}', " for i, e in enumerate(examples))
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"  # as upstream's


_NAME_REGEX_ERROR = _regex_error(_NAME_MSG, _NAME_FMT, "MyName", "my.name", "123-abc")


# --- field selectors ------------------------------------------------------------------

# Field labels each kind supports beyond metadata.name / metadata.namespace.
FIELD_LABELS: dict[str, frozenset[str]] = {
    kind: frozenset(labels.split())
    for kind, labels in {
        "Pod": "spec.nodeName spec.restartPolicy spec.schedulerName spec.serviceAccountName "
        "spec.hostNetwork status.phase status.podIP status.podIPs status.nominatedNodeName",
        "Event": "involvedObject.kind involvedObject.namespace involvedObject.name "
        "involvedObject.uid involvedObject.apiVersion involvedObject.resourceVersion "
        "involvedObject.fieldPath reason reportingComponent source type",
        "ReplicaSet": "status.replicas",
        "Namespace": "status.phase",
        "Secret": "type",
    }.items()
}
_COMMON_FIELD_LABELS = frozenset({"metadata.name", "metadata.namespace"})
_FIELD_PATHS = {("Event", "source"): "source.component"}
_TERM = re.compile(r"(.*?)(!=|==|=)(.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class FieldTerm:
    """`field=value` (or `field!=value` when `negated`)."""

    field: str
    value: str
    negated: bool = False

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object's field (missing = "") equals / differs from the value."""
        return (field_value(obj, self.field) == self.value) != self.negated

    def __str__(self) -> str:
        escaped = re.sub(r"([\\,=])", r"\\\1", self.value)
        return f"{self.field}{'!=' if self.negated else '='}{escaped}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """Terms that must all hold (AND); the empty selector selects everything."""

    terms: tuple[FieldTerm, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether every term holds for the object."""
        return all(t.matches(obj) for t in self.terms)

    def exact(self, field: str) -> str | None:
        """The value a `field=value` term pins the field to, if any (e.g. metadata.name)."""
        return next((t.value for t in self.terms if t.field == field and not t.negated), None)

    def require_supported(self, kind: str) -> None:
        """Raise SelectorError for a field label `kind` does not support, as the API does."""
        allowed = _COMMON_FIELD_LABELS | FIELD_LABELS.get(kind, frozenset())
        for term in self.terms:
            if term.field not in allowed:
                raise SelectorError(f"field label not supported: {term.field}")

    def __str__(self) -> str:
        return ",".join(str(t) for t in self.terms)


def parse_field_selector(text: str) -> FieldSelector:
    """Parse `a.b=v,c!=w` (`==` is `=`; `\\`, `,`, `=` in values are backslash-escaped)."""
    terms: list[FieldTerm] = []
    for part in sorted(_split_terms(text)):
        match = _TERM.fullmatch(part)
        if part and match is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        if match is not None:
            lhs, op, rhs = match.groups()
            terms.append(FieldTerm(lhs, _unescape(rhs), negated=op == "!="))
    return FieldSelector(tuple(terms))


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a dotted field of an object, "" when missing."""
    value: Any = obj
    for part in _FIELD_PATHS.get((str(obj.get("kind", "")), path), path).split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float | str) else ""


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not backslash-escaped (escapes are kept)."""
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(text):
        if escaped or ch == "\\":
            escaped = not escaped
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    return [*terms, text[start:]] if text else []


def _unescape(value: str) -> str:
    for match in re.finditer(r"\\(.?)|[,=]", value, re.DOTALL):
        seq, escaped = match.group(0), match.group(0).startswith("\\")
        if not escaped or match.group(1) not in ("\\", ",", "="):
            what = "invalid escape sequence" if escaped else "unescaped character in value"
            raise SelectorError(f"invalid field selector: {what}: {seq}")
    return re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL)
