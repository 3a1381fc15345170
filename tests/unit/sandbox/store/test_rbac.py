"""RBAC kinds through the in-memory store: upstream's v1 defaults (roleRef and User/Group
subjects in the rbac group) and the 422s its validation answers, field by field."""

from __future__ import annotations

from typing import Any

import pytest

from rollout.sandbox import kinds
from rollout.sandbox.store import errors
from rollout.sandbox.store.store import Store

Obj = dict[str, Any]
K = kinds.BY_KIND
NS = "shop"
RBAC = "rbac.authorization.k8s.io"
SA = {"kind": "ServiceAccount", "name": "app"}


@pytest.fixture
def store() -> Store:
    store = Store(seed=0)
    store.create(K["Namespace"], "", {"metadata": {"name": NS}})
    return store


def create(store: Store, kind: str, body: Obj) -> Obj:
    namespace = NS if K[kind].namespaced else ""
    return store.create(K[kind], namespace, {"metadata": {"name": "r"}, **body})


def causes(store: Store, kind: str, body: Obj) -> list[tuple[str, str]]:
    """The (field, message) causes of the 422 that creating `body` answers."""
    with pytest.raises(errors.ApiError) as err:
        create(store, kind, body)
    assert (err.value.code, err.value.reason) == (422, "Invalid")
    return [(c["field"], c["message"]) for c in err.value.details["causes"]]


def ref(kind: str = "Role", name: str = "reader", **extra: str) -> Obj:
    return {"roleRef": {"apiGroup": RBAC, "kind": kind, "name": name, **extra}}


def test_binding_defaults_the_role_ref_group_and_user_and_group_subjects(store: Store) -> None:
    subjects = [SA, {"kind": "User", "name": "jane"}, {"kind": "Group", "name": "devs"}]

    made = create(
        store, "RoleBinding", {"roleRef": {"kind": "Role", "name": "x"}, "subjects": subjects}
    )

    assert made["roleRef"] == {"apiGroup": RBAC, "kind": "Role", "name": "x"}
    assert [s.get("apiGroup") for s in made["subjects"]] == [None, RBAC, RBAC]


def test_role_names_may_hold_colons_but_not_slashes(store: Store) -> None:
    made = store.create(K["ClusterRole"], "", {"metadata": {"name": "system:rollout"}})

    with pytest.raises(errors.ApiError) as err:
        store.create(K["Role"], NS, {"metadata": {"name": "a/b"}})

    assert made["metadata"]["name"] == "system:rollout"
    assert (
        err.value.details["causes"][0]["message"] == "Invalid value: \"a/b\": may not contain '/'"
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            {"apiGroups": [""], "resources": ["pods"]},
            [("rules[0].verbs", "Required value: verbs must contain at least one value")],
        ),
        (
            {"verbs": ["get"]},
            [
                (
                    "rules[0].apiGroups",
                    "Required value: resource rules must supply at least one api group",
                ),
                (
                    "rules[0].resources",
                    "Required value: resource rules must supply at least one resource",
                ),
            ],
        ),
        (
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]},
            [
                (
                    "rules[0].nonResourceURLs",
                    'Invalid value: []string{"/healthz"}: namespaced rules cannot apply to '
                    "non-resource URLs",
                )
            ],
        ),
    ],
)
def test_role_rules_need_verbs_groups_and_resources(
    store: Store, rule: Obj, expected: list[tuple[str, str]]
) -> None:
    assert causes(store, "Role", {"rules": [rule]}) == expected


def test_cluster_role_may_grant_non_resource_urls_but_not_mixed_with_resources(
    store: Store,
) -> None:
    urls = {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}

    made = create(store, "ClusterRole", {"rules": [urls]})
    mixed = causes(store, "ClusterRole", {"rules": [{**urls, "resources": ["pods"]}]})

    assert made["rules"] == [urls]
    assert [field for field, _ in mixed] == ["rules[0].nonResourceURLs"]
    assert "cannot apply to both regular resources and non-resource URLs" in mixed[0][1]


def test_role_binding_requires_a_role_ref(store: Store) -> None:
    assert causes(store, "RoleBinding", {"subjects": [SA]}) == [
        ("roleRef.kind", 'Unsupported value: "": supported values: "Role", "ClusterRole"'),
        ("roleRef.name", "Required value"),
    ]


def test_role_binding_refuses_a_foreign_group_and_an_unknown_subject_kind(store: Store) -> None:
    body = {
        "roleRef": {"apiGroup": "example.com", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "Robot", "name": "r2"}, {"kind": "ServiceAccount", "name": ""}],
    }

    assert causes(store, "RoleBinding", body) == [
        ("roleRef.apiGroup", f'Unsupported value: "example.com": supported values: "{RBAC}"'),
        (
            "subjects[0].kind",
            'Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"',
        ),
        ("subjects[1].name", "Required value"),
    ]


def test_cluster_role_binding_binds_only_cluster_roles_and_namespaced_service_accounts(
    store: Store,
) -> None:
    found = causes(store, "ClusterRoleBinding", {**ref("Role"), "subjects": [SA]})

    assert found == [
        ("roleRef.kind", 'Unsupported value: "Role": supported values: "ClusterRole"'),
        ("subjects[0].namespace", "Required value"),
    ]


def test_a_binding_role_ref_cannot_change(store: Store) -> None:
    create(store, "RoleBinding", {**ref(name="reader"), "subjects": [SA]})

    with pytest.raises(errors.ApiError) as err:
        store.update(K["RoleBinding"], NS, "r", lambda b: b["roleRef"].update(name="writer"))
    kept = store.update(K["RoleBinding"], NS, "r", lambda b: b.update(subjects=[]))

    assert err.value.code == 422
    assert err.value.details["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "roleRef",
            "message": f'Invalid value: rbac.RoleRef{{APIGroup:"{RBAC}", Kind:"Role", '
            'Name:"writer"}: cannot change roleRef',
        }
    ]
    assert kept["subjects"] == [] and kept["roleRef"]["name"] == "reader"


def test_cluster_scoped_kinds_drop_a_namespace_given_in_the_body(store: Store) -> None:
    body = {"metadata": {"name": "r", "namespace": NS}}

    role = store.create(K["ClusterRole"], NS, body)
    binding = store.create(K["ClusterRoleBinding"], "", {**body, **ref("ClusterRole")})

    assert "namespace" not in role["metadata"] and "namespace" not in binding["metadata"]
    assert store.get(K["ClusterRole"], "", "r")["metadata"]["uid"] == role["metadata"]["uid"]
