"""Validation through the official client: what kube-apiserver refuses with 422 Invalid
(naming the field) is refused here too, so no controller ever sees it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from rollout.sandbox import Sandbox
from tests.factories import make_deployment, make_service

Obj = dict[str, Any]
ROLLING = "spec.strategy.rollingUpdate"


def _invalid(call: Any, *args: Any) -> tuple[list[str], str]:
    """The fields a 422 names, and its message."""
    with pytest.raises(client.ApiException) as err:
        call(*args)
    status = json.loads(err.value.body)
    assert (err.value.status, status["reason"]) == (422, "Invalid")
    return [c["field"] for c in status["details"]["causes"]], status["message"]


@pytest.mark.parametrize(
    ("fenceposts", "field"),
    [
        ({"maxSurge": "x"}, "maxSurge"),
        ({"maxSurge": "10"}, "maxSurge"),
        ({"maxSurge": -1}, "maxSurge"),
        ({"maxUnavailable": "1.5%"}, "maxUnavailable"),
        ({"maxUnavailable": "101%"}, "maxUnavailable"),
    ],
)
def test_bad_max_surge_or_max_unavailable_is_422(
    sandbox: Sandbox, apps: client.AppsV1Api, namespace: str, fenceposts: Obj, field: str
) -> None:
    body = make_deployment(strategy={"type": "RollingUpdate", "rollingUpdate": fenceposts})
    fields, message = _invalid(apps.create_namespaced_deployment, namespace, body)
    assert fields == [f"{ROLLING}.{field}"]
    assert message.startswith(f'Deployment.apps "web" is invalid: {ROLLING}.{field}: ')


def test_patching_max_surge_to_garbage_is_422_and_the_controllers_keep_going(
    sandbox: Sandbox, apps: client.AppsV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, make_deployment(replicas=2))
    patch = {"spec": {"strategy": {"rollingUpdate": {"maxSurge": "x"}}}}
    fields, _ = _invalid(apps.patch_namespaced_deployment, "web", namespace, patch)
    assert fields == [f"{ROLLING}.maxSurge"]
    stored = apps.read_namespaced_deployment("web", namespace)
    assert stored.spec.strategy.rolling_update.max_surge == "25%"
    assert sandbox.manager.wait_idle() and sandbox.manager.failures == []


def test_label_with_a_bad_key_or_value_is_422_naming_metadata_labels(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    for labels in ({"bad key": "x"}, {"ok": "not ok"}, {"ok": "v" * 64}):
        patch = {"metadata": {"labels": labels}}
        fields, message = _invalid(core.patch_namespaced_config_map, "c", namespace, patch)
        assert set(fields) == {"metadata.labels"}
        assert 'ConfigMap "c" is invalid: ' in message
    assert core.read_namespaced_config_map("c", namespace).metadata.labels is None


def test_annotations_over_256_kib_together_or_with_a_bad_key_are_422(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    half = "x" * (128 * 1024)
    for bad in ({"a": half, "b": half}, {"bad key": "x"}):
        patch = {"metadata": {"annotations": bad}}
        fields, message = _invalid(core.patch_namespaced_config_map, "c", namespace, patch)
        assert set(fields) == {"metadata.annotations"}, message
    assert core.read_namespaced_config_map("c", namespace).metadata.annotations is None
    # exactly at the limit (the key counts too); keys are checked regardless of case
    fits = {"a": "x" * (256 * 1024 - 1)}
    core.patch_namespaced_config_map("c", namespace, {"metadata": {"annotations": fits}})
    core.patch_namespaced_config_map(
        "c", namespace, {"metadata": {"annotations": {"a": None, "Example.com/Key": "v"}}}
    )
    assert core.read_namespaced_config_map("c", namespace).metadata.annotations == {
        "Example.com/Key": "v"
    }


def test_service_selector_with_an_empty_key_is_422_and_endpoints_keep_working(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    fields, message = _invalid(
        core.create_namespaced_service, namespace, make_service(selector={"": "web"})
    )
    assert set(fields) == {"spec.selector"}
    assert 'spec.selector: Invalid value: "": name part must be non-empty' in message
    core.create_namespaced_service(namespace, make_service())
    assert sandbox.manager.wait_idle() and sandbox.manager.failures == []
    assert core.read_namespaced_endpoints("web", namespace).metadata.name == "web"


def test_deployment_selector_with_a_bad_match_label_is_422_naming_it(
    apps: client.AppsV1Api, namespace: str
) -> None:
    body = make_deployment()
    body["spec"]["selector"]["matchLabels"][""] = "x"
    fields, _ = _invalid(apps.create_namespaced_deployment, namespace, body)
    assert set(fields) == {"spec.selector.matchLabels"}
