"""The example Role (examples/manifests/rbac.yaml) grants exactly what `rollout` uses.

"Uses" is measured, not guessed: every request the CLI (User-Agent rollout/<version>)
sent to the sandbox during the e2e scenarios and dry runs, from the sandbox's request
log. Runs after every other e2e test (conftest orders it last) and, alone, first runs
the scenarios that have not run. On a real cluster the scenarios run the CLI as this
ServiceAccount, so a missing grant fails them there too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from rollout.sandbox import kinds
from tests.e2e.clusters import MANIFESTS, E2ECluster
from tests.e2e.runner import CLUSTER_SCOPED, NON_RESOURCE, Grant, ScenarioRunner, ToolRequests
from tests.e2e.scenarios import ALL, STRATEGIES, is_registered

pytestmark = pytest.mark.e2e
GROUPS = {k.plural: k.group for k in kinds.KINDS}
# `Cluster.wait_for` lists an object, then watches it only if the condition does not hold
# yet: whether the watch happens is a race, so a list of these may need a watch.
WAITED_ON = {"deployments", "replicasets", "endpoints"}
# Readable by every authenticated user (the default system:discovery and
# system:public-info-viewer ClusterRoles): no Role needed.
PUBLIC_PATHS = {"/version", "/api", "/apis", "/healthz", "/livez", "/readyz"}


def documents() -> dict[str, dict]:  # type: ignore[type-arg]
    docs = yaml.safe_load_all((MANIFESTS / "rbac.yaml").read_text())
    return {d["kind"]: d for d in docs if d}


def granted() -> set[Grant]:
    rules = documents()["Role"]["rules"]
    return {(res, verb) for rule in rules for res in rule["resources"] for verb in rule["verbs"]}


def _show(grants: set[Grant]) -> str:
    return ", ".join(f"{verb} {res}" for res, verb in sorted(grants)) or "nothing"


@pytest.fixture(scope="module")
def requests(
    sandbox_cluster: E2ECluster,
    tool_requests: ToolRequests,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ToolRequests]:
    """The CLI's requests in every e2e scenario (running those that have not run)."""
    runner = ScenarioRunner(sandbox_cluster, tool_requests, tmp_path_factory.mktemp("rbac"))
    try:
        pending = [runner.submit(s, k) for s, k in ALL if f"{s}/{k}" not in tool_requests.by_key]
        for future in pending:
            future.exception()  # wait; their own tests judge how they ended
    finally:
        runner.close()
    assert not tool_requests.overflowed, "the sandbox request log dropped entries"
    yield tool_requests


def test_role_grants_every_request_the_tool_made(requests: ToolRequests) -> None:
    used = requests.namespaced()

    missing = used - granted()

    assert used, "no request of the tool was recorded"
    assert not missing, f"the Role lacks: {_show(missing)}"


def test_role_grants_nothing_the_e2e_suite_did_not_use(requests: ToolRequests) -> None:
    unregistered = [s for s in STRATEGIES if not is_registered(s)]
    assert not unregistered, (
        f"strategies {unregistered} are not registered yet, so the suite cannot show what they need"
    )
    used = requests.namespaced()
    may_watch = {(res, "watch") for res, verb in used if verb == "list" and res in WAITED_ON}

    extra = granted() - used - may_watch

    assert not extra, f"the Role grants what no e2e scenario used: {_show(extra)}"


def test_the_tool_needs_no_cluster_wide_permission(requests: ToolRequests) -> None:
    cluster_wide = requests.by_key.get(CLUSTER_SCOPED, set())
    paths = requests.by_key.get(NON_RESOURCE, set())

    assert not cluster_wide, f"a Role cannot grant these: {_show(cluster_wide)}"
    assert {path for path, _ in paths} <= PUBLIC_PATHS, paths
    assert {verb for _, verb in paths} <= {"get"}, paths


def test_each_rule_names_the_api_group_of_its_resources_and_no_wildcards() -> None:
    for rule in documents()["Role"]["rules"]:
        groups = {GROUPS[res.split("/")[0]] for res in rule["resources"]}

        assert set(rule["apiGroups"]) == groups, rule
        assert "*" not in rule["resources"] + rule["verbs"] + rule["apiGroups"], rule


def test_the_binding_gives_the_role_to_the_service_account_only() -> None:
    docs = documents()
    binding = docs["RoleBinding"]

    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": docs["Role"]["metadata"]["name"],
    }
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [
        ("ServiceAccount", docs["ServiceAccount"]["metadata"]["name"])
    ]
