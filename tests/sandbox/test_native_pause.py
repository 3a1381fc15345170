"""`--pause` for `rollout rolling` / `rollout recreate`, and what their rollbacks leave:
the real CLI in subprocesses (one per process a user would run) against the sandbox.

A pause comes at the end of each step, after its gates passed: rolling's steps are its
batches (the Deployment stays paused at the boundary) and the last one; recreate's one
step is the whole switch, so its pause comes before Succeeded and the strategy restore.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from rollout.sandbox import SandboxConfig
from rollout.sandbox.config import ImageBehaviour
from tests.sandbox.cli_runs import (
    ANNOTATION,
    APP,
    REPO,
    deploy_app,
    deployment,
    events,
    image,
    record,
    rollout,
    start,
)
from tests.sandbox.conftest import example_config
from tests.sandbox.rollouts import wait_for

Obj = dict[str, Any]
# A strategy unlike the RollingUpdate default, so "put back" cannot pass by accident.
ORIGINAL = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}}


@pytest.fixture
def images() -> dict[str, ImageBehaviour]:
    """The sandbox's per-image behaviour; a test may change an image's entry mid-run
    (existing keys only: the kubelet reads this mapping from its own thread)."""
    return dict(example_config().images)


@pytest.fixture
def sandbox_config(images: dict[str, ImageBehaviour]) -> SandboxConfig:
    base = example_config()
    return SandboxConfig(images=images, traffic=base.traffic, speed=base.speed)


@pytest.fixture
def original(api_client: client.ApiClient, namespace: str) -> str:
    """link-manager v1 (4 replicas) with the ORIGINAL strategy, in a fresh namespace."""
    deploy_app(api_client, namespace, strategy=ORIGINAL)
    return namespace


def _wait_record(
    api: client.ApiClient, namespace: str, predicate: Callable[[Obj], bool], timeout: float = 30
) -> Obj:
    """The rollout record once `predicate` holds for it (watching the Deployment)."""

    def has(d: Obj) -> bool:
        text: str = (d["metadata"].get("annotations") or {}).get(ANNOTATION, "")
        return bool(text) and predicate(json.loads(text))

    found = wait_for(
        client.AppsV1Api(api).list_namespaced_deployment, namespace, APP, has, timeout=timeout
    )
    return json.loads(found["metadata"]["annotations"][ANNOTATION])  # type: ignore[no-any-return]


def _paused_at(step: int) -> Callable[[Obj], bool]:
    return lambda r: r["phase"] == "Paused" and r["step"] == step


def _pods(api: client.ApiClient, namespace: str) -> list[tuple[str, bool]]:
    """(image tag, ready) of each pod that is not terminating."""
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace).items
    return sorted(
        (
            p.spec.containers[0].image.rsplit(":", 1)[-1],
            any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []),
        )
        for p in pods
        if p.metadata.deletion_timestamp is None
    )


def _replicasets(api: client.ApiClient, namespace: str) -> dict[str, int]:
    """ReplicaSet name -> spec.replicas."""
    items = client.AppsV1Api(api).list_namespaced_replica_set(namespace).items
    return {rs.metadata.name: rs.spec.replicas for rs in items}


# -- rolling ---------------------------------------------------------------------------


def test_rolling_manual_pause_exits_4_at_each_batch_with_the_deployment_held(
    app: str, kubeconfig: Path, api_client: client.ApiClient, images: dict[str, ImageBehaviour]
) -> None:
    # v2 pods take 1 s (real) to be ready: one pod at a time (surge 1, none unavailable),
    # so the 3rd new pod cannot be ready before the pause at 2 of 4 has landed
    images[f"{REPO}:v2"] = dataclasses.replace(images[f"{REPO}:v2"], startup_delay=20.0)

    first = rollout(kubeconfig, app, "rolling", APP, "--image", "v2", "--batches", "50%,100%",
                    "--max-surge", "1", "--max-unavailable", "0", "--pause", "manual",
                    "-o", "json")  # fmt: skip
    at_half, pods_at_half = deployment(api_client, app), _pods(api_client, app)
    status = rollout(kubeconfig, app, "status", APP)
    promoted = rollout(kubeconfig, app, "promote", APP)
    second = rollout(kubeconfig, app, "resume", APP, "-o", "json")
    at_full = deployment(api_client, app)
    promoted_again = rollout(kubeconfig, app, "promote", APP)
    done = rollout(kubeconfig, app, "resume", APP, "-o", "json")

    assert first.code == 4, first.stderr
    assert first.result["phase"] == "Paused"
    assert "paused after batch 50%" in first.result["message"]
    assert at_half["spec"]["paused"] is True  # held at the boundary while nobody drives it
    assert at_half["status"]["updatedReplicas"] in (2, 3)  # the 3rd may have been started
    assert pods_at_half.count(("v1", True)) >= 2, pods_at_half
    assert pods_at_half.count(("v2", True)) >= 2, pods_at_half
    assert "goes on to batch 100%" in status.stdout
    assert (promoted.code, promoted_again.code) == (0, 0), promoted.stderr
    assert second.code == 4, second.stderr  # the last step pauses too, before Succeeded
    assert "paused after batch 100%" in second.result["message"]
    assert at_full["spec"]["paused"] is False
    assert at_full["status"]["updatedReplicas"] == 4
    assert done.code == 0, done.stderr
    assert done.result["outcome"] == "promoted"
    assert [s["outcome"] for s in done.result["steps"]] == ["passed", "passed"]
    assert record(api_client, app)["phase"] == "Succeeded"
    assert events(api_client, app).count("RolloutPaused") == 2


def test_rolling_waiting_driver_goes_on_at_each_promote_from_another_process(
    app: str, kubeconfig: Path, api_client: client.ApiClient
) -> None:
    driver = start(kubeconfig, app, "rolling", APP, "--image", "v2", "--batches", "50%,100%",
                   "--pause", "manual", "--wait-at-pause", "-o", "json")  # fmt: skip
    try:
        _wait_record(api_client, app, _paused_at(0))
        held = deployment(api_client, app)["spec"]["paused"]
        first = rollout(kubeconfig, app, "promote", APP)
        _wait_record(api_client, app, _paused_at(1))
        running = deployment(api_client, app)["spec"]["paused"]
        second = rollout(kubeconfig, app, "promote", APP)
        out, err = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate()

    assert held is True
    assert (first.code, second.code) == (0, 0), first.stderr + second.stderr
    assert running is False
    assert driver.returncode == 0, err
    assert json.loads(out)["outcome"] == "promoted"
    assert image(api_client, app) == f"{REPO}:v2"
    assert _pods(api_client, app) == [("v2", True)] * 4


def test_rolling_promote_full_runs_the_remaining_batches_without_pausing(
    app: str, kubeconfig: Path, api_client: client.ApiClient
) -> None:
    first = rollout(kubeconfig, app, "rolling", APP, "--image", "v2",
                    "--batches", "25,50,100", "--pause", "manual")  # fmt: skip
    full = rollout(kubeconfig, app, "promote", APP, "--full")
    done = rollout(kubeconfig, app, "resume", APP, "-o", "json")

    assert (first.code, full.code, done.code) == (4, 0, 0), done.stderr  # no second exit 4
    assert [s["outcome"] for s in done.result["steps"]] == ["passed"] * 3
    assert events(api_client, app).count("RolloutPaused") == 1
    assert image(api_client, app) == f"{REPO}:v2"


def test_rolling_timed_pause_waits_after_each_batch_then_goes_on(
    app: str, kubeconfig: Path, api_client: client.ApiClient
) -> None:
    run = rollout(kubeconfig, app, "rolling", APP, "--image", "v2",
                  "--batches", "50,100", "--pause", "1s", "-o", "json")  # fmt: skip

    assert run.code == 0, run.stderr
    assert run.result["outcome"] == "promoted"
    assert events(api_client, app).count("RolloutPaused") == 2  # after 50% and after 100%


# -- recreate --------------------------------------------------------------------------


def test_recreate_manual_pause_holds_the_new_version_until_promoted(
    original: str, kubeconfig: Path, api_client: client.ApiClient
) -> None:
    ns = original
    paused = rollout(kubeconfig, ns, "recreate", APP, "--image", "v2", "--pause", "manual",
                     "-o", "json")  # fmt: skip
    pods_at_pause = _pods(api_client, ns)
    at_pause = deployment(api_client, ns)
    sets_at_pause = _replicasets(api_client, ns)
    promoted = rollout(kubeconfig, ns, "promote", APP)
    done = rollout(kubeconfig, ns, "resume", APP, "-o", "json")

    assert paused.code == 4, paused.stderr
    assert paused.result["phase"] == "Paused"
    assert "paused after recreate" in paused.result["message"]
    assert pods_at_pause == [("v2", True)] * 4  # new version up (and analysed)
    assert at_pause["spec"]["strategy"]["type"] == "Recreate"  # not restored before Succeeded
    assert promoted.code == 0, promoted.stderr
    assert done.code == 0, done.stderr
    assert done.result["outcome"] == "promoted"
    after = deployment(api_client, ns)
    assert after["spec"]["strategy"] == ORIGINAL
    assert after["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert _replicasets(api_client, ns) == sets_at_pause  # the restore started no rollout
    assert record(api_client, ns)["phase"] == "Succeeded"


def test_recreate_abort_at_the_pause_restores_the_previous_template_and_strategy(
    original: str, kubeconfig: Path, api_client: client.ApiClient
) -> None:
    ns = original
    paused = rollout(kubeconfig, ns, "recreate", APP, "--image", "v2", "--pause", "manual")
    aborted = rollout(kubeconfig, ns, "abort", APP, "-o", "json")

    assert paused.code == 4, paused.stderr
    assert aborted.code == 0, aborted.stderr
    assert aborted.result["outcome"] == "aborted"
    assert "rolled back to" in aborted.result["message"]
    assert image(api_client, ns) == f"{REPO}:v1"
    assert deployment(api_client, ns)["spec"]["strategy"] == ORIGINAL
    assert _pods(api_client, ns) == [("v1", True)] * 4
    assert record(api_client, ns)["phase"] == "Aborted"


# -- what a rollback leaves -------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["rolling", "recreate"])
def test_rollback_says_when_the_previous_version_does_not_become_ready(
    strategy: str,
    app: str,
    kubeconfig: Path,
    api_client: client.ApiClient,
    images: dict[str, ImageBehaviour],
) -> None:
    images[f"{REPO}:v1"] = ImageBehaviour(never_ready=True)  # v1 pods started from now on

    run = rollout(kubeconfig, app, strategy, APP, "--image", "never-ready",
                  "--timeout", "2s", "-o", "json")  # fmt: skip

    assert run.code == 1, run.stderr
    assert run.result["outcome"] == "rolled-back"
    message = run.result["message"]
    assert message.startswith(f"Deployment {app}/{APP} not ready after 2s"), message
    assert "which did not become ready: " in message, message
    assert message.count("not ready after 2s") == 2, message  # the step's, then stable's
    rec = record(api_client, app)
    assert (rec["phase"], rec["message"]) == ("Failed", message)
    assert image(api_client, app) == f"{REPO}:v1"


def test_rollback_to_a_ready_version_says_only_rolled_back(
    app: str, kubeconfig: Path, api_client: client.ApiClient
) -> None:
    run = rollout(kubeconfig, app, "recreate", APP, "--image", "never-ready",
                  "--timeout", "2s", "-o", "json")  # fmt: skip

    assert run.code == 1, run.stderr
    assert "did not become ready" not in run.result["message"]
    assert run.result["message"].endswith(f"rolled back to {REPO}:v1")
    assert _pods(api_client, app) == [("v1", True)] * 4


@pytest.mark.parametrize(("tag", "timeout", "code"), [("v2", "60s", 0), ("never-ready", "2s", 1)])
@pytest.mark.parametrize(
    ("strategy", "flags"), [("recreate", ()), ("rolling", ("--max-surge", "1"))]
)
def test_original_strategy_is_restored_after_success_and_after_rollback(
    strategy: str,
    flags: tuple[str, ...],
    tag: str,
    timeout: str,
    code: int,
    original: str,
    kubeconfig: Path,
    api_client: client.ApiClient,
) -> None:
    run = rollout(kubeconfig, original, strategy, APP, "--image", tag, *flags, "--timeout", timeout)

    assert run.code == code, run.stderr
    assert deployment(api_client, original)["spec"]["strategy"] == ORIGINAL


def test_canary_abort_says_when_the_shrunk_stable_does_not_come_back_ready(
    app: str,
    kubeconfig: Path,
    api_client: client.ApiClient,
    images: dict[str, ImageBehaviour],
) -> None:
    """The canary strategies report stable's readiness the same way (their shared
    CanaryStrategyBase): --shrink-stable took two v1 pods away at 50%, and the two that
    the abort starts again never become ready."""
    paused = rollout(kubeconfig, app, "canary", APP, "--image", "v2", "--steps", "50",
                     "--shrink-stable", "--pause", "manual", "--timeout", "2s")  # fmt: skip
    assert paused.code == 4, paused.stderr
    images[f"{REPO}:v1"] = ImageBehaviour(never_ready=True)

    run = rollout(kubeconfig, app, "abort", APP, "-o", "json")

    assert (run.code, run.result["outcome"]) == (0, "aborted"), run.stderr  # as asked
    message = run.result["message"]
    assert "rolled back to" in message and "which did not become ready: " in message, message
    assert record(api_client, app)["message"] == message
    assert image(api_client, app) == f"{REPO}:v1"
