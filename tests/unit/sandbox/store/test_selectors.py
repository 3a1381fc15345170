"""Unit tests for rollout.sandbox.store.selectors: label and field selectors."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rollout.sandbox.store.selectors import (
    FieldSelector,
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    field_value,
    label_selector_from_object,
    parse_field_selector,
    parse_label_selector,
)

WEB = {"app": "web", "tier": "frontend", "version": "3"}

# --- label selectors: parsing and matching ------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("app=web", WEB, True),
        ("app=api", WEB, False),
        ("app==web", WEB, True),
        ("app!=api", WEB, True),
        ("app!=web", WEB, False),
        ("app!=web", {}, True),
        ("tier in (frontend,backend)", WEB, True),
        ("tier in (backend)", WEB, False),
        ("tier in (frontend)", {}, False),
        ("tier notin (backend)", WEB, True),
        ("tier notin (frontend,backend)", WEB, False),
        ("tier notin (frontend)", {}, True),
        ("app", WEB, True),
        ("canary", WEB, False),
        ("!canary", WEB, True),
        ("!app", WEB, False),
        ("version>2", WEB, True),
        ("version>3", WEB, False),
        ("version<4", WEB, True),
        ("version<3", WEB, False),
        ("app>1", WEB, False),
        ("version>1", {}, False),
        ("app=web,tier=frontend", WEB, True),
        ("app=web,tier=backend", WEB, False),
        ("app=", {"app": ""}, True),
        ("app=", WEB, False),
        ("app in ()", {"app": ""}, True),
        ("app.kubernetes.io/name=web", {"app.kubernetes.io/name": "web"}, True),
        ("x in (in,notin)", {"x": "notin"}, True),
    ],
)
def test_label_selector_matches_like_kubernetes(
    text: str, labels: dict[str, str], expected: bool
) -> None:
    assert parse_label_selector(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_label_selector_matches_everything(text: str) -> None:
    selector = parse_label_selector(text)
    assert selector == LabelSelector()
    assert selector.matches(WEB)
    assert selector.matches(None)


def test_label_selector_treats_none_labels_as_no_labels() -> None:
    assert parse_label_selector("!app").matches(None)
    assert not parse_label_selector("app").matches(None)


def test_label_selector_tolerates_whitespace_around_tokens() -> None:
    text = "  app = web ,tier  in(  frontend ,backend ) , ! canary,version >2"
    selector = parse_label_selector(text)
    assert str(selector) == "app=web,!canary,tier in (backend,frontend),version>2"
    assert selector.matches(WEB)


def test_label_selector_parses_into_sorted_requirements() -> None:
    selector = parse_label_selector("z notin (b,a,a),a!=1,m")
    assert selector.requirements == (
        Requirement("a", Operator.NOT_EQUALS, ("1",)),
        Requirement("m", Operator.EXISTS),
        Requirement("z", Operator.NOT_IN, ("a", "b")),
    )


@pytest.mark.parametrize(
    ("text", "operator", "values"),
    [
        ("a=b", Operator.EQUALS, ("b",)),
        ("a==b", Operator.DOUBLE_EQUALS, ("b",)),
        ("a!=b", Operator.NOT_EQUALS, ("b",)),
        ("a in (x,y)", Operator.IN, ("x", "y")),
        ("a notin (x)", Operator.NOT_IN, ("x",)),
        ("a", Operator.EXISTS, ()),
        ("!a", Operator.DOES_NOT_EXIST, ()),
        ("a>1", Operator.GREATER_THAN, ("1",)),
        ("a<1", Operator.LESS_THAN, ("1",)),
        ("a in (,x)", Operator.IN, ("", "x")),
        ("a in (x,)", Operator.IN, ("", "x")),
        ("a in (x,,y)", Operator.IN, ("", "x", "y")),
    ],
)
def test_label_selector_parses_each_operator(
    text: str, operator: Operator, values: tuple[str, ...]
) -> None:
    assert parse_label_selector(text).requirements == (Requirement("a", operator, values),)


def test_label_selector_str_round_trips() -> None:
    text = "a in (x,y),!b,c notin (z),d,e=1,f==2,g!=3,h>4,i<5"
    assert str(parse_label_selector(text)) == text
    assert parse_label_selector(str(parse_label_selector(text))) == parse_label_selector(text)


def test_label_selector_is_a_frozen_hashable_value() -> None:
    selector = parse_label_selector("app=web")
    with pytest.raises(dataclasses.FrozenInstanceError):
        selector.nothing = True  # type: ignore[misc]
    assert hash(selector) == hash(parse_label_selector("app = web"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "app web",
            "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt",
        ),
        ("app=web tier", "found 'tier', expected: ',' or 'end of string'"),
        (",app", "found ',', expected: !, identifier, or 'end of string'"),
        ("=web", "found '=', expected: !, identifier, or 'end of string'"),
        ("app,", "found '', expected: identifier after ','"),
        ("app in web", "unable to parse requirement: found 'web' expected: '('"),
        ("app in (web", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("app in (web tier)", "unable to parse requirement: found 'tier', expected: ',' or ')'"),
        ("app in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("app=(", "unable to parse requirement: found '(', expected: identifier"),
        ("!app=web", "found '=', expected: ',' or 'end of string'"),
        ("! =web", "unable to parse requirement: found '=', expected: identifier"),
        ("app!", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
        ("version>x", "values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators"),
        ("version>99999999999999999999", "the value must be an integer"),
    ],
)
def test_label_selector_rejects_invalid_syntax_with_upstream_messages(
    text: str, message: str
) -> None:
    with pytest.raises(SelectorError) as err:
        parse_label_selector(text)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-app=web", 'Invalid value: "-app": name part must consist of alphanumeric characters'),
        ("a" * 64 + "=x", "name part must be no more than 63 characters"),
        ("a/b/c=x", "a qualified name must consist of alphanumeric characters"),
        ("/app=x", "prefix part must be non-empty"),
        ("app/=x", "name part must be non-empty"),
        ("Example.com/app=x", "prefix part a lowercase RFC 1123 subdomain must consist of"),
        ("app=-web", 'values[0][app]: Invalid value: "-web": a valid label must be an empty'),
        ("app=" + "v" * 64, "must be no more than 63 characters"),
        ("app in (ok,bad_)", 'values[0][app]: Invalid value: "bad_"'),  # sorted, as upstream
        ("app in (x,-y)", 'values[0][app]: Invalid value: "-y"'),
    ],
)
def test_label_selector_validates_keys_and_values_like_kubernetes(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        parse_label_selector(text)
    assert str(err.value).startswith("unable to parse requirement: ")
    assert message in str(err.value)


def test_label_selector_accepts_maximal_valid_key_and_value() -> None:
    key, value = "example.com/" + "k" * 63, "v" * 63
    assert parse_label_selector(f"{key}={value}").matches({key: value})


# --- label selectors from objects ----------------------------------------------------


def test_label_selector_from_object_combines_match_labels_and_expressions() -> None:
    selector = label_selector_from_object(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["frontend", "edge"]},
                {"key": "track", "operator": "NotIn", "values": ["canary"]},
                {"key": "version", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector.matches(WEB)
    assert not selector.matches({**WEB, "legacy": "1"})
    assert not selector.matches({**WEB, "track": "canary"})
    assert not selector.matches({"app": "web", "tier": "frontend"})
    assert str(selector) == "app=web,!legacy,tier in (edge,frontend),track notin (canary),version"


def test_label_selector_from_empty_object_matches_everything() -> None:
    assert label_selector_from_object({}).matches(WEB)
    assert label_selector_from_object({"matchLabels": {}, "matchExpressions": []}).matches(None)


def test_label_selector_from_none_matches_nothing() -> None:
    selector = label_selector_from_object(None)
    assert selector == LabelSelector(nothing=True)
    assert not selector.matches(WEB)
    assert not selector.matches({})
    assert selector != LabelSelector()


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid label selector operator',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "in", "values": ["1"]}]},
            '"in" is not a valid label selector operator',
        ),
        ({"matchExpressions": [{"key": "a"}]}, '"" is not a valid label selector operator'),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: []string{"x"}: values set must be empty for exists',
        ),
        ({"matchLabels": {"app": "bad value"}}, 'values[0][app]: Invalid value: "bad value"'),
        ({"matchLabels": {"-app": "web"}}, 'key: Invalid value: "-app": name part must consist'),
        ({"matchLabels": {"app": 1}}, "must be strings"),
        ({"matchLabels": ["app"]}, "matchLabels must be an object"),
        ({"matchExpressions": ["app"]}, "a matchExpressions entry must be an object"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}, "must be a list"),
        ("app=web", "a label selector must be an object"),
    ],
)
def test_label_selector_from_object_rejects_invalid_selectors(obj: Any, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        label_selector_from_object(obj)
    assert message in str(err.value)


def test_label_selector_from_object_reports_every_invalid_value() -> None:
    with pytest.raises(SelectorError) as err:
        label_selector_from_object(
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["-x", "-y"]}]}
        )
    message = str(err.value)
    assert message.startswith("[") and message.endswith("]")
    assert 'values[0][a]: Invalid value: "-x"' in message
    assert 'values[1][a]: Invalid value: "-y"' in message


# --- field selectors -----------------------------------------------------------------

POD = {
    "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "shop"},
    "spec": {"nodeName": "node-a", "hostNetwork": False},
    "status": {"phase": "Running"},
}
EVENT = {
    "kind": "Event",
    "metadata": {"name": "web.1", "namespace": "shop"},
    "involvedObject": {"kind": "Deployment", "name": "web", "namespace": "shop", "uid": "u-1"},
    "reason": "ScalingReplicaSet",
    "type": "Normal",
    "source": {"component": "deployment-controller"},
}


@pytest.mark.parametrize(
    ("text", "obj", "expected"),
    [
        ("metadata.name=web-1", POD, True),
        ("metadata.name==web-1", POD, True),
        ("metadata.name!=web-1", POD, False),
        ("metadata.name=web-2", POD, False),
        ("metadata.namespace=shop", POD, True),
        ("status.phase=Running,spec.nodeName=node-a", POD, True),
        ("status.phase=Running,spec.nodeName=node-b", POD, False),
        ("spec.hostNetwork=false", POD, True),
        ("spec.schedulerName=", POD, True),
        ("spec.schedulerName!=", POD, False),
        ("involvedObject.kind=Deployment,involvedObject.name=web", EVENT, True),
        ("involvedObject.uid=u-1,involvedObject.namespace=shop", EVENT, True),
        ("involvedObject.name=api", EVENT, False),
        ("type=Normal,reason=ScalingReplicaSet", EVENT, True),
        ("type!=Normal", EVENT, False),
        ("source=deployment-controller", EVENT, True),
    ],
)
def test_field_selector_matches_dotted_paths(
    text: str, obj: dict[str, Any], expected: bool
) -> None:
    assert parse_field_selector(text).matches(obj) is expected


def test_empty_field_selector_matches_everything() -> None:
    assert parse_field_selector("") == FieldSelector()
    assert parse_field_selector("").matches(POD)
    assert parse_field_selector(",").matches(EVENT)


def test_field_selector_unescapes_values_and_str_escapes_them() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d")
    assert selector.terms[0].value == "a,b=c\\d"
    assert str(selector) == r"metadata.name=a\,b\=c\\d"
    assert selector.matches({"metadata": {"name": "a,b=c\\d"}})


def test_field_selector_sorts_terms_and_normalises_double_equals() -> None:
    assert str(parse_field_selector("b==2,a!=1")) == "a!=1,b=2"


def test_field_selector_exact_returns_the_pinned_value() -> None:
    selector = parse_field_selector("metadata.name=web,status.phase!=Failed")
    assert selector.exact("metadata.name") == "web"
    assert selector.exact("status.phase") is None
    assert selector.exact("spec.nodeName") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a=b=c", "invalid field selector: unescaped character in value: ="),
        (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
        ("a in (b)", "invalid selector: 'a in (b)'; can't understand 'a in (b)'"),
    ],
)
def test_field_selector_rejects_unsupported_syntax(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        parse_field_selector(text)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("Pod", "metadata.name=a,spec.nodeName=n,status.phase=Running,spec.hostNetwork=true"),
        ("Event", "involvedObject.uid=u,reason=r,type=Normal,source=kubelet"),
        ("ReplicaSet", "status.replicas=0"),
        ("Deployment", "metadata.namespace=shop,metadata.name=web"),
    ],
)
def test_field_selector_require_supported_accepts_the_kinds_field_labels(
    kind: str, text: str
) -> None:
    assert parse_field_selector(text).require_supported(kind) is None


def test_field_selector_require_supported_rejects_unknown_field_labels() -> None:
    with pytest.raises(SelectorError) as err:
        parse_field_selector("status.phase=Running").require_supported("Deployment")
    assert str(err.value) == "field label not supported: status.phase"


@pytest.mark.parametrize(
    ("obj", "path", "expected"),
    [
        (POD, "metadata.name", "web-1"),
        (POD, "spec.hostNetwork", "false"),
        (POD, "spec.missing", ""),
        (POD, "metadata.name.deeper", ""),
        ({"status": {"replicas": 3}}, "status.replicas", "3"),
        ({"spec": {"template": {"a": 1}}}, "spec.template", ""),
        (EVENT, "source", "deployment-controller"),
    ],
)
def test_field_value_reads_dotted_paths_as_strings(
    obj: dict[str, Any], path: str, expected: str
) -> None:
    assert field_value(obj, path) == expected
