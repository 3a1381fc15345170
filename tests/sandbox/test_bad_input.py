"""Bad input gets the status code and reason a real kube-apiserver answers, as a `Status`
body, and never a 500 or a hang: through the official client where it can send the
request, raw HTTP where it cannot."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from rollout.sandbox import Sandbox
from tests.factories import make_deployment, make_virtual_service
from tests.sandbox import rawhttp

ISTIO = "networking.istio.io"
JSON = {"Content-Type": "application/json"}


def _status(err: client.ApiException) -> dict[str, Any]:
    """The `Status` body of an ApiException, checked to match its HTTP status."""
    body = json.loads(err.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == err.status
    return body


def _raises(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
    """(status, reason, message) of the ApiException a client call raises."""
    with pytest.raises(client.ApiException) as err:
        call(*args, **kwargs)
    body = _status(err.value)
    return err.value.status, body.get("reason", ""), body.get("message", "")


def _raw(
    sandbox: Sandbox,
    method: str,
    path: str,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """(status, reason, message) of a raw request answered with a Status."""
    resp = rawhttp.request(sandbox, method, path, body, headers)
    status = resp.json()
    assert status["kind"] == "Status" and status["code"] == resp.status
    assert resp.headers["content-type"] == "application/json"
    return resp.status, status.get("reason", ""), status.get("message", "")


def _cm_path(namespace: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps" + (f"/{name}" if name else "")


@pytest.mark.parametrize("body", ["{not json", '{"metadata": {"name": "x"}', "\xff", "[]", "3"])
def test_malformed_or_non_object_body_is_400_bad_request(
    sandbox: Sandbox, namespace: str, body: str
) -> None:
    code, reason, _ = _raw(sandbox, "POST", _cm_path(namespace), body.encode("latin-1"), JSON)
    assert (code, reason) == (400, "BadRequest")


def test_malformed_patch_body_is_400_bad_request(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    headers = {"Content-Type": "application/merge-patch+json"}
    assert _raw(sandbox, "PATCH", _cm_path(namespace, "c"), "{oops", headers)[:2] == (
        400,
        "BadRequest",
    )


@pytest.mark.parametrize(
    "path",
    [
        "/apis/apps/v1/namespaces/default/widgets",
        "/apis/apps/v2/namespaces/default/deployments",
        "/apis/nope.example.com/v1/namespaces/default/things",
        "/api/v1/namespaces/default/configmaps/c/nonsense",
        "/api/v1/namespaces/default/pods/p/scale",
        "/api/v9/pods",
        "/not-an-api",
    ],
)
def test_unknown_kind_or_path_is_404_not_found(sandbox: Sandbox, path: str) -> None:
    code, reason, message = _raw(sandbox, "GET", path)
    assert (code, reason) == (404, "NotFound")
    assert message == "the server could not find the requested resource"


def test_unknown_custom_resource_through_the_client_is_404(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    assert _raises(
        custom.list_namespaced_custom_object, "nope.example.com", "v1", namespace, "things"
    )[:2] == (404, "NotFound")


def test_missing_object_is_404_naming_it(core: client.CoreV1Api, namespace: str) -> None:
    code, reason, message = _raises(core.read_namespaced_config_map, "ghost", namespace)
    assert (code, reason, message) == (404, "NotFound", 'configmaps "ghost" not found')


@pytest.mark.parametrize("selector", ["app in (web", "app=a=b", "!", "app notin (a b)", "a b"])
def test_invalid_label_selector_is_400(
    core: client.CoreV1Api, namespace: str, selector: str
) -> None:
    assert _raises(core.list_namespaced_config_map, namespace, label_selector=selector)[:2] == (
        400,
        "BadRequest",
    )


@pytest.mark.parametrize("selector", ["spec.nonsense=1", "metadata.name", "metadata.labels=x"])
def test_invalid_or_unsupported_field_selector_is_400(
    core: client.CoreV1Api, namespace: str, selector: str
) -> None:
    assert _raises(core.list_namespaced_config_map, namespace, field_selector=selector)[:2] == (
        400,
        "BadRequest",
    )


def test_watch_with_invalid_label_selector_is_400_before_streaming(
    sandbox: Sandbox, namespace: str
) -> None:
    path = _cm_path(namespace) + "?watch=1&labelSelector=a%20in%20(b"
    assert _raw(sandbox, "GET", path)[:2] == (400, "BadRequest")


def test_strategic_merge_patch_on_a_custom_resource_is_415(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    custom.create_namespaced_custom_object(
        ISTIO, "v1", namespace, "virtualservices", make_virtual_service()
    )
    code, reason, message = _raises(
        custom.patch_namespaced_custom_object,
        ISTIO,
        "v1",
        namespace,
        "virtualservices",
        "web",
        {"spec": {"hosts": ["x"]}},
        _content_type="application/strategic-merge-patch+json",
    )
    assert (code, reason) == (415, "UnsupportedMediaType")
    assert "application/merge-patch+json" in message
    assert "strategic" not in message


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", ""])
def test_patch_with_an_unknown_content_type_is_415(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str, ctype: str
) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    code, reason, message = _raw(
        sandbox, "PATCH", _cm_path(namespace, "c"), '{"data": {"a": "b"}}', {"Content-Type": ctype}
    )
    assert (code, reason) == (415, "UnsupportedMediaType")
    assert message.startswith("the body of the request was in an unknown format")


def test_create_with_an_unsupported_body_media_type_is_415(
    sandbox: Sandbox, namespace: str
) -> None:
    body = json.dumps({"metadata": {"name": "c"}})
    code, reason, _ = _raw(
        sandbox, "POST", _cm_path(namespace), body, {"Content-Type": "text/plain"}
    )
    assert (code, reason) == (415, "UnsupportedMediaType")


def test_create_accepts_a_yaml_body_like_the_real_server(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    resp = rawhttp.request(
        sandbox,
        "POST",
        _cm_path(namespace),
        "metadata:\n  name: from-yaml\ndata:\n  k: v\n",
        {"Content-Type": "application/yaml"},
    )
    assert resp.status == 201
    assert core.read_namespaced_config_map("from-yaml", namespace).data == {"k": "v"}


def test_deployment_whose_selector_misses_its_template_labels_is_422_naming_the_field(
    apps: client.AppsV1Api, namespace: str
) -> None:
    body = make_deployment()
    body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(client.ApiException) as err:
        apps.create_namespaced_deployment(namespace, body)
    status = _status(err.value)
    assert (err.value.status, status["reason"]) == (422, "Invalid")
    assert "spec.template.metadata.labels" in status["message"]
    assert "`selector` does not match template `labels`" in status["message"]
    causes = status["details"]["causes"]
    assert [c["field"] for c in causes] == ["spec.template.metadata.labels"]
    assert (status["details"]["name"], status["details"]["kind"]) == ("web", "Deployment")


def test_object_without_a_name_is_422(core: client.CoreV1Api, namespace: str) -> None:
    code, reason, message = _raises(
        core.create_namespaced_config_map, namespace, {"metadata": {"labels": {"a": "b"}}}
    )
    assert (code, reason) == (422, "Invalid")
    assert "metadata.name: Required value" in message


def test_invalid_name_is_422(core: client.CoreV1Api, namespace: str) -> None:
    code, reason, message = _raises(
        core.create_namespaced_config_map, namespace, {"metadata": {"name": "Not_Valid"}}
    )
    assert (code, reason) == (422, "Invalid")
    assert "metadata.name" in message


def test_creating_in_a_missing_namespace_is_404(core: client.CoreV1Api) -> None:
    code, reason, message = _raises(
        core.create_namespaced_config_map, "no-such-namespace", {"metadata": {"name": "c"}}
    )
    assert (code, reason) == (404, "NotFound")
    assert message == 'namespaces "no-such-namespace" not found'


def test_creating_twice_is_409_already_exists(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    code, reason, message = _raises(
        core.create_namespaced_config_map, namespace, {"metadata": {"name": "c"}}
    )
    assert (code, reason, message) == (409, "AlreadyExists", 'configmaps "c" already exists')


def test_changing_a_deployment_selector_is_422_immutable(
    apps: client.AppsV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, make_deployment(replicas=0))
    patch = {
        "spec": {
            "selector": {"matchLabels": {"app": "web", "v": "2"}},
            "template": {"metadata": {"labels": {"app": "web", "v": "2"}}},
        }
    }
    code, reason, message = _raises(apps.patch_namespaced_deployment, "web", namespace, patch)
    assert (code, reason) == (422, "Invalid")
    assert "spec.selector" in message and "field is immutable" in message


def test_wrongly_typed_field_is_400_for_built_in_kinds(
    apps: client.AppsV1Api, namespace: str
) -> None:
    body = make_deployment()
    body["spec"]["replicas"] = "three"
    code, reason, message = _raises(apps.create_namespaced_deployment, namespace, body)
    assert (code, reason) == (400, "BadRequest")
    assert "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas" in message


def test_wrongly_typed_field_is_422_for_custom_resources(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    body = make_virtual_service()
    body["spec"]["hosts"] = [7]
    code, reason, message = _raises(
        custom.create_namespaced_custom_object, ISTIO, "v1", namespace, "virtualservices", body
    )
    assert (code, reason) == (422, "Invalid")
    assert "spec.hosts[0]" in message and "must be of type string" in message


def test_patch_that_breaks_a_field_type_is_422(apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, make_deployment(replicas=0))
    code, reason, _ = _raises(
        apps.patch_namespaced_deployment,
        "web",
        namespace,
        {"spec": {"template": {"spec": "nope"}}},
        _content_type="application/merge-patch+json",
    )
    assert (code, reason) == (422, "Invalid")


@pytest.mark.parametrize(
    ("method", "suffix"), [("POST", "/c"), ("PUT", ""), ("PATCH", ""), ("POST", "/c/status")]
)
def test_verb_the_path_does_not_serve_is_405(
    sandbox: Sandbox, namespace: str, method: str, suffix: str
) -> None:
    body = json.dumps({"metadata": {"name": "c"}})
    headers = {
        "Content-Type": "application/merge-patch+json" if method == "PATCH" else "application/json"
    }
    path = (
        f"/api/v1/namespaces/{namespace}/services{suffix}"
        if "status" in suffix
        else _cm_path(namespace) + suffix
    )
    assert _raw(sandbox, method, path, body, headers)[:2] == (405, "MethodNotAllowed")


@pytest.mark.parametrize(("field", "value"), [("kind", "Secret"), ("apiVersion", "apps/v1")])
def test_body_of_another_kind_or_group_is_400(
    sandbox: Sandbox, namespace: str, field: str, value: str
) -> None:
    body = json.dumps({field: value, "metadata": {"name": "c"}})
    assert _raw(sandbox, "POST", _cm_path(namespace), body, JSON)[:2] == (400, "BadRequest")


def test_body_namespace_that_differs_from_the_url_is_400(sandbox: Sandbox, namespace: str) -> None:
    body = json.dumps({"metadata": {"name": "c", "namespace": "elsewhere"}})
    assert _raw(sandbox, "POST", _cm_path(namespace), body, JSON)[:2] == (400, "BadRequest")


def test_update_whose_body_names_another_object_is_400(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    assert _raises(core.replace_namespaced_config_map, "c", namespace, {"metadata": {"name": "d"}})[
        :2
    ] == (400, "BadRequest")


def test_unknown_propagation_policy_is_422(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    code, reason, message = _raises(
        core.delete_namespaced_config_map, "c", namespace, propagation_policy="Sideways"
    )
    assert (code, reason) == (422, "Invalid")
    assert "propagationPolicy" in message
    assert core.read_namespaced_config_map("c", namespace).metadata.name == "c"


def test_dry_run_other_than_all_is_422_and_persists_nothing(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    code, reason, _ = _raises(
        core.create_namespaced_config_map, namespace, {"metadata": {"name": "c"}}, dry_run="true"
    )
    assert (code, reason) == (422, "Invalid")
    assert core.list_namespaced_config_map(namespace).items == []


@pytest.mark.parametrize("query", ["timeoutSeconds=1.5", "timeoutSeconds=soon", "limit=ten"])
def test_non_integer_numeric_parameters_are_400(
    sandbox: Sandbox, namespace: str, query: str
) -> None:
    path = _cm_path(namespace) + f"?watch=1&{query}"
    assert _raw(sandbox, "GET", path)[:2] == (400, "BadRequest")


def test_scale_to_negative_replicas_is_422(apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, make_deployment(replicas=0))
    assert _raises(
        apps.patch_namespaced_deployment_scale, "web", namespace, {"spec": {"replicas": -1}}
    )[:2] == (422, "Invalid")


def test_accept_header_naming_only_unservable_types_is_406(
    sandbox: Sandbox, namespace: str
) -> None:
    headers = {"Accept": "application/vnd.kubernetes.protobuf"}
    assert _raw(sandbox, "GET", _cm_path(namespace), headers=headers)[:2] == (406, "NotAcceptable")


def test_bad_include_object_for_a_table_is_400(sandbox: Sandbox, namespace: str) -> None:
    headers = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    path = _cm_path(namespace) + "?includeObject=Everything"
    assert _raw(sandbox, "GET", path, headers=headers)[:2] == (400, "BadRequest")


def test_bad_continue_token_is_400(sandbox: Sandbox, namespace: str) -> None:
    path = _cm_path(namespace) + "?limit=1&continue=not-a-token"
    assert _raw(sandbox, "GET", path)[:2] == (400, "BadRequest")


def test_no_bad_request_in_this_file_crashed_a_controller_or_the_server(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    for body in ("{", "[]", '{"metadata": 3}', '{"metadata": {"labels": [1]}}'):
        rawhttp.request(sandbox, "POST", _cm_path(namespace), body, JSON)
    assert sandbox.manager.wait_idle()
    assert sandbox.manager.failures == []
    assert core.list_namespaced_config_map(namespace).items == []
