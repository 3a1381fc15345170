"""Writes through the official client: the three patch types, optimistic concurrency,
status and scale subresources, deletion propagation with garbage collection, dry runs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client, watch

from rollout.sandbox import Sandbox, kinds
from tests.factories import make_deployment, make_destination_rule, make_virtual_service

Obj = dict[str, Any]
ISTIO = "networking.istio.io"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
IMAGE_PATCH = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}}


def _containers(dep: Any) -> list[tuple[str, str]]:
    return [(c.name, c.image) for c in dep.spec.template.spec.containers]


@pytest.fixture
def web(apps: client.AppsV1Api, namespace: str) -> client.V1Deployment:
    """Deployment `web` (2 replicas) with containers app (app:v1) and a sidecar."""
    return apps.create_namespaced_deployment(
        namespace, make_deployment(replicas=2, sidecar="proxy:1.0")
    )


def test_strategic_merge_image_patch_keeps_the_sidecar(
    apps: client.AppsV1Api, namespace: str, web: client.V1Deployment
) -> None:
    patched = apps.patch_namespaced_deployment("web", namespace, IMAGE_PATCH)
    assert _containers(patched) == [("app", "app:v2"), ("sidecar", "proxy:1.0")]
    assert patched.spec.template.spec.containers[0].ports[0].container_port == 8080


def test_merge_patch_replaces_lists_wholesale(
    apps: client.AppsV1Api, namespace: str, web: client.V1Deployment
) -> None:
    patched = apps.patch_namespaced_deployment(
        "web", namespace, IMAGE_PATCH, _content_type=MERGE_PATCH
    )
    assert _containers(patched) == [("app", "app:v2")]


def test_json_patch_applies_operations_in_order(
    apps: client.AppsV1Api, namespace: str, web: client.V1Deployment
) -> None:
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "proxy:2.0"},
        {"op": "add", "path": "/metadata/labels/patched", "value": "json"},
    ]
    patched = apps.patch_namespaced_deployment("web", namespace, ops, _content_type=JSON_PATCH)
    assert _containers(patched) == [("app", "app:v1"), ("sidecar", "proxy:2.0")]
    assert patched.metadata.labels["patched"] == "json"


def test_failed_json_patch_test_op_is_422_and_changes_nothing(
    apps: client.AppsV1Api, namespace: str, web: client.V1Deployment
) -> None:
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 7},
        {"op": "replace", "path": "/spec/replicas", "value": 9},
    ]
    with pytest.raises(client.ApiException) as err:
        apps.patch_namespaced_deployment("web", namespace, ops, _content_type=JSON_PATCH)
    assert err.value.status == 422
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 2


def test_custom_objects_patch_defaults_to_merge_patch(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    custom.create_namespaced_custom_object(
        ISTIO, "v1beta1", namespace, "virtualservices", make_virtual_service(weights=(90, 10))
    )
    route = [
        {"destination": {"host": "web", "subset": "stable"}, "weight": 50},
        {"destination": {"host": "web", "subset": "canary"}, "weight": 50},
    ]
    patched = custom.patch_namespaced_custom_object(
        ISTIO,
        "v1beta1",
        namespace,
        "virtualservices",
        "web",
        {"spec": {"http": [{"name": "primary", "route": route}]}},
    )
    assert [r["weight"] for r in patched["spec"]["http"][0]["route"]] == [50, 50]
    assert patched["spec"]["hosts"] == ["web"]


def test_stale_resource_version_on_put_is_409_conflict(
    apps: client.AppsV1Api, namespace: str, web: client.V1Deployment
) -> None:
    stale = apps.read_namespaced_deployment("web", namespace)
    apps.patch_namespaced_deployment("web", namespace, {"metadata": {"labels": {"a": "b"}}})
    stale.spec.replicas = 5
    with pytest.raises(client.ApiException) as err:
        apps.replace_namespaced_deployment("web", namespace, stale)
    assert err.value.status == 409
    assert err.value.reason == "Conflict"
    assert '"reason": "Conflict"' in err.value.body or '"reason":"Conflict"' in err.value.body
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 2


def test_patch_carrying_a_stale_resource_version_is_409_conflict(
    core: client.CoreV1Api, namespace: str
) -> None:
    made = core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    core.patch_namespaced_config_map("c", namespace, {"data": {"k": "1"}})
    body = {"metadata": {"resourceVersion": made.metadata.resource_version}, "data": {"k": "2"}}
    with pytest.raises(client.ApiException) as err:
        core.patch_namespaced_config_map("c", namespace, body)
    assert err.value.status == 409
    current = core.read_namespaced_config_map("c", namespace)
    assert current.data == {"k": "1"}
    fresh = {"metadata": {"resourceVersion": current.metadata.resource_version}, "data": {"k": "3"}}
    assert core.patch_namespaced_config_map("c", namespace, fresh).data == {"k": "3"}


def _hpa(name: str = "h") -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {
            "maxReplicas": 3,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        },
    }


def test_status_written_on_the_main_resource_is_ignored(
    api_client: client.ApiClient, namespace: str
) -> None:
    hpas = client.AutoscalingV2Api(api_client)
    hpas.create_namespaced_horizontal_pod_autoscaler(namespace, _hpa())
    body = {"spec": {"maxReplicas": 4}, "status": {"currentReplicas": 7, "desiredReplicas": 7}}
    written = hpas.patch_namespaced_horizontal_pod_autoscaler("h", namespace, body)
    assert written.spec.max_replicas == 4
    assert written.status is None or written.status.current_replicas != 7


def test_spec_written_on_the_status_subresource_is_ignored(
    api_client: client.ApiClient, namespace: str
) -> None:
    hpas = client.AutoscalingV2Api(api_client)
    hpas.create_namespaced_horizontal_pod_autoscaler(namespace, _hpa())
    body = {"spec": {"maxReplicas": 9}, "status": {"currentReplicas": 2, "desiredReplicas": 2}}
    written = hpas.patch_namespaced_horizontal_pod_autoscaler_status("h", namespace, body)
    assert written.status.current_replicas == 2
    assert written.spec.max_replicas == 3
    read = hpas.read_namespaced_horizontal_pod_autoscaler_status("h", namespace)
    assert (read.spec.max_replicas, read.status.desired_replicas) == (3, 2)


@pytest.mark.parametrize("plural", ["virtualservices", "destinationrules"])
def test_istio_status_is_a_subresource_the_main_resource_cannot_write(
    custom: client.CustomObjectsApi, namespace: str, plural: str
) -> None:
    body = make_virtual_service() if plural == "virtualservices" else make_destination_rule()
    made = custom.create_namespaced_custom_object(
        ISTIO, "v1", namespace, plural, {**body, "status": {"on": "create"}}
    )
    assert "status" not in made
    istiod = {"validationMessages": [{"type": {"code": "IST0101"}}]}
    custom.patch_namespaced_custom_object_status(
        ISTIO, "v1", namespace, plural, "web", {"status": istiod}
    )
    labelled = custom.patch_namespaced_custom_object(
        ISTIO,
        "v1",
        namespace,
        plural,
        "web",
        {"metadata": {"labels": {"by": "user"}}, "status": {"on": "main"}},
    )
    assert labelled["status"] == istiod
    assert labelled["metadata"]["labels"] == {"by": "user"}
    assert labelled["metadata"]["generation"] == 1


def test_deployment_status_patch_ignores_spec_and_keeps_generation(
    apps: client.AppsV1Api, namespace: str, web: client.V1Deployment
) -> None:
    body = {"spec": {"replicas": 9}, "status": {"observedGeneration": 99}}
    written = apps.patch_namespaced_deployment_status("web", namespace, body)
    assert written.spec.replicas == 2
    assert written.status.observed_generation == 99
    assert written.metadata.generation == web.metadata.generation


def _settled(sandbox: Sandbox, apps: client.AppsV1Api, namespace: str, name: str = "web") -> None:
    """Wait until the controllers are done with Deployment `name`: every replica available
    and observed, then nothing queued, so no status write lands after this returns."""
    stream = watch.Watch()
    for event in stream.stream(
        apps.list_namespaced_deployment,
        namespace,
        field_selector=f"metadata.name={name}",
        timeout_seconds=10,
    ):
        d, status = event["object"], event["object"].status
        if (
            status is not None
            and status.observed_generation == d.metadata.generation
            and ((status.available_replicas or 0) == d.spec.replicas == (status.replicas or 0))
        ):
            stream.stop()
            break
    else:
        pytest.fail(f"Deployment {namespace}/{name} did not settle in 10 s")
    assert sandbox.manager.wait_idle()


def test_scale_subresource_reads_and_writes_replicas(
    sandbox: Sandbox, apps: client.AppsV1Api, namespace: str, web: client.V1Deployment
) -> None:
    _settled(sandbox, apps, namespace)  # else a status write between read and PUT is a 409
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert (scale.kind, scale.api_version) == ("Scale", "autoscaling/v1")
    assert scale.spec.replicas == 2 and scale.status.selector == "app=web"
    scale.spec.replicas = 3
    replaced = apps.replace_namespaced_deployment_scale("web", namespace, scale)
    assert replaced.spec.replicas == 3
    patched = apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 1}})
    assert patched.spec.replicas == 1
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 1


def test_scale_with_a_stale_resource_version_is_409(
    apps: client.AppsV1Api, namespace: str, web: client.V1Deployment
) -> None:
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 4}})
    scale.spec.replicas = 0
    with pytest.raises(client.ApiException) as err:
        apps.replace_namespaced_deployment_scale("web", namespace, scale)
    assert err.value.status == 409


def _owned(
    sandbox: Sandbox, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> tuple[list[Any], list[Any]]:
    assert sandbox.manager.wait_idle()
    return (
        apps.list_namespaced_replica_set(namespace).items,
        core.list_namespaced_pod(namespace).items,
    )


def test_background_deletion_garbage_collects_replica_sets_and_pods(
    sandbox: Sandbox,
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
    namespace: str,
    web: client.V1Deployment,
) -> None:
    sets, pods = _owned(sandbox, apps, core, namespace)
    assert len(sets) == 1 and len(pods) == 2
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Background")
    assert _owned(sandbox, apps, core, namespace) == ([], [])


def test_foreground_deletion_keeps_the_owner_until_its_dependents_are_gone(
    sandbox: Sandbox,
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
    namespace: str,
    web: client.V1Deployment,
) -> None:
    _owned(sandbox, apps, core, namespace)
    resp = apps.delete_namespaced_deployment(
        "web", namespace, propagation_policy="Foreground", _preload_content=False
    )
    pending = json.loads(resp.data)
    assert pending["kind"] == "Deployment" and pending["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in pending["metadata"]["finalizers"]
    assert _owned(sandbox, apps, core, namespace) == ([], [])
    with pytest.raises(client.ApiException) as gone:
        apps.read_namespaced_deployment("web", namespace)
    assert gone.value.status == 404


def test_orphan_deletion_leaves_dependents_without_the_owner_reference(
    sandbox: Sandbox,
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
    namespace: str,
    web: client.V1Deployment,
) -> None:
    _owned(sandbox, apps, core, namespace)
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Orphan")
    sets, pods = _owned(sandbox, apps, core, namespace)
    assert len(sets) == 1 and len(pods) == 2
    assert not sets[0].metadata.owner_references
    assert all(p.metadata.owner_references for p in pods)  # still owned by the ReplicaSet


def test_dry_run_create_update_patch_delete_persist_nothing(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    cm = kinds.BY_KEY["configmaps"]
    made = core.create_namespaced_config_map(namespace, {"metadata": {"name": "d"}}, dry_run="All")
    assert made.metadata.name == "d" and made.metadata.uid
    assert sandbox.store.find(cm, namespace, "d") is None
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}, "data": {"k": "v"}})
    before = sandbox.store.get(cm, namespace, "c")
    writes = sandbox.requests.count(persisted=True)
    patched = core.patch_namespaced_config_map("c", namespace, {"data": {"k": "x"}}, dry_run="All")
    replaced = core.replace_namespaced_config_map(
        "c", namespace, {"metadata": {"name": "c"}, "data": {"k": "y"}}, dry_run="All"
    )
    core.delete_namespaced_config_map("c", namespace, dry_run="All")
    assert (patched.data, replaced.data) == ({"k": "x"}, {"k": "y"})
    assert sandbox.store.get(cm, namespace, "c") is before
    assert sandbox.requests.count(persisted=True) == writes
    dry = [req.verb for req, code in sandbox.requests.entries if req.dry_run and code < 400]
    assert dry == ["create", "patch", "update", "delete"]
