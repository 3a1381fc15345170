"""Object metadata through the official client: generation, resourceVersion on no-op
writes, immutable uid and creationTimestamp, generateName, and custom resources' required
resourceVersion on update."""

from __future__ import annotations

import pytest
from kubernetes import client

from rollout.sandbox import Sandbox
from tests.factories import make_deployment, make_virtual_service

ISTIO = "networking.istio.io"


def _settled_deployment(sandbox: Sandbox, apps: client.AppsV1Api, namespace: str) -> int:
    """Create `web` (0 replicas), let the controllers finish with it; its generation."""
    apps.create_namespaced_deployment(namespace, make_deployment(replicas=0))
    assert sandbox.manager.wait_idle()
    return int(apps.read_namespaced_deployment("web", namespace).metadata.generation)


def test_generation_bumps_on_spec_change_only(
    sandbox: Sandbox, apps: client.AppsV1Api, namespace: str
) -> None:
    start = _settled_deployment(sandbox, apps, namespace)
    labelled = apps.patch_namespaced_deployment(
        "web", namespace, {"metadata": {"labels": {"x": "1"}}}
    )
    assert labelled.metadata.generation == start
    status = apps.patch_namespaced_deployment_status("web", namespace, {"status": {"replicas": 0}})
    assert status.metadata.generation == start
    scaled = apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 2}})
    assert scaled.metadata.generation == start + 1
    same = apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 2}})
    assert same.metadata.generation == start + 1


def test_deployment_annotation_change_bumps_generation_as_upstream_does(
    sandbox: Sandbox, apps: client.AppsV1Api, namespace: str
) -> None:
    """apps/v1 Deployments copy annotations to ReplicaSets, so upstream bumps generation."""
    start = _settled_deployment(sandbox, apps, namespace)
    noted = apps.patch_namespaced_deployment(
        "web", namespace, {"metadata": {"annotations": {"note": "x"}}}
    )
    assert noted.metadata.generation == start + 1


def test_status_write_may_change_annotations_without_bumping_generation(
    sandbox: Sandbox, apps: client.AppsV1Api, namespace: str
) -> None:
    """What the deployment controller does with the revision annotation (UpdateStatus)."""
    start = _settled_deployment(sandbox, apps, namespace)
    body = {"metadata": {"annotations": {"note": "x"}, "labels": {"dropped": "yes"}}}
    written = apps.patch_namespaced_deployment_status("web", namespace, body)
    assert written.metadata.annotations["note"] == "x"
    assert "dropped" not in written.metadata.labels
    assert written.metadata.generation == start


def test_no_op_write_keeps_the_resource_version(core: client.CoreV1Api, namespace: str) -> None:
    made = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "c"}, "data": {"k": "v"}}
    )
    again = core.patch_namespaced_config_map("c", namespace, {"data": {"k": "v"}})
    assert again.metadata.resource_version == made.metadata.resource_version


def test_custom_resource_generation_bumps_on_spec_not_on_labels(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    custom.create_namespaced_custom_object(
        ISTIO, "v1", namespace, "virtualservices", make_virtual_service()
    )
    args = (ISTIO, "v1", namespace, "virtualservices", "web")
    labelled = custom.patch_namespaced_custom_object(*args, {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 1
    respec = custom.patch_namespaced_custom_object(*args, {"spec": {"hosts": ["web", "x"]}})
    assert respec["metadata"]["generation"] == 2


def test_update_keeps_uid_and_creation_timestamp(core: client.CoreV1Api, namespace: str) -> None:
    made = core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    body = {
        "metadata": {"name": "c", "creationTimestamp": "2001-01-01T00:00:00Z"},
        "data": {"k": "v"},
    }
    replaced = core.replace_namespaced_config_map("c", namespace, body)
    assert replaced.metadata.uid == made.metadata.uid
    assert replaced.metadata.creation_timestamp == made.metadata.creation_timestamp
    patched = core.patch_namespaced_config_map(
        "c", namespace, {"metadata": {"creationTimestamp": "2001-01-01T00:00:00Z"}}
    )
    assert patched.metadata.creation_timestamp == made.metadata.creation_timestamp


def test_update_that_changes_uid_is_rejected_as_immutable(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    body = {"metadata": {"name": "c", "uid": "00000000-0000-4000-8000-000000000000"}}
    with pytest.raises(client.ApiException) as err:
        core.replace_namespaced_config_map("c", namespace, body)
    assert err.value.status == 422
    assert "metadata.uid" in err.value.body


def test_create_with_generate_name_gets_a_unique_suffix(
    core: client.CoreV1Api, namespace: str
) -> None:
    body = {"metadata": {"generateName": "cm-"}}
    first = core.create_namespaced_config_map(namespace, body).metadata.name
    second = core.create_namespaced_config_map(namespace, body).metadata.name
    assert first.startswith("cm-") and second.startswith("cm-") and first != second


def test_custom_resource_update_without_resource_version_is_invalid(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    """Custom resources do not allow unconditional updates (upstream's CRD strategy)."""
    made = custom.create_namespaced_custom_object(
        ISTIO, "v1", namespace, "virtualservices", make_virtual_service()
    )
    del made["metadata"]["resourceVersion"]
    with pytest.raises(client.ApiException) as err:
        custom.replace_namespaced_custom_object(
            ISTIO, "v1", namespace, "virtualservices", "web", made
        )
    assert err.value.status == 422
    assert "metadata.resourceVersion" in err.value.body
