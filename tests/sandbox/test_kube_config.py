"""The CLI picks its cluster like kubectl: KUBECONFIG lists merged, `--context` choosing.

Each test runs the real `rollout` CLI against a sandbox with link-manager, reached only
through the kubeconfig under test (no `--kubeconfig`, no `-n`), and a second sandbox or
a closed port the wrong choice would reach; the request logs show which was used.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from rollout.sandbox import Sandbox
from tests.sandbox.cli_runs import APP, ENV, REPO, image
from tests.sandbox.conftest import example_config
from tests.sandbox.kube_support import closed_port


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", **doc}))
    return path


def entries(name: str, server: str, namespace: str) -> dict[str, Any]:
    """Cluster, user and context entries all called `name`."""
    return {
        "clusters": [{"name": name, "cluster": {"server": server}}],
        "users": [{"name": name, "user": {"token": "t"}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}
        ],
    }


def rollout_with(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`rollout rolling link-manager --image v2 ARGS` with this environment's kubeconfig."""
    return subprocess.run(
        [sys.executable, "-m", "rollout", "rolling", APP, "--image", "v2", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={**{k: v for k, v in ENV.items() if k != "KUBECONFIG"}, **env},
    )


@pytest.fixture
def other_sandbox() -> Iterator[Sandbox]:
    box = Sandbox(example_config()).start()
    yield box
    box.stop()


def test_kubeconfig_env_listing_two_files_merges_them(
    sandbox: Sandbox, app: str, api_client: client.ApiClient, tmp_path: Path
) -> None:
    # the first file: the current context only; its cluster and user are in the second,
    # whose own current-context (a closed port) loses to the first file's
    box = entries("box", sandbox.url, app)
    first = write(
        tmp_path / "first",
        {"current-context": "box", "contexts": box["contexts"]},
    )
    dead = entries("dead", f"http://127.0.0.1:{closed_port()}", app)
    second = write(
        tmp_path / "second",
        {
            "current-context": "dead",
            "clusters": box["clusters"] + dead["clusters"],
            "users": box["users"] + dead["users"],
            "contexts": dead["contexts"],
        },
    )

    run = rollout_with({"KUBECONFIG": os.pathsep.join([str(first), str(second)])})

    assert run.returncode == 0, run.stderr
    assert image(api_client, app) == f"{REPO}:v2"  # namespace from the first file's context


def test_context_flag_selects_a_non_current_context(
    sandbox: Sandbox,
    other_sandbox: Sandbox,
    app: str,
    api_client: client.ApiClient,
    tmp_path: Path,
) -> None:
    current = entries("current", other_sandbox.url, app)
    chosen = entries("chosen", sandbox.url, app)
    both = write(
        tmp_path / "config",
        {"current-context": "current", **{k: current[k] + chosen[k] for k in current}},
    )
    other_sandbox.requests.clear()

    run = rollout_with({"KUBECONFIG": str(both)}, "--context", "chosen")

    assert run.returncode == 0, run.stderr
    assert image(api_client, app) == f"{REPO}:v2"
    assert other_sandbox.requests.count() == 0  # the current context was never used
