"""Control of a running rollout: batches pause the Deployment, the lock, kill -9 then
resume/abort, SIGTERM (in a readiness gate, in analysis, and with --on-interrupt leave),
unreachable Prometheus, a flaky API, and an API down past retries (exit 5)."""

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
    LogTail,
    deploy_app,
    deployment,
    image,
    lease_exists,
    record,
    rollout,
    start,
)
from tests.sandbox.rollouts import rolled_out, wait_for

# To v2 in three batches, one new pod at a time, each batch analysed (new pods need 2
# scrapes; FAST_ANALYSIS waits for them).
BATCHED_ROLLOUT = (
    "rolling", APP, "--image", "v2", "--batches", "25%,50%,100%",
    "--max-surge", "1", "--max-unavailable", "0",
    "--check", "success-rate>=95", *FAST_ANALYSIS,
)  # fmt: skip
SLOW_ANALYSIS = (
    "--check",
    "success-rate>=95",
    "--initial-delay",
    "3s",  # new pods need 2 scrapes
    "--interval",
    "1s",
    "--count",
    "30",
)
"""An analysis that outlasts any test step: 30 measurements a second apart."""


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
        *BATCHED_ROLLOUT,
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


def test_sigterm_during_analysis_restores_stable_and_keeps_the_measurements_so_far(
    shared_app: str, shared: tuple[Path, client.ApiClient], prometheus: PrometheusServer
) -> None:
    kubeconfig, api = shared
    proc = start(
        kubeconfig,
        shared_app,
        "rolling",
        APP,
        "--image",
        "v2",
        *SLOW_ANALYSIS,
        "--prometheus-url",
        prometheus.url,
    )
    tail = LogTail(proc)
    tail.wait_for("analysis.measured", check="success-rate")

    proc.send_signal(signal.SIGTERM)
    run = tail.finish()

    assert run.code == 1, run.stderr
    _assert_aborted_to_stable(api, shared_app)
    rec = record(api, shared_app)
    assert "interrupted by signal" in rec["message"]
    measured = rec["steps"][0]["measurements"]
    assert 1 <= len(measured) < 30, measured  # taken before the signal, kept in the record


def test_on_interrupt_leave_exits_4_and_leaves_the_cluster_for_a_later_abort(
    api_client: client.ApiClient, namespace: str, kubeconfig: Path
) -> None:
    deploy_app(api_client, namespace)
    proc = start(
        kubeconfig,
        namespace,
        "rolling",
        APP,
        "--image",
        "never-ready",
        "--timeout",
        "60s",
        "--on-interrupt",
        "leave",
    )
    wait_for(
        client.AppsV1Api(api_client).list_namespaced_deployment,
        namespace,
        APP,
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["image"].endswith("never-ready"),
        timeout=15,
    )
    before = deployment(api_client, namespace)

    proc.send_signal(signal.SIGTERM)
    code, err = _finish(proc)

    after = deployment(api_client, namespace)
    assert code == 4, err
    assert after["spec"] == before["spec"]  # nothing rolled back, nothing paused
    left = record(api_client, namespace)
    assert left["phase"] == "Progressing"
    assert "left as is" in left["message"]
    assert not lease_exists(api_client, namespace)  # free for `resume` or `abort` at once

    aborted = rollout(kubeconfig, namespace, "abort", APP)

    assert aborted.code == 0, aborted.stderr
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


def test_resume_after_kill_9_into_an_unreachable_prometheus_rolls_back(
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
        "4",
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


def test_resume_after_kill_9_mid_analysis_finishes_without_rerunning_passed_steps(
    shared_app: str, shared: tuple[Path, client.ApiClient], prometheus: PrometheusServer
) -> None:
    kubeconfig, api = shared
    proc = start(
        kubeconfig,
        shared_app,
        *BATCHED_ROLLOUT,
        "--prometheus-url",
        prometheus.url,
    )
    tail = LogTail(proc)
    second = tail.wait_for("step.started", step="batch 50%", timeout=60)
    tail.wait_for("analysis.measured", after=second)
    proc.kill()
    tail.finish()
    before = record(api, shared_app)
    assert [s["outcome"] for s in before["steps"]] == ["passed", "running", "pending"]

    run = rollout(kubeconfig, shared_app, "resume", APP, "--wait", "-o", "json", timeout=90)

    assert run.code == 0, run.stderr
    assert run.result["phase"] == "Succeeded"
    assert image(api, shared_app) == f"{REPO}:v2"
    after = record(api, shared_app)
    assert after["steps"][0] == before["steps"][0]  # batch 25%: not run again
    assert after["steps"][1]["started"] > before["steps"][1]["started"]  # 50%: run again
    assert [s["outcome"] for s in after["steps"]] == ["passed"] * 3
    assert not lease_exists(api, shared_app)


def test_api_down_past_retries_mid_rollout_exits_5_and_the_record_says_where_it_stopped(
    shared_app: str,
    shared: tuple[Path, client.ApiClient],
    shared_sandbox: Sandbox,
    prometheus: PrometheusServer,
) -> None:
    kubeconfig, api = shared
    proc = start(
        kubeconfig,
        shared_app,
        "rolling",
        APP,
        "--image",
        "v2",
        "--batches",
        "50%,100%",
        "--check",
        "success-rate>=95",
        *FAST_ANALYSIS,  # 3 s before the first measurement: time to arm the fault
        "--prometheus-url",
        prometheus.url,
        env={"ROLLOUT_API_RETRY_DEADLINE": "2"},
    )
    tail = LogTail(proc)
    tail.wait_for("gate.passed", step="batch 50%")  # held at 50%; analysis next
    try:
        # every Deployment write fails from now on: the next is step 2's record write
        shared_sandbox.faults.fail(1.0, 503, verbs={"patch", "update"}, resources={"deployments"})
        run = tail.finish(timeout=60)
    finally:
        shared_sandbox.faults.clear()

    assert run.code == 5, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "503" in errors[0], run.stderr
    # The record is written with a Deployment PATCH too, so it cannot say more than its
    # last write before the outage: step 1 (batch 50%) running, not terminal.
    stopped = record(api, shared_app)
    assert stopped["phase"] == "Progressing"
    assert stopped["step"] == 0
    assert stopped["steps"][0]["outcome"] == "running"
    assert not lease_exists(api, shared_app)  # the Lease is not a Deployment: released
    assert image(api, shared_app) == f"{REPO}:v2"  # left where it stopped, not rolled back

    resumed = rollout(kubeconfig, shared_app, "resume", APP, "-o", "json", timeout=90)

    assert resumed.code == 0, resumed.stderr
    assert resumed.result["phase"] == "Succeeded"


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
