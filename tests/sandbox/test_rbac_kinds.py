"""The stored-only RBAC and Istio Telemetry kinds through the real kubectl: discovery
(short names, scope), example manifests and kubectl's generators (protobuf bodies) created
and read back, server-side validation, and a namespace's deletion taking its RBAC objects
but not the cluster-scoped ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.conftest import Kubectl

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "examples" / "manifests"
KIND = ROOT / "examples" / "kind"
RBAC = "rbac.authorization.k8s.io"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("serviceaccounts", ["sa", "v1", "true", "ServiceAccount"]),
        ("roles", ["rbac.authorization.k8s.io/v1", "true", "Role"]),
        ("rolebindings", ["rbac.authorization.k8s.io/v1", "true", "RoleBinding"]),
        ("clusterroles", ["rbac.authorization.k8s.io/v1", "false", "ClusterRole"]),
        ("clusterrolebindings", ["rbac.authorization.k8s.io/v1", "false", "ClusterRoleBinding"]),
        ("telemetries", ["telemetry", "telemetry.istio.io/v1", "true", "Telemetry"]),
    ],
)
def test_kubectl_discovers_each_kind_with_its_short_name_and_scope(
    kubectl: Kubectl, row: str, expected: list[str]
) -> None:
    lines = kubectl("api-resources", "--no-headers").stdout.splitlines()

    found = [line.split() for line in lines if line.split()[0] == row]

    assert found == [[row, *expected]]


def test_example_rbac_is_created_and_read_back_by_short_name(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl("create", "-n", namespace, "-f", str(MANIFESTS / "rbac.yaml"))

    names = kubectl("get", "-n", namespace, "sa,role,rolebinding", "-o", "name").stdout.split()
    role_ref = kubectl(
        "get", "-n", namespace, "rolebinding", "rollout", "-o", "jsonpath={.roleRef}"
    ).stdout

    assert names == [
        "serviceaccount/rollout",
        "role.rbac.authorization.k8s.io/rollout",
        "rolebinding.rbac.authorization.k8s.io/rollout",
    ]
    assert role_ref == '{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"rollout"}'


def test_server_dry_run_refuses_a_role_binding_without_a_role_ref(
    kubectl: Kubectl, namespace: str
) -> None:
    binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: b\n"

    proc = kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-", stdin=binding, check=False
    )

    assert proc.returncode == 1
    assert 'The RoleBinding "b" is invalid' in proc.stderr
    assert "roleRef.name: Required value" in proc.stderr


def test_deleting_a_namespace_deletes_its_rbac_objects_and_keeps_cluster_roles(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl("create", "-n", namespace, "-f", str(MANIFESTS / "rbac.yaml"))
    kubectl("create", "clusterrole", f"{namespace}-reader", "--verb=get", "--resource=pods")

    kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=30s")

    left = kubectl("get", "-A", "sa,role,rolebinding", "-o", "name").stdout.split()
    kept = kubectl("get", "clusterrole", f"{namespace}-reader", "-o", "name").stdout
    assert left == []
    assert kept.strip() == f"clusterrole.rbac.authorization.k8s.io/{namespace}-reader"


def test_istio_telemetry_example_is_served_at_v1alpha1_and_read_at_v1(
    kubectl: Kubectl, namespace: str
) -> None:
    text = (KIND / "istio-telemetry.yaml").read_text()
    kubectl("create", "-f", "-", stdin=text.replace("istio-system", namespace))

    read = kubectl(
        "get", "-n", namespace, "telemetries.v1.telemetry.istio.io", "mesh-default",
        "-o", "jsonpath={.apiVersion} {.spec.metrics[0].providers[0].name}",
    ).stdout  # fmt: skip

    assert read == "telemetry.istio.io/v1 prometheus"


def test_kubectl_create_generators_write_rbac_objects_in_protobuf(
    kubectl: Kubectl, namespace: str
) -> None:
    ns = ("-n", namespace)
    kubectl("create", "serviceaccount", "app", *ns)
    kubectl("create", "role", "r", "--verb=get,list", "--resource=pods", *ns)
    kubectl("create", "rolebinding", "rb", "--role=r", f"--serviceaccount={namespace}:app", *ns)
    kubectl("create", "clusterrolebinding", f"{namespace}-crb", "--clusterrole=view", "--user=j")

    def get(*what: str) -> Any:
        return json.loads(kubectl("get", *what, "-o", "json").stdout)

    assert get("sa", "app", *ns)["metadata"]["namespace"] == namespace
    assert get("role", "r", *ns)["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
    ]
    binding = get("rolebinding", "rb", *ns)
    assert binding["roleRef"] == {"apiGroup": RBAC, "kind": "Role", "name": "r"}
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "app", "namespace": namespace}
    ]
    cluster = get("clusterrolebinding", f"{namespace}-crb")
    assert cluster["roleRef"] == {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"}
    assert cluster["subjects"] == [{"apiGroup": RBAC, "kind": "User", "name": "j"}]
