"""ReplicaSet scale and status subresources through the official client, and the status
split of Deployments both ways: the main resource ignores status, /status ignores spec."""

from __future__ import annotations

import pytest
from kubernetes import client

from rollout.sandbox import Sandbox
from tests.factories import make_deployment
from tests.sandbox.rollouts import wait_rolled_out


def make_replica_set(name: str = "web", *, replicas: int = 2) -> dict[str, object]:
    """A standalone ReplicaSet (no Deployment scales it back) selecting `app: <name>`."""
    body = make_deployment(name, replicas=replicas)
    body["kind"] = "ReplicaSet"
    return body


@pytest.fixture
def rs(apps: client.AppsV1Api, namespace: str) -> client.V1ReplicaSet:
    return apps.create_namespaced_replica_set(namespace, make_replica_set())


def _pods_of(sandbox: Sandbox, core: client.CoreV1Api, namespace: str, owner: str) -> int:
    assert sandbox.manager.wait_idle()
    return sum(
        1
        for p in core.list_namespaced_pod(namespace, label_selector="app=web").items
        if [r.name for r in p.metadata.owner_references or []] == [owner]
    )


def test_replica_set_scale_reads_and_patches_replicas_and_the_pods_follow(
    sandbox: Sandbox,
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
    namespace: str,
    rs: client.V1ReplicaSet,
) -> None:
    assert _pods_of(sandbox, core, namespace, "web") == 2
    scale = apps.read_namespaced_replica_set_scale("web", namespace)
    assert (scale.kind, scale.api_version) == ("Scale", "autoscaling/v1")
    assert (scale.metadata.name, scale.metadata.namespace) == ("web", namespace)
    assert (scale.spec.replicas, scale.status.replicas) == (2, 2)
    assert scale.status.selector == "app=web"

    patched = apps.patch_namespaced_replica_set_scale("web", namespace, {"spec": {"replicas": 3}})

    assert patched.kind == "Scale" and patched.spec.replicas == 3
    stored = apps.read_namespaced_replica_set("web", namespace)
    assert stored.spec.replicas == 3
    assert stored.metadata.generation == rs.metadata.generation + 1
    assert _pods_of(sandbox, core, namespace, "web") == 3


def test_replica_set_scale_put_with_a_stale_resource_version_is_409(
    sandbox: Sandbox, apps: client.AppsV1Api, namespace: str, rs: client.V1ReplicaSet
) -> None:
    assert sandbox.manager.wait_idle()
    scale = apps.read_namespaced_replica_set_scale("web", namespace)
    apps.patch_namespaced_replica_set_scale("web", namespace, {"spec": {"replicas": 4}})
    scale.spec.replicas = 0
    with pytest.raises(client.ApiException) as err:
        apps.replace_namespaced_replica_set_scale("web", namespace, scale)
    assert err.value.status == 409
    assert apps.read_namespaced_replica_set("web", namespace).spec.replicas == 4


def test_replica_set_status_patch_ignores_spec_and_keeps_generation(
    apps: client.AppsV1Api, namespace: str, rs: client.V1ReplicaSet
) -> None:
    body = {"spec": {"replicas": 9}, "status": {"replicas": 2, "observedGeneration": 99}}

    written = apps.patch_namespaced_replica_set_status("web", namespace, body)

    assert written.status.observed_generation == 99
    assert written.spec.replicas == 2
    assert written.metadata.generation == rs.metadata.generation
    read = apps.read_namespaced_replica_set_status("web", namespace)
    assert read.spec.replicas == 2


def test_replica_set_status_written_on_the_main_resource_is_ignored(
    apps: client.AppsV1Api, namespace: str, rs: client.V1ReplicaSet
) -> None:
    body = {"spec": {"replicas": 1}, "status": {"replicas": 2, "observedGeneration": 99}}

    written = apps.patch_namespaced_replica_set("web", namespace, body)

    assert written.spec.replicas == 1
    assert written.metadata.generation == rs.metadata.generation + 1
    assert written.status is None or written.status.observed_generation != 99


@pytest.fixture
def web(apps: client.AppsV1Api, namespace: str) -> client.V1Deployment:
    return apps.create_namespaced_deployment(namespace, make_deployment(replicas=2))


def _settle(sandbox: Sandbox, apps: client.AppsV1Api, namespace: str) -> None:
    """Rolled out and nothing queued: no controller write lands between a read and a PUT."""
    wait_rolled_out(apps, namespace, "web")
    assert sandbox.manager.wait_idle()


def test_deployment_status_written_on_the_main_resource_is_ignored(
    apps: client.AppsV1Api, namespace: str, web: client.V1Deployment
) -> None:
    body = {"spec": {"replicas": 3}, "status": {"observedGeneration": 99, "replicas": 7}}

    written = apps.patch_namespaced_deployment("web", namespace, body)

    assert written.spec.replicas == 3
    assert written.status is None or (
        written.status.observed_generation != 99 and written.status.replicas != 7
    )
    read = apps.read_namespaced_deployment_status("web", namespace)
    assert read.status is None or read.status.observed_generation != 99


def test_deployment_put_on_the_main_resource_keeps_the_stored_status(
    sandbox: Sandbox, apps: client.AppsV1Api, namespace: str, web: client.V1Deployment
) -> None:
    _settle(sandbox, apps, namespace)
    current = apps.read_namespaced_deployment("web", namespace)
    before = current.status.to_dict()
    current.spec.replicas = 3
    current.status.observed_generation = 99
    current.status.unavailable_replicas = 42

    replaced = apps.replace_namespaced_deployment("web", namespace, current)

    assert replaced.spec.replicas == 3
    assert replaced.status.to_dict() == before


def test_deployment_status_put_ignores_spec(
    sandbox: Sandbox, apps: client.AppsV1Api, namespace: str, web: client.V1Deployment
) -> None:
    _settle(sandbox, apps, namespace)
    current = apps.read_namespaced_deployment_status("web", namespace)
    current.spec.replicas = 9
    current.spec.template.spec.containers[0].image = "app:v9"
    current.status.observed_generation = 99

    replaced = apps.replace_namespaced_deployment_status("web", namespace, current)

    assert replaced.status.observed_generation == 99
    assert replaced.spec.replicas == 2
    assert replaced.spec.template.spec.containers[0].image == "app:v1"
    assert replaced.metadata.generation == web.metadata.generation
