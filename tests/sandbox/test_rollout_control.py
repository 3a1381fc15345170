"""Control of a running rollout: batches pause the Deployment, the lock, kill -9 then
resume/abort, SIGTERM, unreachable Prometheus, and a flaky API."""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from rollout.sandbox import Sandbox
from rollout.sandbox.prometheus import PrometheusServer, free_port
from tests.sandbox.cli_runs import (
    APP,
    FAST_ANALYSIS,
    REPO,
    deploy_app,
    deployment,
    image,
    lease_exists,
    record,
    rollout,
    start,
)
from tests.sandbox.rollouts import rolled_out, wait_for

SLOW_ANALYSIS = ("--check", "success-rate>=95", "--interval", "1s", "--count", "30")


def _wait_phase(api: client.ApiClient, namespace: str, phase: str, timeout: float = 15) -> None:
    """Block until the rollout record says `phase` (watching the Deployment)."""

    def has_phase(d: dict[str, Any]) -> bool:
        text = (d["metadata"].get("annotations") or {}).get("rollout.dev/rollout", "")
        return f'"phase":"{phase}"' in text

    wait_for(
        client.AppsV1Api(api).list_namespaced_deployment, namespace, APP, has_phase, timeout=timeout
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _stuck_rollout(
    api: client.ApiClient, namespace: str, kubeconfig: Path, timeout: str = "30s"
) -> subprocess.Popen[str]:
    """link-manager v1, then a rollout to a never-ready image, running (Progressing)."""
    deploy_app(api, namespace)
    proc = start(
        kubeconfig, namespace, "rolling", APP, "--image", "never-ready", "--timeout", timeout
    )
    _wait_phase(api, namespace, "Progressing")
    return proc


def _assert_aborted_to_stable(api: client.ApiClient, namespace: str) -> None:
    assert image(api, namespace) == f"{REPO}:v1"
    assert record(api, namespace)["phase"] == "Aborted"
    assert not lease_exists(api, namespace)


def test_batches_pause_the_deployment_at_each_boundary_while_analysing(
    shared_app: str, shared: tuple[Path, client.ApiClient], prometheus: PrometheusServer
) -> None:
    kubeconfig, api = shared
    apps = client.AppsV1Api(api)
    apps.patch_namespaced_deployment_scale(APP, shared_app, {"spec": {"replicas": 8}})
    wait_for(apps.list_namespaced_deployment, shared_app, APP, rolled_out, timeout=10)
    held: list[int] = []  # new-version available replicas whenever the Deployment is paused
    done = threading.Event()

    def observe() -> None:
        for event in watch.Watch().stream(
            apps.list_namespaced_deployment, shared_app, timeout_seconds=60
        ):
            if event["raw_object"]["spec"].get("paused"):
                held.extend(
                    (r.status.available_replicas or 0)
                    for r in apps.list_namespaced_replica_set(shared_app).items
                    if r.spec.template.spec.containers[0].image == f"{REPO}:v2"
                )
            if done.is_set():
                return

    observer = threading.Thread(target=observe, daemon=True)
    observer.start()

    run = rollout(
        kubeconfig,
        shared_app,
        "rolling",
        APP,
        "--image",
        "v2",
        "--batches",
        "25%,50%,100%",
        "--max-surge",
        "1",
        "--max-unavailable",
        "0",
        "--check",
        "success-rate>=95",
        *FAST_ANALYSIS,  # new pods need 2 scrapes
        "--prometheus-url",
        prometheus.url,
        "-o",
        "json",
        timeout=90,
    )
    done.set()
    apps.patch_namespaced_deployment(APP, shared_app, {"metadata": {"annotations": {"t": "1"}}})
    observer.join(timeout=10)

    assert run.code == 0, run.stderr
    assert [s["name"] for s in run.result["steps"]] == ["batch 25%", "batch 50%", "batch 100%"]
    assert any(2 <= a < 4 for a in held), held  # held at 25% (2 of 8)
    assert any(4 <= a < 8 for a in held), held  # and at 50%
    assert all(s["measurements"] for s in run.result["steps"])  # analysed at every batch
    assert not deployment(api, shared_app)["spec"].get("paused")


def test_second_rollout_is_refused_with_exit_3_while_one_runs(
    api_client: client.ApiClient, namespace: str, kubeconfig: Path
) -> None:
    first = _stuck_rollout(api_client, namespace, kubeconfig, "20s")

    second = rollout(kubeconfig, namespace, "rolling", APP, "--image", "v2")

    first.send_signal(signal.SIGTERM)
    code, _ = _finish(first)
    assert second.code == 3, second.stderr
    assert "holds lease rollout-link-manager" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert code == 1  # SIGTERM rolled the first back


def test_sigterm_during_a_gate_restores_stable_and_records_aborted(
    api_client: client.ApiClient, namespace: str, kubeconfig: Path
) -> None:
    proc = _stuck_rollout(api_client, namespace, kubeconfig, "30s")

    proc.send_signal(signal.SIGTERM)
    code, err = _finish(proc)

    assert code == 1, err
    _assert_aborted_to_stable(api_client, namespace)


def test_after_kill_9_resume_is_locked_until_expiry_and_abort_restores_stable(
    api_client: client.ApiClient, namespace: str, kubeconfig: Path
) -> None:
    proc = _stuck_rollout(api_client, namespace, kubeconfig, "30s")
    proc.kill()
    _finish(proc)

    locked = rollout(kubeconfig, namespace, "resume", APP)  # the dead holder's lease lives on
    aborted = rollout(kubeconfig, namespace, "abort", APP)  # waits for expiry, takes over

    assert locked.code == 3, locked.stderr
    assert aborted.code == 0, aborted.stderr
    _assert_aborted_to_stable(api_client, namespace)


def test_resume_after_kill_9_takes_over_and_finishes_the_rollout(
    api_client: client.ApiClient, namespace: str, kubeconfig: Path
) -> None:
    deploy_app(api_client, namespace)
    proc = start(
        kubeconfig,
        namespace,
        "rolling",
        APP,
        "--image",
        "v2",
        "--batches",
        "50%,100%",
        "--check",
        "success-rate>=95",
        "--interval",
        "1s",
        "--count",
        "20",
        "--consecutive-error-limit",
        "100",
        "--prometheus-url",
        f"http://127.0.0.1:{free_port()}",
    )
    _wait_phase(api_client, namespace, "Progressing")
    proc.kill()
    _finish(proc)

    run = rollout(kubeconfig, namespace, "resume", APP, "--wait", "-o", "json", timeout=90)

    # Prometheus is unreachable, so the resumed analysis must not promote: it rolls back
    assert run.code == 1, run.stderr
    assert run.result["phase"] == "Failed"
    assert image(api_client, namespace) == f"{REPO}:v1"
    assert not lease_exists(api_client, namespace)


def test_unreachable_prometheus_never_promotes(
    api_client: client.ApiClient, namespace: str, kubeconfig: Path
) -> None:
    deploy_app(api_client, namespace)

    run = rollout(
        kubeconfig,
        namespace,
        "rolling",
        APP,
        "--image",
        "v2",
        "--check",
        "success-rate>=95",
        "--interval",
        "0.2s",
        "--count",
        "5",
        "--prometheus-url",
        f"http://127.0.0.1:{free_port()}",
        "-o",
        "json",
    )

    assert run.code == 1, run.stderr
    outcomes = [m["outcome"] for m in run.result["steps"][-1]["measurements"]]
    assert outcomes == ["error"] * 3  # consecutiveErrorLimit 2 -> the third error fails
    assert image(api_client, namespace) == f"{REPO}:v1"


def test_query_with_no_data_is_inconclusive_and_never_promotes(
    shared_app: str,
    shared: tuple[Path, client.ApiClient],
    prometheus: PrometheusServer,
    tmp_path: Path,
) -> None:
    kubeconfig, api = shared
    spec = tmp_path / "rollout.yaml"
    spec.write_text(f"""
target: {{name: {APP}, namespace: {shared_app}}}
strategy: rolling
image: v2
analysis:
  interval: 0.5s
  count: 2
  checks:
    - name: no-such-metric
      query: sum(rate(does_not_exist_total{{namespace="{{{{namespace}}}}"}}[1m]))
      min: 0
""")

    run = rollout(
        kubeconfig,
        shared_app,
        "run",
        "-f",
        str(spec),
        "--prometheus-url",
        prometheus.url,
        "-o",
        "json",
    )

    assert run.code == 1, run.stderr
    outcomes = {m["outcome"] for s in run.result["steps"] for m in s["measurements"]}
    assert outcomes == {"inconclusive"}
    assert image(api, shared_app) == f"{REPO}:v1"


def test_rollout_succeeds_through_injected_503s_and_dropped_watches(
    app: str, kubeconfig: Path, sandbox: Sandbox, api_client: client.ApiClient
) -> None:
    sandbox.faults.fail(0.1, 503)
    sandbox.faults.fail(1.0, 503, verbs={"patch"}, times=1)  # the image write fails once
    sandbox.faults.cut_watches(after=0.3)

    run = rollout(kubeconfig, app, "rolling", APP, "--image", "v2", "-o", "json", timeout=90)

    sandbox.faults.clear()
    assert run.code == 0, run.stderr
    assert image(api_client, app) == f"{REPO}:v2"
    failed = [req for req, code in sandbox.requests.entries if code == 503]
    assert any(req.verb == "patch" for req in failed)  # a failed write was retried


def test_status_watch_follows_the_record_until_the_rollout_ends(
    api_client: client.ApiClient, namespace: str, kubeconfig: Path
) -> None:
    proc = _stuck_rollout(api_client, namespace, kubeconfig, "2s")

    watched = rollout(kubeconfig, namespace, "status", APP, "--watch", timeout=30)
    code, err = _finish(proc)

    assert code == 1, err
    assert watched.code == 0, watched.stderr
    headlines = [line for line in watched.stdout.splitlines() if line.startswith("Deployment")]
    assert len(headlines) >= 2  # printed again as the record changed
    assert headlines[0].endswith("Progressing")
    assert headlines[-1].endswith("Failed")
