"""Fixtures for tests that run the sandbox for real and talk to it over HTTP.

`sandbox` is fresh per test; `shared_sandbox` + `prometheus` are one per session
(Prometheus takes seconds to start and to scrape a new target).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from rollout import kube
from rollout.sandbox import Sandbox, SandboxConfig
from rollout.sandbox.prometheus import PrometheusServer, is_installed
from rollout.settings import FAST as FAST_SETTINGS
from tests.sandbox.cli_runs import deploy_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FAST = 20.0  # sandbox clock speed in tests: a 1 s startup takes 50 ms
_names = itertools.count()


def example_config(speed: float = FAST) -> SandboxConfig:
    """examples/sandbox.yaml with the clock sped up."""
    base = SandboxConfig.from_yaml(EXAMPLES / "sandbox.yaml")
    return SandboxConfig(images=base.images, traffic=base.traffic, speed=speed)


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """Override in a test module to change behaviour; defaults to the example config."""
    return example_config()


@pytest.fixture
def sandbox(sandbox_config: SandboxConfig) -> Iterator[Sandbox]:
    """A running sandbox for this test only; fails the test if a controller crashed."""
    box = Sandbox(sandbox_config).start()
    try:
        yield box
    finally:
        box.stop()
    assert box.manager.failures == [], box.manager.failures[0]


@pytest.fixture
def kubeconfig(sandbox: Sandbox, tmp_path: Path) -> Path:
    return sandbox.write_kubeconfig(tmp_path / "kubeconfig")


def api_client_for(kubeconfig: Path) -> client.ApiClient:
    """A kubernetes ApiClient of its own (no global configuration touched)."""
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return client.ApiClient(cfg)


@pytest.fixture
def api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    api = api_client_for(kubeconfig)
    yield api
    api.close()


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def namespace(core: client.CoreV1Api) -> str:
    """A namespace unique to this test."""
    name = f"t{os.getpid()}-{next(_names)}"
    core.create_namespace({"metadata": {"name": name}})
    return name


class Kubectl:
    """Runs the real kubectl against one kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 60, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["kubectl", f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}"
            )
        return proc


@pytest.fixture
def kubectl(kubeconfig: Path) -> Kubectl:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed on this machine (it is on the project's CI)")
    return Kubectl(kubeconfig)


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    """One sandbox for the whole session, scraped by the session's Prometheus."""
    box = Sandbox(example_config()).start()
    yield box
    box.stop()


@pytest.fixture(scope="session")
def prometheus(shared_sandbox: Sandbox) -> Iterator[PrometheusServer]:
    """A real Prometheus (Debian package `prometheus`) scraping `shared_sandbox` every 1 s."""
    if not is_installed():
        pytest.fail(
            "the prometheus binary is missing: `apt-get install prometheus` (.ci/run installs it)"
        )
    server = PrometheusServer([shared_sandbox.url.removeprefix("http://")]).start()
    server.wait_for_scrape()
    yield server
    server.stop()


@pytest.fixture
def shared_client(shared_sandbox: Sandbox, tmp_path: Path) -> Iterator[client.ApiClient]:
    api = api_client_for(shared_sandbox.write_kubeconfig(tmp_path / "shared.kubeconfig"))
    yield api
    api.close()


def deep_get(obj: Any, *path: str) -> Any:
    """obj[a][b]... or None."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


# -- link-manager apps for the rollout CLI tests ------------------------------------------


@pytest.fixture
def app(api_client: client.ApiClient, namespace: str) -> str:
    """link-manager v1 (4 replicas) + Service in a fresh namespace of a fresh sandbox."""
    deploy_app(api_client, namespace)
    return namespace


@pytest.fixture
def shared(shared_sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[Path, client.ApiClient]]:
    """Kubeconfig + client for the session sandbox that Prometheus scrapes."""
    path = shared_sandbox.write_kubeconfig(tmp_path / "shared.kubeconfig")
    api = api_client_for(path)
    yield path, api
    api.close()


@pytest.fixture
def shared_app(shared: tuple[Path, client.ApiClient]) -> str:
    """link-manager v1 in a fresh namespace of the scraped session sandbox."""
    _, api = shared
    name = f"roll{os.getpid()}-{next(_names)}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    deploy_app(api, name)
    return name


@pytest.fixture
def cluster(kubeconfig: Path, namespace: str) -> Iterator[kube.Cluster]:
    """rollout's Cluster on the sandbox, in the test's namespace, with fast retry settings."""
    with kube.Cluster.connect(
        kubeconfig=str(kubeconfig), namespace=namespace, settings=FAST_SETTINGS
    ) as c:
        yield c
