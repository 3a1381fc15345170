"""Fixtures for the e2e scenarios.

`cluster` runs every test twice: on the sandbox with a real Prometheus scraping it (the
default; never skipped) and on the real cluster named by ROLLOUT_E2E_KUBECONFIG (skipped,
with the reason, when it is unset). `runner` starts every selected scenario of a cluster
at once, each in a fresh namespace; `take` hands a test its scenario's result and deletes
the namespace afterwards; `make_env` gives a test a namespace of its own. At the end of
the session no e2e namespace may be left, nor stuck Terminating. On the sandbox
the `rollout` CLI's requests are filed in `tool_requests`, which test_rbac compares with
the example Role.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from rollout.sandbox import Sandbox, SandboxConfig
from rollout.sandbox.faults import RequestLog
from rollout.sandbox.prometheus import PrometheusServer, is_installed
from tests.e2e.clusters import (
    DEFAULT_PROMETHEUS,
    EXAMPLES,
    KUBECONFIG_ENV,
    PROMETHEUS_ENV,
    REAL_TIMING,
    SANDBOX_TIMING,
    E2ECluster,
    served_kinds,
    skip_or_fail,
)
from tests.e2e.runner import Done, ScenarioRunner, ToolRequests, leftover_namespaces
from tests.e2e.scenarios import Env, is_registered, not_registered_message

SPEED = 20.0  # sandbox clock: a 1 s startup delay takes 50 ms
REQUEST_LOG_SIZE = 500_000  # entries; the whole e2e suite makes a few thousand requests


REAL_CLUSTER_TEST_TIMEOUT = 3600  # seconds: real pods and 10 s analysis intervals


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run test_rbac last (it compares the Role with what every other e2e test used), and
    give tests on a real cluster more than the suite's default timeout."""
    items.sort(key=lambda item: item.path.name == "test_rbac.py")
    for item in items:
        spec = getattr(item, "callspec", None)
        if spec is not None and spec.params.get("cluster") == "kubeconfig":
            item.add_marker(pytest.mark.timeout(REAL_CLUSTER_TEST_TIMEOUT))


def _api(kubeconfig: Path) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return client.ApiClient(cfg)


@pytest.fixture(scope="session")
def sandbox_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ECluster]:
    """The sandbox (examples/sandbox.yaml, sped up) scraped by a real Prometheus."""
    if not is_installed():
        pytest.fail(
            "the prometheus binary is missing: `apt-get install prometheus` (.ci/run installs it)"
        )
    base = SandboxConfig.from_yaml(EXAMPLES / "sandbox.yaml")
    box = Sandbox(dataclasses.replace(base, speed=SPEED))
    # before start, as bench/ does: the whole suite's requests stay in the log (test_rbac)
    box.requests = box.api.requests = RequestLog(keep=REQUEST_LOG_SIZE)
    box.start()
    prometheus = PrometheusServer([box.url.removeprefix("http://")]).start()
    directory = tmp_path_factory.mktemp("e2e-sandbox")
    kubeconfig = box.write_kubeconfig(directory / "sandbox.kubeconfig")
    api = _api(kubeconfig)
    try:
        prometheus.wait_for_scrape()
        cluster = E2ECluster(
            "sandbox",
            kubeconfig,
            prometheus.url,
            api,
            SANDBOX_TIMING,
            directory / "kube-cache",
            sandbox=box,
            served=served_kinds(api),
        )
        yield cluster
        _assert_namespaces_deleted(cluster)
    finally:
        api.close()
        prometheus.stop()
        box.stop()
    assert box.manager.failures == [], box.manager.failures[0]


@pytest.fixture(scope="session")
def kubeconfig_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ECluster]:
    """The cluster in ROLLOUT_E2E_KUBECONFIG (as examples/kind/up.sh prepares it)."""
    path = os.environ.get(KUBECONFIG_ENV)
    if not path:
        skip_or_fail(
            f"{KUBECONFIG_ENV} is not set: no real cluster to run on "
            "(examples/kind/up.sh creates one and prints what to export)"
        )
    kubeconfig = Path(path).resolve()
    if not kubeconfig.is_file():
        pytest.fail(f"{KUBECONFIG_ENV}={path}: no such file")
    prometheus = os.environ.get(PROMETHEUS_ENV) or DEFAULT_PROMETHEUS
    _require_ready(prometheus)
    api = _api(kubeconfig)
    try:
        served = served_kinds(api)
    except (ApiException, urllib.error.URLError, OSError) as e:
        api.close()
        pytest.fail(f"{KUBECONFIG_ENV}={path}: the cluster does not answer: {e}")
    cluster = E2ECluster(
        "kubeconfig",
        kubeconfig,
        prometheus,
        api,
        REAL_TIMING,
        tmp_path_factory.mktemp("e2e-real") / "kube-cache",
        served=served,
    )
    try:
        yield cluster
        _assert_namespaces_deleted(cluster)
    finally:
        api.close()


def _assert_namespaces_deleted(cluster: E2ECluster) -> None:
    """Every test deleted its namespace, and each deletion finished (none stuck
    Terminating); runs once every runner and test of the session is done."""
    left = leftover_namespaces(cluster)
    assert not left, f"{cluster.name}: e2e namespaces left behind: {', '.join(left)}"


def _require_ready(url: str) -> None:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=10) as resp:
            ready = resp.status == 200
    except (urllib.error.URLError, OSError):
        ready = False
    if not ready:
        pytest.fail(
            f"Prometheus at {url} is not ready; set {PROMETHEUS_ENV} "
            "(examples/kind/up.sh publishes it on http://127.0.0.1:9090)"
        )


@pytest.fixture(scope="session", params=["sandbox", "kubeconfig"])
def cluster(request: pytest.FixtureRequest) -> E2ECluster:
    """Each e2e test runs once per cluster kind."""
    return request.getfixturevalue(f"{request.param}_cluster")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def tool_requests() -> ToolRequests:
    """What the CLI asked the sandbox for, filed by scenario (test_rbac reads it)."""
    return ToolRequests()


@pytest.fixture(scope="session")
def runner(
    cluster: E2ECluster,
    tool_requests: ToolRequests,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ScenarioRunner]:
    """Scenarios of this cluster; every selected one starts now, in the background."""
    run = ScenarioRunner(cluster, tool_requests, tmp_path_factory.mktemp(f"e2e-{cluster.name}"))
    for item in request.session.items:
        name = getattr(getattr(item, "function", None), "e2e_scenario", None)
        params = getattr(item, "callspec", None)
        if name is None or params is None or params.params.get("cluster") != cluster.name:
            continue
        strategy = params.params["strategy"]
        if is_registered(strategy) and (strategy != "istio-canary" or cluster.has_istio):
            run.submit(name, strategy)
    try:
        yield run
    finally:
        run.close()


@pytest.fixture
def take(runner: ScenarioRunner) -> Iterator[Callable[[str, str], Done]]:
    """`take(scenario, strategy)`: its result; its namespace is deleted after the test."""
    taken: list[Done] = []

    def get(name: str, strategy: str) -> Done:
        assert is_registered(strategy), not_registered_message(strategy)
        taken.append(runner.result(name, strategy))
        return taken[-1]

    yield get
    for done in taken:
        runner.namespaces.delete(done.env.namespace)


@pytest.fixture
def make_env(
    runner: ScenarioRunner, tool_requests: ToolRequests, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Env]]:
    """`make_env(istio=...)`: a fresh namespace with link-manager v1 ready, for this test."""
    made: list[Env] = []

    def make(*, istio: bool = False, deploy: bool = True) -> Env:
        if istio and not runner.cluster.has_istio:
            skip_or_fail(f"{runner.cluster.name}: no Istio (no VirtualService kind)")
        made.append(runner.namespaces.make(istio=istio, deploy=deploy))
        return made[-1]

    yield make
    box = runner.cluster.sandbox
    for env in made:
        if box is not None:
            tool_requests.add(request.node.nodeid, box.requests, env.namespace)
        runner.namespaces.delete(env.namespace)
