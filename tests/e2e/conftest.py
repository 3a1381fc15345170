"""Fixtures for the e2e scenarios.

`cluster` runs every test twice: on the sandbox with a real Prometheus scraping it (the
default; never skipped) and on the real cluster named by ROLLOUT_E2E_KUBECONFIG (skipped,
with the reason, when it is unset). `make_env` gives each test fresh namespaces, deleted
at the end; on the sandbox it also files what the `rollout` CLI asked the API for
(`tool_requests`), which test_rbac compares with the example Role.
"""

from __future__ import annotations

import dataclasses
import itertools
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
)
from tests.e2e.scenarios import Env

SPEED = 20.0  # sandbox clock: a 1 s startup delay takes 50 ms
TOOL_AGENT = "rollout/"  # User-Agent prefix of the CLI (rollout.kube: "rollout/<version>")
Grant = tuple[str, str, bool]  # (resource, verb, namespaced)
_names = itertools.count()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run test_rbac last: it compares the Role with what every other e2e test used."""
    items.sort(key=lambda item: item.path.name == "test_rbac.py")


def _api(kubeconfig: Path) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return client.ApiClient(cfg)


@pytest.fixture(scope="session")
def sandbox_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ECluster]:
    """The sandbox (examples/sandbox.yaml, sped up) scraped by a real Prometheus."""
    if not is_installed():
        pytest.fail("the prometheus binary is missing: `apt-get install prometheus` "
                    "(.ci/run installs it)")
    base = SandboxConfig.from_yaml(EXAMPLES / "sandbox.yaml")
    box = Sandbox(dataclasses.replace(base, speed=SPEED)).start()
    prometheus = PrometheusServer([box.url.removeprefix("http://")]).start()
    directory = tmp_path_factory.mktemp("e2e-sandbox")
    kubeconfig = box.write_kubeconfig(directory / "sandbox.kubeconfig")
    api = _api(kubeconfig)
    try:
        prometheus.wait_for_scrape()
        yield E2ECluster("sandbox", kubeconfig, prometheus.url, api, SANDBOX_TIMING,
                         directory / "kube-cache", sandbox=box, served=served_kinds(api))
    finally:
        api.close()
        prometheus.stop()
        box.stop()
    assert box.manager.failures == [], box.manager.failures[0]


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ECluster]:
    """The cluster in ROLLOUT_E2E_KUBECONFIG (as examples/kind/up.sh prepares it)."""
    path = os.environ.get(KUBECONFIG_ENV)
    if not path:
        pytest.skip(f"{KUBECONFIG_ENV} is not set: no real cluster to run on "
                    "(examples/kind/up.sh creates one and prints what to export)")
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
    yield E2ECluster("kubeconfig", kubeconfig, prometheus, api, REAL_TIMING,
                     tmp_path_factory.mktemp("e2e-real") / "kube-cache", served=served)
    api.close()


def _require_ready(url: str) -> None:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=10) as resp:
            ready = resp.status == 200
    except (urllib.error.URLError, OSError):
        ready = False
    if not ready:
        pytest.fail(f"Prometheus at {url} is not ready; set {PROMETHEUS_ENV} "
                    "(examples/kind/up.sh publishes it on http://127.0.0.1:9090)")


@pytest.fixture(scope="session", params=["sandbox", "kubeconfig"])
def cluster(request: pytest.FixtureRequest) -> E2ECluster:
    """Each e2e test runs once per cluster kind."""
    return request.getfixturevalue(f"{request.param}_cluster")  # type: ignore[no-any-return]


@dataclasses.dataclass
class ToolRequests:
    """(resource, verb, namespaced) the `rollout` CLI asked the sandbox for, by test."""

    by_key: dict[str, set[Grant]] = dataclasses.field(default_factory=dict)

    def add(self, key: str, log: RequestLog) -> None:
        entries = _snapshot(log)
        self.by_key.setdefault(key, set()).update(
            (req.resource, req.verb, bool(req.namespace))
            for req, _ in entries
            if req.user_agent.startswith(TOOL_AGENT)
        )

    def union(self) -> set[Grant]:
        return set().union(*self.by_key.values())


def _snapshot(log: RequestLog) -> list[object]:
    for _ in range(3):  # a request finishing right now may mutate the deque mid-copy
        try:
            return list(log.entries)
        except RuntimeError:
            continue
    return list(log.entries)


@pytest.fixture(scope="session")
def tool_requests() -> ToolRequests:
    return ToolRequests()


class Namespaces:
    """Fresh namespaces with link-manager deployed; all deleted on close. On the sandbox,
    the tool's requests are filed under the key given at creation."""

    def __init__(self, cluster: E2ECluster, requests: ToolRequests, directory: Path) -> None:
        self.cluster, self.requests, self.directory = cluster, requests, directory
        self.created: list[tuple[str, str]] = []

    def make(self, key: str, *, istio: bool = False, deploy: bool = True) -> Env:
        if istio and not self.cluster.has_istio:
            pytest.skip(f"{self.cluster.name}: no VirtualService kind, so no Istio "
                        "(examples/kind/up.sh installs it when istioctl is on PATH)")
        self._file_requests()
        name = f"e2e-{os.getpid()}-{next(_names)}"
        self.cluster.create_namespace(name, istio=istio)
        self.created.append((name, key))
        if deploy:
            self.cluster.deploy_app(name, istio=istio)
        return Env(self.cluster, name, self.cluster.tool_kubeconfig(name, self.directory))

    def close(self) -> None:
        self._file_requests()
        for name, _ in self.created:
            self.cluster.delete_namespace(name)

    def _file_requests(self) -> None:
        box = self.cluster.sandbox
        if box is not None and self.created:
            self.requests.add(self.created[-1][1], box.requests)
        if box is not None:
            box.requests.clear()


@pytest.fixture
def make_env(
    cluster: E2ECluster, tool_requests: ToolRequests, request: pytest.FixtureRequest,
    tmp_path: Path,
) -> Iterator[Callable[..., Env]]:
    """`make_env(key=..., istio=...)`: a fresh namespace with link-manager v1 ready."""
    spaces = Namespaces(cluster, tool_requests, tmp_path)

    def make(key: str | None = None, *, istio: bool = False, deploy: bool = True) -> Env:
        return spaces.make(key or request.node.nodeid, istio=istio, deploy=deploy)

    try:
        yield make
    finally:
        spaces.close()
