"""Cluster against the sandbox: connecting, CRUD, patches, conflicts, events, error types.

Real kubernetes client over HTTP; faults come from `sandbox.faults`, counts from
`sandbox.requests`. Settings are `FAST` (zero backoff) unless a test needs otherwise.
Retries: test_kube_retries.py; waits, watches and threads: test_kube_watch.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from structlog.testing import capture_logs

from rollout import errors, kube
from rollout.kube import PatchType, Resource
from rollout.sandbox import Sandbox
from rollout.sandbox import kinds as sandbox_kinds
from rollout.settings import FAST
from rollout.spec import ObjectRef
from tests.factories import make_deployment, make_virtual_service
from tests.sandbox.kube_support import Obj, closed_port, holder_is, lease, with_retry

# -- connect -----------------------------------------------------------------------


def test_namespace_comes_from_flag_then_context_then_default(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    with_ns = sandbox.write_kubeconfig(tmp_path / "a", namespace="team")
    doc = sandbox.kubeconfig()
    del doc["contexts"][0]["context"]["namespace"]
    without_ns = tmp_path / "b"
    without_ns.write_text(yaml.safe_dump(doc))
    assert kube.Cluster.connect(kubeconfig=str(with_ns), settings=FAST).namespace == "team"
    assert (
        kube.Cluster.connect(kubeconfig=str(with_ns), namespace="x", settings=FAST).namespace == "x"
    )
    assert kube.Cluster.connect(kubeconfig=str(without_ns), settings=FAST).namespace == "default"


def test_unknown_context_is_a_precondition_error_naming_it(kubeconfig: Path) -> None:
    with pytest.raises(errors.PreconditionError) as info:
        kube.Cluster.connect(kubeconfig=str(kubeconfig), context="prod", settings=FAST)
    assert str(info.value) == (
        f"kubeconfig {kubeconfig} has no context 'prod' (contexts: rollout-sandbox); "
        "check --context"
    )
    assert info.value.exit_code == 2


def test_missing_kubeconfig_is_a_precondition_error(tmp_path: Path) -> None:
    with pytest.raises(errors.PreconditionError, match=r"kubeconfig .*/nope not found"):
        kube.Cluster.connect(kubeconfig=str(tmp_path / "nope"), settings=FAST)


def test_check_reachable_on_a_closed_port_fails_fast(sandbox: Sandbox, tmp_path: Path) -> None:
    port = closed_port()
    doc = sandbox.kubeconfig()
    doc["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{port}"
    path = tmp_path / "closed"
    path.write_text(yaml.safe_dump(doc))
    cluster = kube.Cluster.connect(
        kubeconfig=str(path), settings=with_retry(initial=0.05, maximum=0.05, deadline=30)
    )
    started = time.monotonic()
    with pytest.raises(errors.PreconditionError) as info:
        cluster.check_reachable()
    assert time.monotonic() - started < 1.0  # 3 attempts, not the 30 s deadline
    message = str(info.value)
    assert message.startswith(f"Kubernetes API at http://127.0.0.1:{port} unreachable (")
    assert "Connection refused" in message
    assert message.endswith("; check --kubeconfig/--context")


def test_check_reachable_passes_and_sends_our_user_agent(
    cluster: kube.Cluster, sandbox: Sandbox
) -> None:
    cluster.get(Resource.NAMESPACE, ObjectRef("", cluster.namespace))
    cluster.check_reachable()
    agents = {req.user_agent for req, _ in sandbox.requests.entries if req.verb == "get"}
    assert agents == {"rollout/0.1.0"}


# -- CRUD --------------------------------------------------------------------------


def test_crud_and_the_three_patch_types(
    cluster: kube.Cluster, namespace: str, sandbox: Sandbox
) -> None:
    ref = ObjectRef(namespace, "web")
    created = cluster.create(
        Resource.DEPLOYMENT, make_deployment("web", sidecar="proxy:1"), namespace=namespace
    )
    assert created["metadata"]["uid"] and created["kind"] == "Deployment"
    assert cluster.get(Resource.DEPLOYMENT, ref)["metadata"]["uid"] == created["metadata"]["uid"]

    strategic = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}
    }
    patched = cluster.patch(Resource.DEPLOYMENT, ref, strategic, type=PatchType.STRATEGIC)
    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("app", "app:v2"),
        ("sidecar", "proxy:1"),
    ]
    patched = cluster.patch(Resource.DEPLOYMENT, ref, {"metadata": {"labels": {"tier": "web"}}})
    assert patched["metadata"]["labels"] == {"app": "web", "tier": "web"}
    patched = cluster.patch(
        Resource.DEPLOYMENT,
        ref,
        [{"op": "replace", "path": "/spec/replicas", "value": 2}],
        type=PatchType.JSON,
    )
    assert patched["spec"]["replicas"] == 2

    updated = cluster.update(
        Resource.DEPLOYMENT,
        ref,
        lambda d: d["metadata"].setdefault("annotations", {}).update(a="1"),
    )
    assert updated["metadata"]["annotations"]["a"] == "1"
    listed = cluster.list(Resource.DEPLOYMENT, namespace, labels="tier=web")
    assert [(d["kind"], d["metadata"]["name"]) for d in listed] == [("Deployment", "web")]
    assert cluster.list(Resource.DEPLOYMENT, namespace, labels="tier=db") == []

    assert cluster.delete(Resource.DEPLOYMENT, ref) is True
    assert cluster.delete(Resource.DEPLOYMENT, ref) is False
    assert cluster.find(Resource.DEPLOYMENT, ref) is None
    assert sandbox.requests.count(verb="patch", resource="deployments") == 3


def test_custom_resources_take_merge_and_json_patches(
    cluster: kube.Cluster, namespace: str
) -> None:
    ref = ObjectRef(namespace, "web")
    cluster.create(
        Resource.VIRTUAL_SERVICE, make_virtual_service(weights=(100, 0)), namespace=namespace
    )
    vs = cluster.patch(
        Resource.VIRTUAL_SERVICE,
        ref,
        [
            {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 10},
            {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 90},
        ],
        type=PatchType.JSON,
    )
    assert [r["weight"] for r in vs["spec"]["http"][0]["route"]] == [90, 10]
    vs = cluster.patch(Resource.VIRTUAL_SERVICE, ref, {"spec": {"gateways": ["mesh"]}})
    assert vs["spec"]["gateways"] == ["mesh"] and vs["apiVersion"].endswith("/v1beta1")
    with pytest.raises(errors.Invalid) as info:
        cluster.patch(Resource.VIRTUAL_SERVICE, ref, {"spec": {}}, type=PatchType.STRATEGIC)
    assert info.value.code == 415


def test_not_found_conflict_and_invalid_are_rollout_errors(
    cluster: kube.Cluster, namespace: str
) -> None:
    ref = ObjectRef(namespace, "ghost")
    with pytest.raises(errors.NotFound) as nf:
        cluster.get(Resource.DEPLOYMENT, ref)
    assert str(nf.value) == (
        f"Deployment {namespace}/ghost: not found "
        '(404 NotFound: deployments.apps "ghost" not found)'
    )
    assert nf.value.exit_code == 5 and isinstance(nf.value.__cause__, client.ApiException)

    cluster.create(Resource.LEASE, lease("l"), namespace=namespace)
    with pytest.raises(errors.Conflict) as conflict:
        cluster.create(Resource.LEASE, lease("l"), namespace=namespace)
    assert conflict.value.reason == "AlreadyExists"
    assert str(conflict.value).startswith(f"Lease {namespace}/l: already exists (409 ")

    with pytest.raises(errors.Invalid) as invalid:
        cluster.create(
            Resource.DEPLOYMENT, make_deployment("bad", replicas=-1), namespace=namespace
        )
    assert invalid.value.code == 422 and "spec.replicas" in str(invalid.value)
    with pytest.raises(errors.Invalid):
        cluster.patch(
            Resource.LEASE,
            ObjectRef(namespace, "l"),
            [{"op": "test", "path": "/spec/holderIdentity", "value": "zz"}],
            type=PatchType.JSON,
        )


def test_dry_run_writes_persist_nothing(
    cluster: kube.Cluster, namespace: str, sandbox: Sandbox
) -> None:
    ref = ObjectRef(namespace, "l")
    cluster.create(Resource.LEASE, lease("l"), namespace=namespace)
    sandbox.requests.clear()
    made = cluster.create(Resource.LEASE, lease("other"), namespace=namespace, dry_run=True)
    assert made["metadata"]["name"] == "other"
    assert holder_is("b")(
        cluster.patch(Resource.LEASE, ref, {"spec": {"holderIdentity": "b"}}, dry_run=True)
    )
    cluster.update(
        Resource.LEASE, ref, lambda o: o["spec"].update(holderIdentity="c"), dry_run=True
    )
    assert cluster.delete(Resource.LEASE, ref, dry_run=True) is True
    assert sandbox.requests.count(writes=True) == 4
    assert sandbox.requests.count(persisted=True) == 0
    assert holder_is("a")(cluster.get(Resource.LEASE, ref))
    assert cluster.find(Resource.LEASE, ObjectRef(namespace, "other")) is None


def test_update_reapplies_after_a_concurrent_write(
    cluster: kube.Cluster, namespace: str, sandbox: Sandbox, api_client: client.ApiClient
) -> None:
    ref = ObjectRef(namespace, "l")
    cluster.create(Resource.LEASE, lease("l"), namespace=namespace)
    other = client.CoordinationV1Api(api_client)
    calls = []

    def mutate(obj: Obj) -> None:
        if not calls:  # another writer gets in between our GET and our PUT
            other.patch_namespaced_lease("l", namespace, {"spec": {"leaseDurationSeconds": 7}})
        calls.append(obj["metadata"]["resourceVersion"])
        obj["spec"]["holderIdentity"] = "me"

    sandbox.requests.clear()
    with capture_logs() as logs:
        result = cluster.update(Resource.LEASE, ref, mutate)
    assert result["spec"] == {"holderIdentity": "me", "leaseDurationSeconds": 7}
    assert len(calls) == 2 and calls[0] != calls[1]
    assert sandbox.requests.count(verb="update") == 2
    assert sandbox.requests.count(verb="get") == 2
    assert [e["event"] for e in logs] == ["kube.conflict.retry"]


def test_update_that_changes_nothing_sends_no_put(
    cluster: kube.Cluster, namespace: str, sandbox: Sandbox
) -> None:
    cluster.create(Resource.LEASE, lease("l"), namespace=namespace)
    result = cluster.update(
        Resource.LEASE, ObjectRef(namespace, "l"), lambda o: o["spec"].update(holderIdentity="a")
    )
    assert holder_is("a")(result)
    assert sandbox.requests.count(verb="update") == 0


def test_update_from_a_fresh_base_is_one_put(
    cluster: kube.Cluster, namespace: str, sandbox: Sandbox
) -> None:
    base = cluster.create(Resource.LEASE, lease("l"), namespace=namespace)
    sandbox.requests.clear()
    result = cluster.update(
        Resource.LEASE, ObjectRef(namespace, "l"), lambda o: o["spec"].update(holderIdentity="b"),
        base=base,
    )  # fmt: skip
    assert holder_is("b")(result)
    assert [(r.verb, code) for r, code in sandbox.requests.entries] == [("update", 200)]


def test_update_from_a_stale_base_conflicts_then_reapplies_to_the_fresh_object(
    cluster: kube.Cluster, namespace: str, sandbox: Sandbox, api_client: client.ApiClient
) -> None:
    base = cluster.create(Resource.LEASE, lease("l"), namespace=namespace)
    client.CoordinationV1Api(api_client).patch_namespaced_lease(
        "l", namespace, {"spec": {"leaseDurationSeconds": 7}}
    )
    sandbox.requests.clear()
    result = cluster.update(
        Resource.LEASE, ObjectRef(namespace, "l"), lambda o: o["spec"].update(holderIdentity="b"),
        base=base,
    )  # fmt: skip
    assert result["spec"] == {"holderIdentity": "b", "leaseDurationSeconds": 7}
    assert [(r.verb, code) for r, code in sandbox.requests.entries] == [
        ("update", 409), ("get", 200), ("update", 200),
    ]  # fmt: skip


def test_update_that_leaves_a_stale_base_unchanged_still_writes_what_the_server_lacks(
    cluster: kube.Cluster, namespace: str, sandbox: Sandbox, api_client: client.ApiClient
) -> None:
    base = cluster.create(Resource.LEASE, lease("l"), namespace=namespace)  # holder "a"
    client.CoordinationV1Api(api_client).patch_namespaced_lease(
        "l", namespace, {"spec": {"holderIdentity": "z"}}
    )
    sandbox.requests.clear()
    result = cluster.update(
        Resource.LEASE, ObjectRef(namespace, "l"), lambda o: o["spec"].update(holderIdentity="a"),
        base=base,
    )  # fmt: skip
    assert holder_is("a")(result)  # the base already said "a": the server is asked
    assert [r.verb for r, _ in sandbox.requests.entries] == ["get", "update"]


def test_create_whose_response_was_lost_returns_the_created_object(
    kubeconfig: Path, namespace: str, sandbox: Sandbox
) -> None:
    # The first POST is held 0.5 s by the server but the client gives up after 0.2 s;
    # the retry (0.4 s later) meets AlreadyExists: the object is ours, so it is returned.
    settings = with_retry(initial=0.4, maximum=0.4, request_timeout=0.2, deadline=5)
    cluster = kube.Cluster.connect(
        kubeconfig=str(kubeconfig), namespace=namespace, settings=settings
    )
    rule = sandbox.faults.delay(0.5, verbs={"create"}, resources={"leases"})
    rule.remaining = 1
    with capture_logs() as logs:
        created = cluster.create(Resource.LEASE, lease("l"), namespace=namespace)
    stored = sandbox.store.get(sandbox_kinds.BY_KIND["Lease"], namespace, "l")
    assert created["metadata"]["uid"] == stored["metadata"]["uid"]
    assert [(e["event"], e.get("reason")) for e in logs] == [
        ("kube.retry", "Timeout"),
        ("kube.create.recovered", None),
    ]
    codes = [
        c
        for req, c in sandbox.requests.entries
        if req.verb == "create" and req.resource == "leases"
    ]
    assert 409 in codes  # the retry met the first attempt's object
    with pytest.raises(errors.Conflict):  # a different object under that name is not ours
        cluster.create(Resource.LEASE, lease("l", holder="b"), namespace=namespace)


# -- events and error hygiene ------------------------------------------------------


def test_record_event_is_on_the_object(
    cluster: kube.Cluster, namespace: str, core: client.CoreV1Api
) -> None:
    deployment = cluster.create(Resource.DEPLOYMENT, make_deployment("web"), namespace=namespace)
    cluster.record_event(deployment, reason="StepStarted", message="step 1/3: 25%")
    cluster.record_event(deployment, reason="GateFailed", message="p99 410ms", warning=True)
    events = sorted(
        (e for e in core.list_namespaced_event(namespace).items if e.source.component == "rollout"),
        key=lambda e: e.reason,
    )
    assert [(e.reason, e.type, e.message) for e in events] == [
        ("GateFailed", "Warning", "p99 410ms"),
        ("StepStarted", "Normal", "step 1/3: 25%"),
    ]
    involved = events[0].involved_object
    assert (involved.kind, involved.name, involved.uid, involved.api_version) == (
        "Deployment",
        "web",
        deployment["metadata"]["uid"],
        "apps/v1",
    )
    assert events[0].reporting_component == "rollout" and events[0].count == 1
    assert events[0].first_timestamp is not None


def test_record_event_shows_in_kubectl_describe(
    cluster: kube.Cluster, namespace: str, kubectl: Any
) -> None:
    deployment = cluster.create(Resource.DEPLOYMENT, make_deployment("web"), namespace=namespace)
    cluster.record_event(deployment, reason="StepStarted", message="step 1/3: 25%")
    out = kubectl("describe", "deployment", "web", "-n", namespace).stdout
    assert "StepStarted" in out and "step 1/3: 25%" in out


def test_record_event_failure_is_logged_not_raised(
    cluster: kube.Cluster, namespace: str, sandbox: Sandbox
) -> None:
    sandbox.faults.fail(1.0, 403, resources={"events"})
    with capture_logs() as logs:
        cluster.record_event(
            {"metadata": {"name": "web", "namespace": namespace}}, reason="StepStarted", message="x"
        )
    assert [(e["event"], e["log_level"]) for e in logs] == [("kube.event.failed", "warning")]
    assert logs[0]["error"].startswith(f"Event {namespace}/web.")
    assert "create forbidden (403 " in logs[0]["error"]


@pytest.mark.parametrize("code", [403, 500, 0])
def test_public_methods_raise_only_rollout_errors(
    kubeconfig: Path, namespace: str, sandbox: Sandbox, code: int, tmp_path: Path
) -> None:
    if code == 0:  # nothing listens: connection refused
        doc = sandbox.kubeconfig(namespace)
        doc["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{closed_port()}"
        kubeconfig = tmp_path / "refused"
        kubeconfig.write_text(yaml.safe_dump(doc))
    cluster = kube.Cluster.connect(
        kubeconfig=str(kubeconfig), namespace=namespace, settings=with_retry(deadline=0.05)
    )
    sandbox.faults.fail(1.0, code or 500, resources={"leases"})
    ref = ObjectRef(namespace, "l")
    calls = {
        "get": lambda: cluster.get(Resource.LEASE, ref),
        "find": lambda: cluster.find(Resource.LEASE, ref),
        "list": lambda: cluster.list(Resource.LEASE, namespace),
        "create": lambda: cluster.create(Resource.LEASE, lease("l"), namespace=namespace),
        "patch": lambda: cluster.patch(Resource.LEASE, ref, {}),
        "update": lambda: cluster.update(Resource.LEASE, ref, lambda o: None),
        "delete": lambda: cluster.delete(Resource.LEASE, ref),
        "wait_for": lambda: cluster.wait_for(Resource.LEASE, ref, bool, timeout=1),
        "watch_list": lambda: list(cluster.watch_list(Resource.LEASE, namespace, timeout=1)),
    }
    expected = errors.Forbidden if code == 403 else errors.ServerError
    for name, call in calls.items():
        with pytest.raises(errors.RolloutError) as info:
            call()
        assert type(info.value) is expected, name
        assert info.value.code == code, name
        assert info.value.__cause__ is not None and not isinstance(
            info.value.__cause__, errors.RolloutError
        )
