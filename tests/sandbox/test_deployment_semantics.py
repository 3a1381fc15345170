"""Deployment semantics of the sandbox's controllers, seen through the real kubernetes
client and its watches: fenceposts, Recreate, pause, rollback, progress deadline,
revision history, minReadySeconds, crash loops, labels, owners and annotations.

No sleeps: waits follow watches (bounded by timeoutSeconds), or use the manager's
`wait_idle()` to know the controllers have nothing left to do.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from kubernetes import client, watch

from rollout.sandbox import Sandbox
from tests.factories import make_deployment
from tests.sandbox.rollouts import (
    Recorder,
    condition,
    image_of,
    is_ready,
    listing,
    pod_hash,
    wait_for,
    wait_rolled_out,
)

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"


def set_image(apps: client.AppsV1Api, namespace: str, image: str, name: str = "web") -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    apps.patch_namespaced_deployment(name, namespace, patch)


def replica_sets(apps: client.AppsV1Api, namespace: str) -> dict[str, Obj]:
    """ReplicaSets by image."""
    return {
        image_of(rs): rs for rs in listing(apps.list_namespaced_replica_set, namespace)["items"]
    }


def test_rolling_update_of_ten_stays_within_13_pods_and_8_available(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, make_deployment(replicas=10))
    wait_rolled_out(apps, namespace, "web")
    pods = Recorder(core.list_namespaced_pod, namespace)
    sets = Recorder(apps.list_namespaced_replica_set, namespace)

    set_image(apps, namespace, "app:v2")
    wait_rolled_out(apps, namespace, "web")

    survivor = next(p for p in listing(core.list_namespaced_pod, namespace)["items"])
    pod_states = list(pods.finish(core.patch_namespaced_pod, survivor["metadata"]["name"]).states())
    new_rs = replica_sets(apps, namespace)["app:v2"]["metadata"]["name"]
    rs_states = list(sets.finish(apps.patch_namespaced_replica_set, new_rs).states())
    live = [
        [p for p in s.values() if not p["metadata"].get("deletionTimestamp")] for s in pod_states
    ]
    assert len(pod_states) > 30  # every pod of both versions was created, started, readied
    assert max(len(s) for s in live) == 13  # desired 10 + maxSurge 25% rounded up
    assert min(sum(map(is_ready, s)) for s in live) == 8  # 10 - maxUnavailable 25% rounded down
    specs = [sum(rs["spec"]["replicas"] for rs in s.values()) for s in rs_states]
    available = [
        sum((rs.get("status") or {}).get("availableReplicas", 0) for rs in s.values())
        for s in rs_states
    ]
    assert max(specs) == 13 and min(available) >= 8
    assert {pod_hash(p) for p in live[-1]} == {new_rs.rsplit("-", 1)[1]} and len(live[-1]) == 10


def test_recreate_never_runs_old_and_new_pods_together(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    body = make_deployment(replicas=3, strategy={"type": "Recreate"})
    apps.create_namespaced_deployment(namespace, body)
    wait_rolled_out(apps, namespace, "web")
    pods = Recorder(core.list_namespaced_pod, namespace)

    set_image(apps, namespace, "app:v2")
    wait_rolled_out(apps, namespace, "web")

    survivor = listing(core.list_namespaced_pod, namespace)["items"][0]["metadata"]["name"]
    states = list(pods.finish(core.patch_namespaced_pod, survivor).states())
    versions = [{pod_hash(p) for p in s.values()} for s in states]
    assert all(len(v) <= 1 for v in versions)  # never two templates at once
    assert set() in versions  # every old pod went before the first new one came
    assert len(versions[-1]) == 1 and len(states[-1]) == 3


def test_paused_deployment_creates_no_replica_set_until_resumed(
    apps: client.AppsV1Api, namespace: str, sandbox: Sandbox
) -> None:
    apps.create_namespaced_deployment(namespace, make_deployment(replicas=2))
    wait_rolled_out(apps, namespace, "web")

    apps.patch_namespaced_deployment("web", namespace, {"spec": {"paused": True}})
    set_image(apps, namespace, "app:v2")
    assert sandbox.manager.wait_idle()

    paused = wait_for(
        apps.list_namespaced_deployment,
        namespace,
        "web",
        lambda d: condition(d, "Progressing").get("reason") == "DeploymentPaused",
    )
    assert list(replica_sets(apps, namespace)) == ["app:v1"]
    assert paused["status"]["observedGeneration"] == paused["metadata"]["generation"]
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"paused": False}})
    wait_rolled_out(apps, namespace, "web")
    assert sorted(replica_sets(apps, namespace)) == ["app:v1", "app:v2"]


def test_restoring_an_older_template_reuses_its_replica_set_with_a_new_revision(
    apps: client.AppsV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, make_deployment(replicas=2))
    wait_rolled_out(apps, namespace, "web")
    v1 = replica_sets(apps, namespace)["app:v1"]
    set_image(apps, namespace, "app:v2")
    wait_rolled_out(apps, namespace, "web")

    set_image(apps, namespace, "app:v1")
    done = wait_rolled_out(apps, namespace, "web")

    sets = replica_sets(apps, namespace)
    reused = sets["app:v1"]
    assert len(sets) == 2
    assert (reused["metadata"]["name"], reused["metadata"]["uid"]) == (
        v1["metadata"]["name"],
        v1["metadata"]["uid"],
    )
    assert reused["metadata"]["annotations"][REVISION] == "3"
    assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert (reused["spec"]["replicas"], sets["app:v2"]["spec"]["replicas"]) == (2, 0)
    assert done["metadata"]["annotations"][REVISION] == "3"


def test_never_ready_image_exceeds_the_progress_deadline(
    apps: client.AppsV1Api, namespace: str
) -> None:
    body = make_deployment(replicas=2, image="app:never-ready", progressDeadlineSeconds=2)
    apps.create_namespaced_deployment(namespace, body)

    stuck = wait_for(
        apps.list_namespaced_deployment,
        namespace,
        "web",
        lambda d: condition(d, "Progressing").get("status") == "False",
    )

    progressing = condition(stuck, "Progressing")
    rs = next(iter(replica_sets(apps, namespace).values()))["metadata"]["name"]
    assert progressing["reason"] == "ProgressDeadlineExceeded"
    assert progressing["message"] == f'ReplicaSet "{rs}" has timed out progressing.'
    assert condition(stuck, "Available")["status"] == "False"
    assert stuck["status"].get("availableReplicas", 0) == 0


def test_stuck_rollout_times_out_while_old_pods_keep_serving(
    apps: client.AppsV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(
        namespace, make_deployment(replicas=4, progressDeadlineSeconds=2)
    )
    wait_rolled_out(apps, namespace, "web")

    set_image(apps, namespace, "app:never-ready")
    stuck = wait_for(
        apps.list_namespaced_deployment,
        namespace,
        "web",
        lambda d: condition(d, "Progressing").get("status") == "False",
    )

    sets = replica_sets(apps, namespace)
    assert condition(stuck, "Progressing")["reason"] == "ProgressDeadlineExceeded"
    assert stuck["status"]["availableReplicas"] == 3  # 4 - maxUnavailable (25% of 4)
    assert (sets["app:v1"]["spec"]["replicas"], sets["app:never-ready"]["spec"]["replicas"]) == (
        3,
        2,
    )  # 3 + 2 = 4 + maxSurge (25% of 4, rounded up)


def test_revision_history_limit_prunes_the_oldest_replica_sets(
    apps: client.AppsV1Api, namespace: str, sandbox: Sandbox
) -> None:
    body = make_deployment(replicas=1, revisionHistoryLimit=1)
    apps.create_namespaced_deployment(namespace, body)
    for image in ("app:v1", "app:v2", "app:v3"):
        set_image(apps, namespace, image)
        wait_rolled_out(apps, namespace, "web")
    assert sandbox.manager.wait_idle()

    sets = replica_sets(apps, namespace)

    assert sorted(sets) == ["app:v2", "app:v3"]  # the current one plus one old revision
    assert sets["app:v2"]["metadata"]["annotations"][REVISION] == "2"


def test_min_ready_seconds_delays_availability_after_readiness(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str, sandbox: Sandbox
) -> None:
    min_ready = 4.0  # sandbox seconds: 0.2 s of real time at the test clock speed
    apps.create_namespaced_deployment(
        namespace, make_deployment(replicas=2, minReadySeconds=int(min_ready))
    )
    stream = watch.Watch()
    seen_ready_unavailable, became_available = False, None
    for event in stream.stream(apps.list_namespaced_replica_set, namespace, timeout_seconds=5):
        status = event["raw_object"].get("status") or {}
        if status.get("readyReplicas") == 2 and status.get("availableReplicas", 0) < 2:
            seen_ready_unavailable = True
        if status.get("availableReplicas") == 2:
            became_available = time.time()
            stream.stop()

    assert seen_ready_unavailable and became_available is not None
    ready_since = max(_ready_time(p) for p in listing(core.list_namespaced_pod, namespace)["items"])
    assert became_available - ready_since >= sandbox.clock.real(min_ready) - 0.01
    assert wait_rolled_out(apps, namespace, "web")["status"]["availableReplicas"] == 2


def test_crash_looping_image_restarts_and_never_becomes_ready(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, make_deployment(replicas=1, image="app:crash"))
    stream = watch.Watch()
    ever_ready, restarted = False, None
    for event in stream.stream(core.list_namespaced_pod, namespace, timeout_seconds=3):
        pod = event["raw_object"]
        ever_ready = ever_ready or is_ready(pod)
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if statuses and statuses[0].get("restartCount", 0) >= 1:
            restarted = statuses[0]
            stream.stop()

    assert restarted is not None and not ever_ready
    assert restarted["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert restarted["lastState"]["terminated"]["exitCode"] == 1
    d = listing(apps.list_namespaced_deployment, namespace)["items"][0]
    assert d["status"].get("availableReplicas", 0) == 0


def test_pods_carry_the_template_hash_and_controller_owner_references(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    created = apps.create_namespaced_deployment(namespace, make_deployment(replicas=3))
    wait_rolled_out(apps, namespace, "web")

    [rs] = replica_sets(apps, namespace).values()
    pods = listing(core.list_namespaced_pod, namespace)["items"]

    digest = rs["metadata"]["name"].removeprefix("web-")
    assert rs["metadata"]["labels"]["pod-template-hash"] == digest
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": digest}
    assert _controller(rs) == ("Deployment", "web", created.metadata.uid)
    assert len(pods) == 3
    for pod in pods:
        assert pod["metadata"]["labels"] == {"app": "web", "pod-template-hash": digest}
        assert _controller(pod) == ("ReplicaSet", rs["metadata"]["name"], rs["metadata"]["uid"])
        assert pod["metadata"]["name"].startswith(rs["metadata"]["name"] + "-")


def test_each_new_template_gets_the_next_revision_annotation(
    apps: client.AppsV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, make_deployment(replicas=1))
    first = wait_rolled_out(apps, namespace, "web")
    set_image(apps, namespace, "app:v2")
    second = wait_rolled_out(apps, namespace, "web")

    sets = replica_sets(apps, namespace)

    assert first["metadata"]["annotations"][REVISION] == "1"
    assert second["metadata"]["annotations"][REVISION] == "2"
    assert sets["app:v1"]["metadata"]["annotations"][REVISION] == "1"
    assert sets["app:v2"]["metadata"]["annotations"][REVISION] == "2"
    assert (
        sets["app:v2"]["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "2"
    )  # 1 desired + 25% surge rounded up
    assert first["metadata"]["generation"] == 1  # the controller's annotation is not a spec change


def _controller(obj: Obj) -> tuple[str, str, str]:
    [ref] = [r for r in obj["metadata"]["ownerReferences"] if r.get("controller")]
    assert ref["blockOwnerDeletion"] is True
    return ref["kind"], ref["name"], ref["uid"]


def _ready_time(pod: Obj) -> float:
    """Wall-clock time the pod's Ready condition turned True."""
    [ready] = [c for c in pod["status"]["conditions"] if c["type"] == "Ready"]
    assert ready["status"] == "True"
    stamp = ready["lastTransitionTime"].replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(stamp).timestamp()
