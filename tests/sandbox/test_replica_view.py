"""The live view's ready-pod counts come from one ReplicaSet watch that follows a real
rolling update from all-old to all-new."""

from __future__ import annotations

import threading

from kubernetes import client

from rollout import kube, replicas
from rollout.settings import FAST
from tests.sandbox.cli_runs import APP, REPO, deploy_app


def test_ready_counts_follow_a_rolling_update_from_old_to_new(
    cluster: kube.Cluster, api_client: client.ApiClient, namespace: str
) -> None:
    deploy_app(api_client, namespace)
    seen: list[replicas.ReadyCount] = []
    all_old, all_new = threading.Event(), threading.Event()

    def report(count: replicas.ReadyCount) -> None:
        seen.append(count)
        if count == replicas.ReadyCount(old=4, new=0):
            all_old.set()
        if count == replicas.ReadyCount(old=0, new=4):
            all_new.set()

    app = client.AppsV1Api(api_client).read_namespaced_deployment(APP, namespace)
    pod_labels = app.spec.template.metadata.labels
    new = {"app": f"{REPO}:v2"}
    with replicas.watch_ready(cluster, namespace, pod_labels, new, settings=FAST, report=report):
        client.AppsV1Api(api_client).patch_namespaced_deployment(
            APP,
            namespace,
            {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "app", "image": f"{REPO}:v2"}]}}
                }
            },
        )
        assert all_new.wait(timeout=20), seen

    watchers = [t for t in threading.enumerate() if t.name == replicas.THREAD_NAME]
    for t in watchers:
        t.join(timeout=replicas.WATCH_SECONDS + 5)
    assert not any(t.is_alive() for t in watchers)  # ends by itself after the block
    assert any(0 < c.new < 4 for c in seen), seen  # and the way across
