"""`rollout canary` end to end: the real CLI in a subprocess against the sandbox, a real
Prometheus where checks gate, and TrafficWatch checking on every watch event that the
Service keeps a ready endpoint and that requests split like the ready pods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from rollout.sandbox import Sandbox
from rollout.sandbox.prometheus import PrometheusServer
from tests.factories import make_deployment
from tests.sandbox.cli_runs import (
    APP,
    FAST_ANALYSIS,
    REPO,
    Run,
    deploy_app,
    deployment,
    image,
    lease_exists,
    record,
    rollout,
    start,
)
from tests.sandbox.rollouts import wait_for
from tests.sandbox.traffic_watch import TOLERANCE, TrafficWatch

CANARY = f"{APP}-canary"


def _deployments(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    items = client.AppsV1Api(api).list_namespaced_deployment(namespace).items
    return {d.metadata.name: d for d in items}


def _assert_end_state(api: client.ApiClient, namespace: str, tag: str) -> None:
    """What every canary leaves: the user's Deployment (same name, 4 replicas) on `tag`,
    no canary Deployment, the Service untouched, no lease."""
    assert set(_deployments(api, namespace)) == {APP}
    assert image(api, namespace) == f"{REPO}:{tag}"
    assert deployment(api, namespace)["spec"]["replicas"] == 4
    service = client.CoreV1Api(api).read_namespaced_service(APP, namespace)
    assert service.spec.selector == {"app": APP}
    endpoints = client.CoreV1Api(api).read_namespaced_endpoints(APP, namespace)
    ready = [a.target_ref.name for s in endpoints.subsets or [] for a in s.addresses or []]
    assert ready and not any(n.startswith(CANARY) for n in ready), ready
    assert not lease_exists(api, namespace)


def _assert_invariants(watch: TrafficWatch) -> None:
    """No violation on any event; the canary came and went. (Traffic samples taken while
    the Endpoints changed are dropped, so their number depends on the machine's speed.)"""
    assert watch.violations == []
    assert watch.endpoint_events >= 3
    assert watch.traffic_checks


def _wait_phase(api: client.ApiClient, namespace: str, phase: str) -> None:
    def has(d: dict[str, Any]) -> bool:
        return f'"phase":"{phase}"' in (d["metadata"].get("annotations") or {}).get(
            "rollout.dev/rollout", ""
        )

    wait_for(client.AppsV1Api(api).list_namespaced_deployment, namespace, APP, has, timeout=20)


def test_healthy_image_steps_through_the_split_and_ends_on_stable_with_v2(
    app: str, kubeconfig: Path, api_client: client.ApiClient, sandbox: Sandbox
) -> None:
    sandbox.requests.clear()
    with TrafficWatch(sandbox, api_client, app) as watch:
        run = rollout(
            kubeconfig,
            app,
            "canary",
            APP,
            "--image",
            "v2",
            "--steps",
            "20,50",
            "--pause",
            "2s",
            "-o",
            "json",
        )

    assert run.code == 0, run.stderr
    # preflight sees no canary; step 1 creates it (one request), step 2 resizes it, and it
    # is deleted once stable runs v2
    assert _canary_calls(sandbox, app) == ["get 404", "create", "patch", "get", "delete"]
    steps = run.result["steps"]
    assert [s["name"] for s in steps] == ["canary 20%", "canary 50%", "promote"]
    assert [(s["weight"], s["achieved"]) for s in steps] == [(20, 20.0), (50, 50.0), (100, 100.0)]
    assert steps[0]["message"] == (
        "requested 20%, achieved 20.0%: 1 canary + 4 stable ready endpoints"
    )
    _assert_end_state(api_client, app, "v2")
    _assert_invariants(watch)
    assert sorted(watch.steps) == [0, 1]  # traffic measured while paused at each step
    for sample in watch.steps.values():
        assert abs(sample.traffic - sample.achieved) <= TOLERANCE
        assert sample.stable_replicas == sample.stable_pods == 4  # stable adopted no canary pod


def test_shrink_stable_keeps_the_total_and_can_reach_100_percent(
    app: str, kubeconfig: Path, api_client: client.ApiClient, sandbox: Sandbox
) -> None:
    with TrafficWatch(sandbox, api_client, app) as watch:
        run = rollout(
            kubeconfig,
            app,
            "canary",
            APP,
            "--image",
            "v2",
            "--steps",
            "25,50,100",
            "--shrink-stable",
            "--pause",
            "2s",
            "-o",
            "json",
        )

    assert run.code == 0, run.stderr
    assert [s["achieved"] for s in run.result["steps"]] == [25.0, 50.0, 100.0, 100.0]
    assert {i: s.stable_replicas for i, s in watch.steps.items()} == {0: 3, 1: 2, 2: 0}
    _assert_end_state(api_client, app, "v2")
    _assert_invariants(watch)


def test_failing_image_fails_analysis_and_is_rolled_back_with_measurements(
    shared_app: str,
    shared: tuple[Path, client.ApiClient],
    shared_sandbox: Sandbox,
    prometheus: PrometheusServer,
) -> None:
    kubeconfig, api = shared
    # 20%: one canary pod takes ~10 requests/s. After 3 s (FAST_ANALYSIS) a window may hold
    # only ~10 of them, and none failing (0.8^10 ~ 11%) passes >= 95 (seen once in six
    # full runs); after 6 s, v3 (20% fail) passing is a < 0.1% event.
    with TrafficWatch(shared_sandbox, api, shared_app) as watch:
        run = rollout(
            kubeconfig,
            shared_app,
            "canary",
            APP,
            "--image",
            "v3",
            "--steps",
            "20,50",
            "--check",
            "success-rate>=95",
            *FAST_ANALYSIS,
            "--initial-delay",
            "6s",
            "--prometheus-url",
            prometheus.url,
            "-o",
            "json",
            timeout=90,
        )

    assert run.code == 1, run.stderr
    assert run.result["outcome"] == "rolled-back"
    rec = record(api, shared_app)
    assert rec["phase"] == "Failed"
    first = rec["steps"][0]
    assert (first["outcome"], first["achieved"]) == ("failed", 20.0)
    failed = [m["value"] for m in first["measurements"] if m["outcome"] == "fail"]
    assert failed and all(40 < v < 95 for v in failed), first["measurements"]  # v3: ~80%
    assert "success-rate" in rec["message"]
    assert rec["steps"][1]["outcome"] == "pending"  # never went past 20%
    assert any(ready == 20.0 for ready, _ in watch.traffic_checks)  # sampled at 1 of 5
    _assert_end_state(api, shared_app, "v1")
    _assert_invariants(watch)


def _status(kubeconfig: Path, namespace: str) -> str:
    run = rollout(kubeconfig, namespace, "status", APP)
    assert run.code == 0, run.stderr
    return run.stdout


def test_manual_pause_exits_4_and_promote_then_resume_from_new_processes_finish_it(
    app: str, kubeconfig: Path, api_client: client.ApiClient, sandbox: Sandbox
) -> None:
    with TrafficWatch(sandbox, api_client, app) as watch:
        first = rollout(
            kubeconfig,
            app,
            "canary",
            APP,
            "--image",
            "v2",
            "--steps",
            "20,50",
            "--pause",
            "manual",
            "-o",
            "json",
        )
        paused_status = _status(kubeconfig, app)
        at_20 = watch.canary_traffic()
        runs: list[Run] = []
        for _ in range(2):  # job 2, job 3: promote + resume, each a new process
            promoted = rollout(kubeconfig, app, "promote", APP)
            assert promoted.code == 0, promoted.stderr
            runs.append(rollout(kubeconfig, app, "resume", APP, "-o", "json"))

    assert first.code == 4, first.stderr
    assert first.result["phase"] == "Paused"
    assert first.result["steps"][0]["achieved"] == 20.0
    assert abs(at_20 - 20.0) <= TOLERANCE  # while nobody drives it, the split holds
    assert "canary rollout Paused" in paused_status
    assert "traffic: requested 20%, achieved 20.0%" in paused_status
    assert "goes on to canary 50%" in paused_status
    assert [r.code for r in runs] == [4, 0], [r.stderr for r in runs]
    assert runs[0].result["steps"][1]["achieved"] == 50.0
    _assert_end_state(api_client, app, "v2")
    _assert_invariants(watch)
    assert sorted(watch.steps) == [0, 1]


def test_promote_full_runs_the_remaining_steps_without_pausing(
    app: str, kubeconfig: Path, api_client: client.ApiClient
) -> None:
    first = rollout(
        kubeconfig, app, "canary", APP, "--image", "v2", "--steps", "20,35,50", "--pause", "manual"
    )
    full = rollout(kubeconfig, app, "promote", APP, "--full")
    done = rollout(kubeconfig, app, "resume", APP, "-o", "json")

    assert (first.code, full.code, done.code) == (4, 0, 0), done.stderr  # no second exit 4
    assert [(s["outcome"], s["achieved"]) for s in done.result["steps"]] == [
        ("passed", 20.0),
        ("passed", 33.3),
        ("passed", 50.0),
        ("passed", 100.0),
    ]
    _assert_end_state(api_client, app, "v2")


def test_abort_from_a_second_process_restores_stable_and_the_first_exits_1(
    app: str, kubeconfig: Path, api_client: client.ApiClient, sandbox: Sandbox
) -> None:
    with TrafficWatch(sandbox, api_client, app) as watch:
        first = start(
            kubeconfig,
            app,
            "canary",
            APP,
            "--image",
            "v2",
            "--steps",
            "25,50",
            "--shrink-stable",
            "--pause",
            "manual",
            "--wait-at-pause",
        )
        _wait_phase(api_client, app, "Paused")
        shrunk = deployment(api_client, app)["spec"]["replicas"]
        aborted = rollout(kubeconfig, app, "abort", APP)
        _, err = first.communicate(timeout=30)

    assert shrunk == 3  # stable gave a pod to the canary
    # (canary, all) ready endpoints from the pause (1 + 3) on: the canary left before the
    # stable grew back to 4
    after = watch.splits[watch.splits.index((1, 4)) :]
    assert all(canary == 0 for canary, total in after if total - canary > 3), after
    assert aborted.code == 0, aborted.stderr
    assert first.returncode == 1, err
    rec = record(api_client, app)
    assert rec["phase"] == "Aborted"
    assert rec["steps"][1]["outcome"] == "pending"  # the abort did not pass for a promotion
    _assert_end_state(api_client, app, "v1")  # stable back to 4 replicas
    _assert_invariants(watch)


def test_abort_at_100_percent_brings_stable_back_before_the_canary_goes(
    app: str, kubeconfig: Path, api_client: client.ApiClient, sandbox: Sandbox
) -> None:
    with TrafficWatch(sandbox, api_client, app) as watch:
        paused = rollout(
            kubeconfig,
            app,
            "canary",
            APP,
            "--image",
            "v2",
            "--steps",
            "100",
            "--shrink-stable",
            "--pause",
            "manual",
            "-o",
            "json",
        )
        stable_at_pause = deployment(api_client, app)["spec"]["replicas"]
        aborted = rollout(kubeconfig, app, "abort", APP)  # no driver: abort rolls back itself

    assert paused.code == 4, paused.stderr
    assert paused.result["steps"][0]["achieved"] == 100.0
    assert stable_at_pause == 0  # the canary served everything
    assert aborted.code == 0, aborted.stderr
    assert (4, 4) in watch.splits  # all canary at the pause
    _assert_end_state(api_client, app, "v1")
    _assert_invariants(watch)  # and never an Endpoints without a ready address


def test_unchanged_image_is_nothing_to_do_without_writes(
    app: str, kubeconfig: Path, sandbox: Sandbox
) -> None:
    sandbox.requests.clear()

    run = rollout(kubeconfig, app, "canary", APP, "--image", "v1", "--steps", "20,50")

    assert run.code == 0, run.stderr
    assert "nothing to do" in run.stdout
    assert sandbox.requests.count(writes=True) == 0


def test_dry_run_validates_the_canary_and_persists_nothing(
    app: str, kubeconfig: Path, sandbox: Sandbox
) -> None:
    sandbox.requests.clear()

    run = rollout(
        kubeconfig,
        app,
        "canary",
        APP,
        "--image",
        "v2",
        "--steps",
        "20,50",
        "--dry-run",
        "-o",
        "json",
    )

    assert run.code == 0, run.stderr
    assert run.result["plan"] == ["canary 20%", "canary 50%", "promote"]
    assert sandbox.requests.count(writes=True) >= 1
    assert sandbox.requests.count(persisted=True) == 0


def test_promote_after_a_finished_canary_is_refused(
    app: str, kubeconfig: Path, sandbox: Sandbox
) -> None:
    assert rollout(kubeconfig, app, "canary", APP, "--image", "v2", "--steps", "20").code == 0
    sandbox.requests.clear()

    run = rollout(kubeconfig, app, "promote", APP)

    assert run.code == 2
    assert run.stderr.strip() == (
        f"error: Deployment {app}/{APP}: no rollout in progress (it is Succeeded)"
    )
    assert sandbox.requests.count(writes=True) == 0


@pytest.mark.parametrize("case", ["no-service", "foreign-canary", "other-app-selected"])
def test_bad_cluster_state_exits_2_with_one_line_and_no_writes(
    case: str, api_client: client.ApiClient, namespace: str, kubeconfig: Path, sandbox: Sandbox
) -> None:
    apps = client.AppsV1Api(api_client)
    if case == "no-service":
        apps.create_namespaced_deployment(namespace, make_deployment(APP, image=f"{REPO}:v1"))
    else:
        deploy_app(api_client, namespace)
    if case == "foreign-canary":  # someone else's Deployment with our canary's name
        apps.create_namespaced_deployment(namespace, make_deployment(CANARY, labels={"x": "y"}))
    if case == "other-app-selected":  # another app whose pods the Service also selects
        apps.create_namespaced_deployment(
            namespace, make_deployment("other", labels={"app": APP, "tier": "other"})
        )
    sandbox.requests.clear()

    run = rollout(kubeconfig, namespace, "canary", APP, "--image", "v2", "--steps", "20,50")

    lines = run.stderr.strip().splitlines()
    assert run.code == 2, run.stderr
    assert len(lines) == 1, lines
    assert {
        "no-service": "no Service selects its pods",
        "foreign-canary": "was not created by rollout",
        "other-app-selected": "also selects the pods of Deployment",
    }[case] in lines[0]
    assert sandbox.requests.count(writes=True) == 0


def test_the_canary_deployment_is_marked_and_owned_while_it_runs(
    app: str, kubeconfig: Path, api_client: client.ApiClient
) -> None:
    run = rollout(
        kubeconfig, app, "canary", APP, "--image", "v2", "--steps", "20,50", "--pause", "manual"
    )
    canary = _deployments(api_client, app)[CANARY]
    stable = _deployments(api_client, app)[APP]
    abort = rollout(kubeconfig, app, "abort", APP)

    assert (run.code, abort.code) == (4, 0), abort.stderr
    assert canary.metadata.labels["app.kubernetes.io/managed-by"] == "rollout"
    assert canary.metadata.annotations["rollout.dev/owner"] == f"Deployment/{APP}"
    assert [(o.kind, o.name, o.controller) for o in canary.metadata.owner_references] == [
        ("Deployment", APP, False)
    ]
    assert canary.spec.selector.match_labels == {"app": APP, "rollout.dev/canary": "true"}
    assert canary.spec.template.metadata.labels == {"app": APP, "rollout.dev/canary": "true"}
    assert stable.spec.template.spec.containers[0].image == f"{REPO}:v1"  # stable untouched
    assert CANARY not in _deployments(api_client, app)


def _canary_calls(box: Sandbox, namespace: str) -> list[str]:
    """Verbs (and failures) of rollout's own requests to the canary Deployment (creates go
    to the collection: the canary is the only Deployment rollout creates here)."""
    return [
        req.verb + (f" {code}" if code >= 400 else "")
        for req, code in box.requests.entries
        if req.resource == "deployments" and req.name in (f"{APP}-canary", "")
        and req.verb not in ("list", "watch") and req.namespace == namespace
        and req.user_agent.startswith("rollout/")
    ]  # fmt: skip
