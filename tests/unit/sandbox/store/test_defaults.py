"""Defaulting and validation on write, through the in-memory store: what kube-apiserver
fills in, and what it refuses with 422 naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from rollout.sandbox import kinds
from rollout.sandbox.store import errors
from rollout.sandbox.store.store import Store
from tests.factories import (
    make_deployment,
    make_destination_rule,
    make_service,
    make_virtual_service,
)

Obj = dict[str, Any]
K = kinds.BY_KEY
NS = "shop"
ROLLING = "spec.strategy.rollingUpdate"


@pytest.fixture
def store() -> Store:
    store = Store(seed=0)
    store.create(K["namespaces"], "", {"metadata": {"name": NS}})
    return store


def invalid(store: Store, key: str, body: Obj) -> errors.ApiError:
    """The 422 that creating `body` answers."""
    with pytest.raises(errors.ApiError) as err:
        store.create(K[key], NS, body)
    assert (err.value.code, err.value.reason) == (422, "Invalid")
    return err.value


def fields(err: errors.ApiError) -> list[str]:
    return [cause["field"] for cause in err.details["causes"]]


def test_namespace_is_active_and_labelled_with_its_name(store: Store) -> None:
    ns = store.get(K["namespaces"], "", NS)
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": NS}


def test_namespace_keeps_its_name_label_when_a_write_replaces_the_labels(store: Store) -> None:
    updated = store.update(
        K["namespaces"], "", NS, lambda ns: ns["metadata"].update(labels={"team": "a"})
    )
    assert updated["metadata"]["labels"] == {"team": "a", "kubernetes.io/metadata.name": NS}
    assert updated["status"] == {"phase": "Active"}


@pytest.mark.parametrize(
    ("rolling_update", "field", "message"),
    [
        ({"maxSurge": "x"}, f"{ROLLING}.maxSurge", "a valid percent string must be"),
        ({"maxSurge": "5"}, f"{ROLLING}.maxSurge", "a valid percent string must be"),
        ({"maxSurge": "25 %"}, f"{ROLLING}.maxSurge", "a valid percent string must be"),
        ({"maxSurge": -1}, f"{ROLLING}.maxSurge", "Invalid value: -1: must be greater than"),
        ({"maxUnavailable": -2}, f"{ROLLING}.maxUnavailable", "must be greater than or equal"),
        ({"maxUnavailable": "120%"}, f"{ROLLING}.maxUnavailable", "must not be greater than 100%"),
        ({"maxSurge": 0, "maxUnavailable": "0%"}, f"{ROLLING}.maxUnavailable", "may not be 0"),
    ],
)
def test_bad_rolling_update_fenceposts_are_422_naming_the_field(
    store: Store, rolling_update: Obj, field: str, message: str
) -> None:
    body = make_deployment(strategy={"type": "RollingUpdate", "rollingUpdate": rolling_update})
    err = invalid(store, "deployments.apps", body)
    assert fields(err) == [field]
    assert message in err.message and field in err.message


def test_percent_fenceposts_are_quoted_as_go_prints_an_int_or_string(store: Store) -> None:
    body = make_deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "x"}})
    err = invalid(store, "deployments.apps", body)
    assert 'Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"x"}: ' in err.message


@pytest.mark.parametrize("fenceposts", [{"maxSurge": 0, "maxUnavailable": "100%"}, {}])
def test_valid_fenceposts_are_accepted(store: Store, fenceposts: Obj) -> None:
    body = make_deployment(strategy={"type": "RollingUpdate", "rollingUpdate": fenceposts})
    created = store.create(K["deployments.apps"], NS, body)
    assert set(created["spec"]["strategy"]["rollingUpdate"]) == {"maxSurge", "maxUnavailable"}


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"": "x"}, 'metadata.labels: Invalid value: "": name part must be non-empty'),
        ({"bad key": "x"}, 'metadata.labels: Invalid value: "bad key": name part must consist'),
        ({"a/b/c": "x"}, 'Invalid value: "a/b/c": a qualified name must consist of'),
        ({"k" * 64: "x"}, "name part must be no more than 63 characters"),
        ({"app": "v" * 64}, "must be no more than 63 characters"),
        ({"app": "a b"}, "a valid label must be an empty string or consist of"),
        ({"app": "-x"}, "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used"),
    ],
)
def test_invalid_metadata_labels_are_422_naming_the_field(
    store: Store, labels: dict[str, str], message: str
) -> None:
    err = invalid(store, "configmaps", {"metadata": {"name": "c", "labels": labels}})
    assert set(fields(err)) == {"metadata.labels"}
    assert message in err.message


def test_empty_label_value_is_valid(store: Store) -> None:
    created = store.create(K["configmaps"], NS, {"metadata": {"name": "c", "labels": {"a": ""}}})
    assert created["metadata"]["labels"] == {"a": ""}


def test_service_selector_with_an_empty_key_is_422_naming_spec_selector(store: Store) -> None:
    err = invalid(store, "services", make_service(selector={"": "web"}))
    assert set(fields(err)) == {"spec.selector"}
    assert 'spec.selector: Invalid value: "": name part must be non-empty' in err.message


def test_deployment_match_labels_and_template_labels_are_validated(store: Store) -> None:
    body = make_deployment(labels={"app": "web", "bad key": "x"})
    err = invalid(store, "deployments.apps", body)
    assert fields(err) == [
        "metadata.labels",
        "spec.selector.matchLabels",
        "spec.template.metadata.labels",
    ]


def test_match_expression_keys_and_values_are_validated(store: Store) -> None:
    body = make_deployment()
    body["spec"]["selector"]["matchExpressions"] = [
        {"key": "", "operator": "In", "values": ["ok", "not ok"]}
    ]
    err = invalid(store, "replicasets.apps", body)
    assert fields(err)[:3] == [
        "spec.selector.matchExpressions[0].key",
        "spec.selector.matchExpressions[0].key",
        "spec.selector.matchExpressions[0].values[1]",
    ]


def test_a_status_kind_drops_status_on_create(store: Store) -> None:
    body = {**make_deployment(), "status": {"replicas": 5}}
    assert "status" not in store.create(K["deployments.apps"], NS, body)


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("virtualservices.networking.istio.io", make_virtual_service()),
        ("destinationrules.networking.istio.io", make_destination_rule()),
    ],
)
def test_istio_kinds_keep_status_to_their_status_subresource(
    store: Store, key: str, body: Obj
) -> None:
    kind = K[key]
    assert "status" in kind.subresources
    assert "status" not in store.create(kind, NS, {**body, "status": {"set": "on create"}})
    store.update(kind, NS, "web", lambda o: o.update(status={"by": "istiod"}), subresource="status")

    def main_write(obj: Obj) -> None:
        obj["status"] = {"by": "user"}
        obj["metadata"].setdefault("labels", {})["touched"] = "yes"

    written = store.update(kind, NS, "web", main_write)
    assert written["status"] == {"by": "istiod"}  # the main resource ignores .status
    assert written["metadata"]["labels"] == {"touched": "yes"}
    assert written["metadata"]["generation"] == 1  # neither write changed the spec
