"""The example manifests and rollout files are valid on every cluster.

Every Kubernetes document of examples/manifests and examples/kind goes through `kubectl
create --dry-run=client` and `--dry-run=server` (the API server validates, nothing
persists), and afterwards none of them exists. A kind the cluster does not serve fails
the test; only on a real cluster without Istio are files with Istio kinds skipped (or
failed under ROLLOUT_E2E_REQUIRE=1). Each examples/rollouts/<strategy>.yaml passes
`rollout run -f FILE --dry-run` against link-manager v1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.clusters import EXAMPLES, MANIFESTS, E2ECluster, skip_or_fail
from tests.e2e.scenarios import (
    STRATEGIES,
    Env,
    deployment,
    is_registered,
    not_registered_message,
)

pytestmark = pytest.mark.e2e
FILES = [*sorted(MANIFESTS.glob("*.yaml")), *sorted((EXAMPLES / "kind").glob("*.yaml"))]
NOT_KUBERNETES = {"cluster.yaml"}  # kind's own config (kind.x-k8s.io): no API object
ISTIO_KINDS = {"VirtualService", "DestinationRule", "Telemetry"}
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


def _object_name(doc: Obj) -> str:
    """What `kubectl ... -o name` prints for `doc`: `deployment.apps/web`, `service/web`."""
    group = doc["apiVersion"].rpartition("/")[0]
    resource = f"{doc['kind'].lower()}.{group}" if group else doc["kind"].lower()
    return f"{resource}/{doc['metadata']['name']}"


def _require_served(cluster: E2ECluster, path: Path, docs: list[Obj]) -> None:
    """Fail when the cluster lacks a kind of `path`; on a real cluster without Istio,
    skip a file with Istio kinds instead (nothing to check them against)."""
    missing = sorted({d["kind"] for d in docs} - cluster.served)
    if missing and cluster.sandbox is None and set(missing) <= ISTIO_KINDS:
        skip_or_fail(f"{cluster.name}: no Istio, so {path.name}'s {missing} cannot be checked")
    assert not missing, f"{cluster.name} does not serve {missing} (in {path.name})"


@pytest.mark.parametrize(
    "path",
    [f for f in FILES if f.name not in NOT_KUBERNETES],
    ids=lambda f: f"{f.parent.name}/{f.name}",
)
def test_manifest_passes_client_and_server_dry_run(
    cluster: E2ECluster, make_env: Callable[..., Env], path: Path, tmp_path: Path
) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    _require_served(cluster, path, docs)
    env = make_env(deploy=False)
    moved_docs = [_for_namespace(d, env.namespace) for d in docs]
    moved = tmp_path / path.name
    moved.write_text(yaml.safe_dump_all(moved_docs))
    scope = ("-n", env.namespace, "-f", str(moved))

    for mode in ("client", "server"):
        out = cluster.kubectl("create", f"--dry-run={mode}", *scope, "-o", "name").stdout
        assert sorted(out.split()) == sorted(_object_name(d) for d in moved_docs), mode
    left = cluster.kubectl("get", *scope, "--ignore-not-found", "-o", "name").stdout
    assert left.split() == [], "a dry run created objects"


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
