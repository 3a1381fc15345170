"""IstioRouter against the sandbox with the real client: discovery, --create-routing,
weights (measured in the sandbox's traffic), header match, mirror, and restore."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from rollout import errors, kube, routers
from rollout.routers import ALL_STABLE, Weights
from rollout.sandbox import Sandbox
from rollout.spec import HeaderMatch, ObjectRef
from strategies import canary_workload as workload
from tests.sandbox.cli_runs import APP, REPO, deployment
from tests.sandbox.istio_support import (
    TOLERANCE,
    canary_percent,
    get,
    install,
    user_destination_rule,
    user_virtual_service,
)
from tests.sandbox.rollouts import wait_rolled_out

Obj = dict[str, Any]
A_B = HeaderMatch("x-canary", "true")


@pytest.fixture
def cluster(cluster: kube.Cluster, app: str) -> kube.Cluster:
    """conftest's Cluster, with link-manager deployed in its namespace."""
    return cluster


def make_router(cluster: kube.Cluster, saved: dict[str, Any], **options: Any) -> routers.Router:
    ns = cluster.namespace
    routing = routers.Routing(
        service=ObjectRef(ns, APP), stable=ObjectRef(ns, APP),
        canary=ObjectRef(ns, f"{APP}-canary"),
        canary_labels={"app": APP, workload.CANARY_LABEL: "true"}, **options,
    )  # fmt: skip
    return routers.for_mesh("istio", cluster, routing, saved)


def routed(cluster: kube.Cluster) -> routers.Router:
    """A router for the user's routing, prepared and ensured (weights at 100/0)."""
    router = make_router(cluster, {})
    router.prepare()
    router.ensure()
    return router


def start_canary(cluster: kube.Cluster, api: client.ApiClient, replicas: int = 2) -> None:
    stable = deployment(api, cluster.namespace)
    template = workload.canary_template(stable["spec"]["template"], {"app": f"{REPO}:v2"})
    workload.CanaryWorkload(cluster, ObjectRef(cluster.namespace, APP)).ensure(
        template, replicas=replicas)  # fmt: skip
    wait_rolled_out(client.AppsV1Api(api), cluster.namespace, f"{APP}-canary", timeout=10)


def pods(api: client.ApiClient, namespace: str) -> set[str]:
    """uids of the namespace's pods."""
    return {p.metadata.uid for p in client.CoreV1Api(api).list_namespaced_pod(namespace).items}


@pytest.fixture
def user_routing(app: str, api_client: client.ApiClient) -> tuple[Obj, Obj]:
    """The user's VirtualService and DestinationRule specs, as installed."""
    vs, dr = user_virtual_service(), user_destination_rule()
    other = user_virtual_service()  # another app's: must not be picked
    other["metadata"]["name"], other["spec"]["hosts"] = "reviews", ["reviews"]
    gateway_only = user_virtual_service()  # the host at an ingress gateway: not in-mesh
    gateway_only["metadata"]["name"], gateway_only["spec"]["gateways"] = "public", ["public-gw"]
    install(api_client, app, vs, dr, other, gateway_only)
    return vs["spec"], dr["spec"]


# -- discovery ------------------------------------------------------------------------------


def test_prepare_discovers_the_routing_of_the_host_and_writes_nothing(
    cluster: kube.Cluster, user_routing: tuple[Obj, Obj], sandbox: Sandbox
) -> None:
    saved: dict[str, Any] = {}
    sandbox.requests.clear()

    make_router(cluster, saved).prepare()

    assert (saved["virtualService"], saved["destinationRule"]) == (APP, APP)
    assert saved["route"] == user_routing[0]["http"][1]  # the catch-all, not the admin route
    assert saved["subsets"] == user_routing[1]["subsets"]
    assert not saved["createdVirtualService"] and not saved["createdDestinationRule"]
    assert sandbox.requests.count(writes=True) == 0


def test_a_named_virtual_service_that_does_not_route_the_host_is_refused(
    cluster: kube.Cluster, user_routing: tuple[Obj, Obj], api_client: client.ApiClient, app: str
) -> None:
    elsewhere = user_virtual_service()
    elsewhere["metadata"]["name"] = "admin-only"
    elsewhere["spec"]["http"] = elsewhere["spec"]["http"][:1]  # the admin route alone
    install(api_client, app, elsewhere)

    with pytest.raises(errors.PreconditionError) as caught:
        make_router(cluster, {}, virtual_service="admin-only").prepare()

    assert str(caught.value).startswith(f"VirtualService {app}/admin-only: does not route host")
    assert "\n" not in str(caught.value)


def test_no_routing_without_create_routing_is_refused_naming_the_flag(
    cluster: kube.Cluster, app: str
) -> None:
    with pytest.raises(errors.PreconditionError, match="--create-routing"):
        make_router(cluster, {}).prepare()


def test_two_virtual_services_for_the_host_must_be_chosen_between(
    cluster: kube.Cluster, user_routing: tuple[Obj, Obj], api_client: client.ApiClient, app: str
) -> None:
    second = user_virtual_service()
    second["metadata"]["name"] = "link-manager-2"
    install(api_client, app, second)

    with pytest.raises(errors.PreconditionError, match=r"link-manager, link-manager-2 .*--virtual"):
        make_router(cluster, {}).prepare()


def test_a_destination_rule_that_already_has_a_canary_subset_is_refused(
    cluster: kube.Cluster, api_client: client.ApiClient, app: str
) -> None:
    dr = user_destination_rule()
    dr["spec"]["subsets"].append({"name": "canary", "labels": {"track": "canary"}})
    install(api_client, app, user_virtual_service(), dr)

    with pytest.raises(errors.PreconditionError, match="already has subsets named canary"):
        make_router(cluster, {}).prepare()


# -- weights and restore --------------------------------------------------------------------


def test_weights_move_traffic_and_restore_leaves_the_users_objects_as_they_were(
    cluster: kube.Cluster, user_routing: tuple[Obj, Obj], api_client: client.ApiClient,
    sandbox: Sandbox, app: str,
) -> None:  # fmt: skip
    pods_before = pods(api_client, app)
    router = routed(cluster)
    assert canary_percent(sandbox, app) == 0
    start_canary(cluster, api_client)
    assert canary_percent(sandbox, app) == 0  # ready canary pods, but weight 0

    for canary in (10, 25, 50):
        router.set_weights(Weights.canary_share(canary))
        assert router.get_weights() == Weights.canary_share(canary)
        assert abs(canary_percent(sandbox, app) - canary) <= TOLERANCE
    router.set_weights(ALL_STABLE)
    router.restore()

    assert get(api_client, app, "VirtualService")["spec"] == user_routing[0]
    assert get(api_client, app, "DestinationRule")["spec"] == user_routing[1]
    assert pods_before <= pods(api_client, app)  # no stable pod was restarted to select it


def test_stable_subset_selects_the_stable_replicaset_by_pod_template_hash(
    cluster: kube.Cluster, user_routing: tuple[Obj, Obj], api_client: client.ApiClient, app: str
) -> None:
    routed(cluster)

    rule = get(api_client, app, "DestinationRule")
    subsets = {s["name"]: s["labels"] for s in rule["spec"]["subsets"]}
    hashes = {p.metadata.labels["pod-template-hash"]
              for p in client.CoreV1Api(api_client).list_namespaced_pod(app).items}  # fmt: skip
    assert subsets["stable"] == {"app": APP, "pod-template-hash": hashes.pop()}
    assert not hashes  # every stable pod carries that one hash
    assert subsets["canary"] == {"app": APP, workload.CANARY_LABEL: "true"}
    assert subsets["v1"] == {"version": "v1"}  # the user's subset kept


def test_setting_the_same_weights_twice_writes_once(
    cluster: kube.Cluster, user_routing: tuple[Obj, Obj], api_client: client.ApiClient,
    sandbox: Sandbox,
) -> None:  # fmt: skip
    router = routed(cluster)
    sandbox.requests.clear()

    router.set_weights(Weights(80, 20))
    router.set_weights(Weights(80, 20))
    router.ensure()

    assert sandbox.requests.count(resource="virtualservices", writes=True) == 1
    assert sandbox.requests.count(resource="destinationrules", writes=True) == 0


def _serving_weights(api: client.ApiClient, namespace: str) -> list[int]:
    vs = get(api, namespace, "VirtualService")
    assert vs is not None
    return [d["weight"] for d in vs["spec"]["http"][1]["route"]]  # the catch-all route


def test_a_weight_change_after_someone_elses_edit_conflicts_then_keeps_their_edit(
    cluster: kube.Cluster, user_routing: tuple[Obj, Obj], api_client: client.ApiClient,
    sandbox: Sandbox,
) -> None:  # fmt: skip
    router = routed(cluster)
    router.set_weights(Weights(90, 10))
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        "networking.istio.io", "v1beta1", cluster.namespace, "virtualservices", APP,
        {"spec": {"exportTo": ["."]}},
    )  # fmt: skip
    sandbox.requests.clear()

    router.set_weights(Weights(75, 25))  # from its copy: stale now

    assert [(r.verb, code) for r, code in sandbox.requests.entries] == [
        ("update", 409), ("get", 200), ("update", 200),
    ]  # fmt: skip
    vs = get(api_client, cluster.namespace, "VirtualService")
    assert vs is not None and vs["spec"]["exportTo"] == ["."]
    assert _serving_weights(api_client, cluster.namespace) == [75, 25]


def test_weights_put_back_by_hand_are_set_again_though_its_copy_agrees(
    cluster: kube.Cluster, user_routing: tuple[Obj, Obj], api_client: client.ApiClient,
) -> None:  # fmt: skip
    router = routed(cluster)
    router.set_weights(Weights(90, 10))
    vs = get(api_client, cluster.namespace, "VirtualService")
    assert vs is not None
    for dest, weight in zip(vs["spec"]["http"][1]["route"], (100, 0), strict=True):
        dest["weight"] = weight
    client.CustomObjectsApi(api_client).replace_namespaced_custom_object(
        "networking.istio.io", "v1beta1", cluster.namespace, "virtualservices", APP, vs
    )

    router.set_weights(Weights(90, 10))  # its copy says 90/10 already: it asks the server

    assert _serving_weights(api_client, cluster.namespace) == [90, 10]


def test_header_match_sends_matching_requests_to_the_canary(
    cluster: kube.Cluster, user_routing: tuple[Obj, Obj], api_client: client.ApiClient,
    sandbox: Sandbox, app: str,
) -> None:  # fmt: skip
    router = routed(cluster)
    start_canary(cluster, api_client)

    router.set_weights(ALL_STABLE, match_header=A_B)
    header_only = canary_percent(sandbox, app)
    router.set_weights(Weights(50, 50), match_header=A_B)
    with_weights = canary_percent(sandbox, app)

    assert abs(header_only - 10) <= TOLERANCE  # examples/sandbox.yaml: 10% carry the header
    assert abs(with_weights - (10 + 0.9 * 50)) <= TOLERANCE
    assert router.get_weights() == Weights(50, 50)


def test_mirror_copies_requests_to_the_canary_without_moving_them(
    cluster: kube.Cluster, user_routing: tuple[Obj, Obj], api_client: client.ApiClient,
    sandbox: Sandbox, app: str,
) -> None:  # fmt: skip
    router = routed(cluster)
    start_canary(cluster, api_client)

    router.set_weights(ALL_STABLE, mirror=50)
    share = canary_percent(sandbox, app)  # of all answers: n to stable + ~n/2 mirrored

    assert abs(share - 100 * 0.5 / 1.5) <= TOLERANCE


def test_create_routing_creates_owned_objects_and_restore_deletes_them(
    cluster: kube.Cluster, api_client: client.ApiClient, sandbox: Sandbox, app: str
) -> None:
    saved: dict[str, Any] = {}
    router = make_router(cluster, saved, create=True)
    router.prepare()
    router.ensure()
    start_canary(cluster, api_client, replicas=1)
    router.set_weights(Weights(75, 25))

    for kind in ("VirtualService", "DestinationRule"):
        meta = get(api_client, app, kind)["metadata"]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "rollout"
        assert meta["annotations"]["rollout.dev/owner"] == f"Deployment/{APP}"
    assert abs(canary_percent(sandbox, app) - 25) <= TOLERANCE

    router.restore()

    assert get(api_client, app, "VirtualService") is None
    assert get(api_client, app, "DestinationRule") is None


def test_restore_never_deletes_a_same_named_object_rollout_did_not_create(
    cluster: kube.Cluster, api_client: client.ApiClient, app: str
) -> None:
    router = make_router(cluster, {}, create=True)
    router.prepare()  # nothing there: would create both
    install(api_client, app, user_virtual_service())  # the user's appears meanwhile

    router.restore()

    assert get(api_client, app, "VirtualService") is not None


def test_a_resumed_router_restores_from_the_saved_shape(
    cluster: kube.Cluster, user_routing: tuple[Obj, Obj], api_client: client.ApiClient, app: str
) -> None:
    saved: dict[str, Any] = {}
    first = make_router(cluster, saved)
    first.prepare()
    first.ensure()
    first.set_weights(Weights(50, 50), match_header=A_B, mirror=10)

    second = make_router(cluster, dict(saved))  # another process, from the record
    second.prepare()  # must not take the changed route for the user's
    second.restore()

    assert get(api_client, app, "VirtualService")["spec"] == user_routing[0]
    assert get(api_client, app, "DestinationRule")["spec"] == user_routing[1]
