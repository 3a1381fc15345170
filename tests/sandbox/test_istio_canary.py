"""`rollout istio-canary` end to end: the real CLI in a subprocess against the sandbox, in
a namespace labelled istio-injection=enabled, gated on a real Prometheus where checks are
given. A watch on VirtualServices checks on every event that the weights sum to 100 and
that the sandbox's traffic follows them within 3 points."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from rollout.sandbox import Sandbox
from rollout.sandbox.faults import WRITE_VERBS
from rollout.sandbox.prometheus import PrometheusServer
from tests.sandbox.cli_runs import (
    APP,
    FAST_ANALYSIS,
    REPO,
    image,
    lease_exists,
    record,
    rollout,
    start,
)
from tests.sandbox.istio_support import (
    VirtualServiceWatch,
    canary_weight,
    get,
    install,
    label_istio,
    user_destination_rule,
    user_virtual_service,
)
from tests.sandbox.rollouts import wait_for

Obj = dict[str, Any]
Write = tuple[str, str, str]  # verb, resource, name


@pytest.fixture
def mesh_app(app: str, api_client: client.ApiClient) -> tuple[str, Obj, Obj]:
    """link-manager in an istio-injected namespace with the user's VirtualService and
    DestinationRule; returns the namespace and their specs as installed."""
    label_istio(api_client, app)
    vs, dr = user_virtual_service(), user_destination_rule()
    install(api_client, app, vs, dr)
    return app, vs["spec"], dr["spec"]


@pytest.fixture
def vs_watch(
    app: str, api_client: client.ApiClient, sandbox: Sandbox
) -> Iterator[VirtualServiceWatch]:
    """A VirtualService watch measuring the sandbox's traffic at every event."""
    sandbox.requests.clear()
    w = VirtualServiceWatch(api_client, app, sandbox).start()
    yield w
    w.stop()


def writes(sandbox: Sandbox, namespace: str, since: int = 0) -> list[Write]:
    """Persisted writes in `namespace` in the order the API served them (no leases, events),
    from the `since`-th request of the log on."""
    entries = list(sandbox.requests.entries)[since:]
    return [(r.verb, r.resource, r.name) for r, code in entries
            if r.namespace == namespace and r.verb in WRITE_VERBS and not r.dry_run
            and code < 400 and r.resource not in ("leases", "events")]  # fmt: skip


def apps_in(api: client.ApiClient, namespace: str) -> dict[str, str]:
    """Deployment name -> image of its first container."""
    items = client.AppsV1Api(api).list_namespaced_deployment(namespace).items
    return {d.metadata.name: d.spec.template.spec.containers[0].image for d in items}


def canary_pods(api: client.ApiClient, namespace: str) -> list[str]:
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace).items
    return [p.metadata.name for p in pods if p.metadata.name.startswith(f"{APP}-canary")]


def assert_invariants(w: VirtualServiceWatch, *, weights: tuple[int, ...]) -> None:
    """No event broke the sums or the traffic split; every step's weight was live and
    measured at least once."""
    assert w.violations == []
    measured = {canary_weight(e.spec) for e in w.events if e.measured is not None}
    assert set(weights) <= measured, (weights, measured)


def assert_abort_was_one_write_first(w: VirtualServiceWatch, log: list[Write]) -> list[Write]:
    """The way back began with ONE VirtualService write setting 100/0 on the split route,
    and the record was written only after it. Returns the writes between the last split
    and that one (the test knows which it expects there)."""
    changes = [e for e in w.events if e.type in ("ADDED", "MODIFIED")]
    vs_writes = [i for i, (_, resource, _) in enumerate(log) if resource == "virtualservices"]
    assert len(vs_writes) == len(changes)  # one event per write: they line up
    shares = [canary_weight(e.spec) for e in changes]
    back = next(j for j in range(1, len(shares)) if shares[j] == 0 and shares[j - 1] > 0)
    split = next(r for r in changes[back].spec["http"] if r["name"] == "primary")["route"]
    assert [(d["destination"]["subset"], d["weight"]) for d in split] == [
        ("stable", 100), ("canary", 0)]  # fmt: skip
    assert log[vs_writes[back] + 1] == ("patch", "deployments", APP)  # then the record
    return log[vs_writes[back - 1] + 1 : vs_writes[back]]


def assert_users_routing_back(api: client.ApiClient, ns: str, vs: Obj, dr: Obj) -> None:
    assert get(api, ns, "VirtualService")["spec"] == vs  # extra routes and fields as they were
    assert get(api, ns, "DestinationRule")["spec"] == dr  # trafficPolicy and subsets too


# -- healthy ----------------------------------------------------------------------------------


def test_healthy_image_is_promoted_with_traffic_following_every_weight(
    mesh_app: tuple[str, Obj, Obj], vs_watch: VirtualServiceWatch, kubeconfig: Path,
    api_client: client.ApiClient, sandbox: Sandbox,
) -> None:  # fmt: skip
    ns, vs, dr = mesh_app

    run = rollout(kubeconfig, ns, "istio-canary", APP, "--image", "v2", "--steps", "10,25,50",
                  "--pause", "1s", "-o", "json")  # fmt: skip

    assert run.code == 0, run.stderr
    assert run.result["outcome"] == "promoted"
    steps = run.result["steps"]
    assert [s["name"] for s in steps] == [
        "routing", "weight 10%", "weight 25%", "weight 50%", "weight 100%", "promote",
    ]  # fmt: skip
    assert [s["achieved"] for s in steps] == [None, 10.0, 25.0, 50.0, 100.0, 100.0]
    # the end state: only the user's Deployment, on v2; the user's routing as it was
    assert apps_in(api_client, ns) == {APP: f"{REPO}:v2"}
    assert canary_pods(api_client, ns) == []
    assert_users_routing_back(api_client, ns, vs, dr)
    assert record(api_client, ns)["phase"] == "Succeeded"
    assert not lease_exists(api_client, ns)
    # the VirtualService is read once (discovery); every change after is one PUT from the
    # copy the last one returned: routing, 10, 25, 50, 100, then at the end the weights
    # 100/0 and the user's route (one read there: ensure() found nothing to change)
    assert _vs_calls(sandbox, ns) == ["list"] + ["update"] * 5 + ["get", "update", "update"]
    vs_watch.stop()
    assert_invariants(vs_watch, weights=(0, 10, 25, 50))


def _vs_calls(box: Sandbox, namespace: str) -> list[str]:
    """Verbs of rollout's own VirtualService requests (not the tests' watches)."""
    return [
        req.verb for req, _ in box.requests.entries
        if req.resource == "virtualservices" and req.namespace == namespace
        and req.user_agent.startswith("rollout/")
    ]  # fmt: skip


def test_header_match_alone_with_create_routing_is_an_a_b_step_then_promote(
    app: str, vs_watch: VirtualServiceWatch, kubeconfig: Path, api_client: client.ApiClient
) -> None:
    label_istio(api_client, app)

    run = rollout(kubeconfig, app, "istio-canary", APP, "--image", "v2", "--create-routing",
                  "--match-header", "x-canary=true", "--pause", "1s", "-o", "json")  # fmt: skip

    assert run.code == 0, run.stderr
    names = [s["name"] for s in run.result["steps"]]
    assert names == ["routing", "header x-canary=true", "weight 100%", "promote"]
    assert "x-canary=true to canary" in run.result["steps"][1]["message"]
    assert apps_in(api_client, app) == {APP: f"{REPO}:v2"}
    assert get(api_client, app, "VirtualService") is None  # created by rollout, removed again
    assert get(api_client, app, "DestinationRule") is None
    vs_watch.stop()
    header_step = [
        e
        for e in vs_watch.events
        if e.measured is not None
        and canary_weight(e.spec) == 0
        and any(r.get("name") == "rollout-canary-header" for r in e.spec["http"])
    ]
    assert header_step and all(7 <= e.measured <= 13 for e in header_step)  # type: ignore[operator]
    assert vs_watch.violations == []


# -- failing ----------------------------------------------------------------------------------


@pytest.fixture
def shared_mesh_app(
    shared_app: str, shared: tuple[Path, client.ApiClient], shared_sandbox: Sandbox
) -> Iterator[tuple[str, Obj, Obj, VirtualServiceWatch]]:
    _, api = shared
    label_istio(api, shared_app)
    vs, dr = user_virtual_service(), user_destination_rule()
    install(api, shared_app, vs, dr)
    shared_sandbox.requests.clear()
    # sums only: measuring traffic here would add bursts to the very metrics gated on
    w = VirtualServiceWatch(api, shared_app).start()
    yield shared_app, vs["spec"], dr["spec"], w
    w.stop()


def test_failing_image_is_rolled_back_weights_first_with_istio_measurements(
    shared_mesh_app: tuple[str, Obj, Obj, VirtualServiceWatch],
    shared: tuple[Path, client.ApiClient], shared_sandbox: Sandbox, prometheus: PrometheusServer,
) -> None:  # fmt: skip
    ns, vs, dr, w = shared_mesh_app
    kubeconfig, api = shared

    # 50%: ~25 requests/s reach the canary, 6s of them give a success rate within a few
    # points of v3's 80%
    run = rollout(kubeconfig, ns, "istio-canary", APP, "--image", "v3", "--steps", "50,75",
                  "--check", "success-rate>=95", *FAST_ANALYSIS, "--initial-delay", "6s",
                  "--prometheus-url", prometheus.url, "-o", "json", timeout=90)  # fmt: skip

    assert run.code == 1, run.stderr
    rec = record(api, ns)
    assert rec["phase"] == "Failed"
    measured = [m for s in rec["steps"] for m in s["measurements"] if m["value"] is not None]
    values = [m["value"] for m in measured]
    assert values and all(60 < v < 95 for v in values), values  # v3: ~20% fail (n ~ 150-250)
    # Istio's own metrics (the record names each check's query once per step)
    queries = [q for s in rec["steps"] if s["measurements"] for q in s["queries"].values()]
    assert queries and all("istio_requests_total" in q for q in queries), queries
    assert image(api, ns) == f"{REPO}:v1"
    assert apps_in(api, ns) == {APP: f"{REPO}:v1"}
    assert_users_routing_back(api, ns, vs, dr)
    w.stop()
    assert w.violations == []
    assert assert_abort_was_one_write_first(w, writes(shared_sandbox, ns)) == []  # gate -> VS


# -- pauses, promote, abort -------------------------------------------------------------------


def test_manual_pause_exits_4_then_promote_and_resume_from_new_processes_finish(
    mesh_app: tuple[str, Obj, Obj], vs_watch: VirtualServiceWatch, kubeconfig: Path,
    api_client: client.ApiClient,
) -> None:  # fmt: skip
    ns, vs, dr = mesh_app

    run = rollout(kubeconfig, ns, "istio-canary", APP, "--image", "v2", "--steps", "20,50",
                  "--pause", "manual", "-o", "json")  # fmt: skip
    pauses = 0
    while run.code == 4:
        pauses += 1
        rec = record(api_client, ns)
        assert rec["phase"] == "Paused"
        assert canary_weight(get(api_client, ns, "VirtualService")["spec"]) == (20, 50)[pauses - 1]
        assert not lease_exists(api_client, ns)  # nobody drives it while paused
        assert rollout(kubeconfig, ns, "promote", APP).code == 0
        run = rollout(kubeconfig, ns, "resume", APP, "-o", "json")

    assert (run.code, pauses) == (0, 2), run.stderr
    assert apps_in(api_client, ns) == {APP: f"{REPO}:v2"}
    assert_users_routing_back(api_client, ns, vs, dr)
    vs_watch.stop()
    assert_invariants(vs_watch, weights=(0, 20, 50))


def test_abort_after_a_manual_pause_restores_stable_and_the_users_routing(
    mesh_app: tuple[str, Obj, Obj], vs_watch: VirtualServiceWatch, kubeconfig: Path,
    api_client: client.ApiClient, sandbox: Sandbox,
) -> None:  # fmt: skip
    ns, vs, dr = mesh_app
    paused = rollout(kubeconfig, ns, "istio-canary", APP, "--image", "v2", "--steps", "30",
                     "--match-header", "x-canary=true", "--pause", "manual")  # fmt: skip
    assert paused.code == 4, paused.stderr
    assert len(canary_pods(api_client, ns)) == 1
    mark = len(sandbox.requests.entries)

    aborted = rollout(kubeconfig, ns, "abort", APP)  # no driver left: it rolls back itself

    assert aborted.code == 0, aborted.stderr
    assert record(api_client, ns)["phase"] == "Aborted"
    assert apps_in(api_client, ns) == {APP: f"{REPO}:v1"}
    assert canary_pods(api_client, ns) == []
    assert_users_routing_back(api_client, ns, vs, dr)
    assert writes(sandbox, ns, since=mark)[0] == ("update", "virtualservices", APP)
    vs_watch.stop()
    assert_invariants(vs_watch, weights=(0,))


def test_abort_from_a_second_process_sets_100_0_in_one_write_first(
    mesh_app: tuple[str, Obj, Obj], vs_watch: VirtualServiceWatch, kubeconfig: Path,
    api_client: client.ApiClient, sandbox: Sandbox,
) -> None:  # fmt: skip
    ns, vs, dr = mesh_app
    driver = start(kubeconfig, ns, "istio-canary", APP, "--image", "v2", "--steps", "20,50",
                   "--pause", "60s", "-o", "json")  # fmt: skip
    try:
        vs_watch.wait_until(lambda spec: canary_weight(spec) == 20)
        wait_for(client.AppsV1Api(api_client).list_namespaced_deployment, ns, APP,
                 lambda d: '"phase":"Paused"' in d["metadata"]["annotations"].get(
                     "rollout.dev/rollout", ""), timeout=15)  # fmt: skip

        mark = len(sandbox.requests.entries)
        aborted = rollout(kubeconfig, ns, "abort", APP)
        _, err = driver.communicate(timeout=30)
    finally:
        driver.kill()

    assert aborted.code == 0, aborted.stderr
    assert driver.returncode == 1, err
    assert record(api_client, ns)["phase"] == "Aborted"
    assert apps_in(api_client, ns) == {APP: f"{REPO}:v1"}
    assert canary_pods(api_client, ns) == []
    assert_users_routing_back(api_client, ns, vs, dr)
    vs_watch.stop()
    assert_invariants(vs_watch, weights=(0, 20))
    assert_abort_was_one_write_first(vs_watch, writes(sandbox, ns))
    request, first, record_write = writes(sandbox, ns, since=mark)[:3]
    assert request == ("patch", "deployments", APP)  # `rollout abort` leaves its request
    assert first == ("update", "virtualservices", APP)  # the driver's first write: 100/0
    assert record_write == ("patch", "deployments", APP)  # then Aborting is recorded


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["x-canary", "=true", "x canary=true", "x-canary=a\nb"])
def test_malformed_match_header_is_one_line_exit_2_and_no_write(
    header: str, mesh_app: tuple[str, Obj, Obj], kubeconfig: Path, sandbox: Sandbox
) -> None:
    ns, _, _ = mesh_app
    sandbox.requests.clear()

    run = rollout(kubeconfig, ns, "istio-canary", APP, "--image", "v2", "--match-header", header)

    assert run.code == 2, run.stderr
    assert run.stderr.startswith("error: --match-header") and run.stderr.count("\n") == 1
    assert sandbox.requests.count(persisted=True) == 0


def test_virtual_service_that_does_not_route_the_host_is_exit_2_and_no_write(
    mesh_app: tuple[str, Obj, Obj], kubeconfig: Path, sandbox: Sandbox,
    api_client: client.ApiClient,
) -> None:  # fmt: skip
    ns, _, _ = mesh_app
    admin_only = user_virtual_service()
    admin_only["metadata"]["name"] = "admin-only"
    admin_only["spec"]["http"] = admin_only["spec"]["http"][:1]
    install(api_client, ns, admin_only)
    sandbox.requests.clear()

    run = rollout(kubeconfig, ns, "istio-canary", APP, "--image", "v2",
                  "--virtual-service", "admin-only")  # fmt: skip

    assert run.code == 2, run.stderr
    assert run.stderr.startswith(f"error: VirtualService {ns}/admin-only: does not route host")
    assert run.stderr.count("\n") == 1
    assert sandbox.requests.count(persisted=True) == 0


def test_no_routing_for_the_host_is_exit_2_suggesting_create_routing(
    app: str, kubeconfig: Path, sandbox: Sandbox
) -> None:
    sandbox.requests.clear()

    run = rollout(kubeconfig, app, "istio-canary", APP, "--image", "v2")

    assert run.code == 2, run.stderr
    assert "--create-routing" in run.stderr and run.stderr.count("\n") == 1
    assert sandbox.requests.count(persisted=True) == 0
