"""The example manifests and rollout files are valid on every cluster.

Each manifest goes through `kubectl create --dry-run=client` and `--dry-run=server` (the
API server validates, nothing persists). Kinds a cluster does not serve are left out,
only where expected: the sandbox serves no RBAC kinds and no Istio Telemetry, and a real
cluster without Istio no Istio kinds. Each examples/rollouts/<strategy>.yaml passes
`rollout run -f FILE --dry-run` against link-manager v1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.clusters import EXAMPLES, MANIFESTS, E2ECluster
from tests.e2e.scenarios import (
    STRATEGIES,
    Env,
    deployment,
    is_registered,
    not_registered_message,
)

pytestmark = pytest.mark.e2e
FILES = [*sorted(MANIFESTS.glob("*.yaml")), *sorted((EXAMPLES / "kind").glob("*.yaml"))]
NOT_KUBERNETES = {"cluster.yaml"}  # kind's own config
ISTIO_KINDS = {"VirtualService", "DestinationRule", "Telemetry"}
NOT_IN_SANDBOX = {
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "Telemetry",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
Obj = dict[str, Any]


def _for_namespace(doc: Obj, namespace: str) -> Obj:
    """The document moved into `namespace`; cluster-scoped ones renamed to stay unique
    (a dry-run create of an existing name fails on a cluster set up by up.sh)."""
    meta = doc["metadata"]
    if doc["kind"] in CLUSTER_SCOPED:
        meta["name"] = f"{meta['name']}-{namespace}"
    elif "namespace" in meta:
        meta["namespace"] = namespace
    for subject in doc.get("subjects") or []:
        if "namespace" in subject:
            subject["namespace"] = namespace
    if doc["kind"] == "ClusterRoleBinding":
        doc["roleRef"]["name"] = f"{doc['roleRef']['name']}-{namespace}"
    return doc


def _expected_missing(cluster: E2ECluster) -> set[str]:
    if cluster.sandbox is not None:
        return NOT_IN_SANDBOX
    return set() if cluster.has_istio else ISTIO_KINDS


@pytest.mark.parametrize(
    "path",
    [f for f in FILES if f.name not in NOT_KUBERNETES],
    ids=lambda f: f"{f.parent.name}/{f.name}",
)
def test_manifest_passes_client_and_server_dry_run(
    cluster: E2ECluster, make_env: Callable[..., Env], path: Path, tmp_path: Path
) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    missing = {d["kind"] for d in docs} - cluster.served
    assert missing <= _expected_missing(cluster), f"{cluster.name} does not serve {missing}"
    served = [d for d in docs if d["kind"] in cluster.served]
    if not served:
        return  # nothing this cluster can check (the sandbox and rbac.yaml)
    env = make_env(deploy=False)
    moved = tmp_path / path.name
    moved.write_text(yaml.safe_dump_all([_for_namespace(d, env.namespace) for d in served]))

    for mode in ("client", "server"):
        out = cluster.kubectl(
            "create", f"--dry-run={mode}", "-n", env.namespace, "-f", str(moved), "-o", "name"
        ).stdout.split()
        assert len(out) == len(served), (mode, out)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rollout_file_passes_a_dry_run_and_changes_nothing(
    cluster: E2ECluster, make_env: Callable[..., Env], strategy: str
) -> None:
    assert is_registered(strategy), not_registered_message(strategy)
    env = make_env(istio=strategy == "istio-canary")
    before = deployment(cluster, env.namespace)

    run = env.rollout(
        "run",
        "-f",
        str(EXAMPLES / "rollouts" / f"{strategy}.yaml"),
        "--dry-run",
        "--prometheus-url",
        cluster.prometheus_url,
        "-o",
        "json",
    )

    assert run.code == 0, run
    assert run.result["outcome"] == "dry-run", run.result
    assert run.result["plan"], run.result
    after = deployment(cluster, env.namespace)
    assert after["spec"] == before["spec"]
    assert after["metadata"].get("annotations") == before["metadata"].get("annotations")
