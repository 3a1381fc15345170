"""Cluster against a failing sandbox: 503s, cut watches, 429 Retry-After, a permanent 500,
and requests held past the client's timeout (the retry succeeds, a landed write is not
repeated)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from rollout import errors, kube
from rollout.kube import Resource
from rollout.sandbox import Sandbox
from rollout.spec import ObjectRef
from tests.sandbox.kube_support import Obj, holder_is, later, lease, with_retry

# -- retries -----------------------------------------------------------------------


def test_fifty_operations_and_a_wait_survive_503s_and_cut_watches(
    cluster: kube.Cluster, namespace: str, sandbox: Sandbox
) -> None:
    sandbox.faults.fail(0.1, 503)
    sandbox.faults.cut_watches(after=0.2)
    done = 0
    with capture_logs() as logs:
        for i in range(10):
            ref = ObjectRef(namespace, f"l{i}")
            cluster.create(Resource.LEASE, lease(ref.name), namespace=namespace)
            cluster.patch(Resource.LEASE, ref, {"spec": {"leaseDurationSeconds": i}})
            cluster.update(Resource.LEASE, ref, lambda o: o["spec"].update(holderIdentity="u"))
            assert holder_is("u")(cluster.get(Resource.LEASE, ref))
            assert cluster.delete(Resource.LEASE, ref) in (True, False)  # False: a lost reply
            done += 5
        cluster.create(Resource.LEASE, lease("w"), namespace=namespace)
        ref = ObjectRef(namespace, "w")
        later(0.7, lambda: cluster.patch(Resource.LEASE, ref, {"spec": {"holderIdentity": "z"}}))
        assert holder_is("z")(cluster.wait_for(Resource.LEASE, ref, holder_is("z"), timeout=5))
    assert done == 50
    assert cluster.list(Resource.LEASE, namespace) != []
    failed = sum(1 for _, code in sandbox.requests.entries if code == 503)
    assert failed >= 3
    events = [e["event"] for e in logs]
    # one retry per 503, plus any reset of a keep-alive connection the sandbox closed
    assert events.count("kube.retry") >= failed
    assert "kube.watch.resumed" in events


def test_429_retry_after_is_honoured(
    cluster: kube.Cluster, namespace: str, sandbox: Sandbox
) -> None:
    sandbox.faults.fail(1.0, 429, verbs={"get"}, resources={"namespaces"}, retry_after=1, times=1)
    started = time.monotonic()
    ns = cluster.get(Resource.NAMESPACE, ObjectRef("", namespace))
    assert time.monotonic() - started >= 1.0
    assert ns["metadata"]["name"] == namespace
    assert sandbox.requests.count(verb="get", resource="namespaces") == 2


def test_a_permanent_500_ends_in_server_error_after_the_deadline(
    kubeconfig: Path, namespace: str, sandbox: Sandbox
) -> None:
    cluster = kube.Cluster.connect(
        kubeconfig=str(kubeconfig),
        namespace=namespace,
        settings=with_retry(initial=0.05, maximum=0.05, deadline=0.5),
    )
    sandbox.faults.fail(1.0, 500, resources={"leases"})
    started = time.monotonic()
    with pytest.raises(errors.ServerError) as info:
        cluster.get(Resource.LEASE, ObjectRef(namespace, "l"))
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 1.5
    assert info.value.exit_code == 5 and info.value.code == 500
    attempts = sandbox.requests.count(verb="get", resource="leases")
    assert 5 <= attempts <= 12
    assert str(info.value).startswith(f"Lease {namespace}/l: get failed (500 InternalError: ")
    assert f"; gave up after {attempts} attempts in " in str(info.value)


# -- a request held past the client's timeout ---------------------------------------


def test_a_get_held_past_the_request_timeout_is_retried_and_succeeds(
    kubeconfig: Path, namespace: str, sandbox: Sandbox
) -> None:
    settings = with_retry(request_timeout=0.3, deadline=10)
    cluster = kube.Cluster.connect(
        kubeconfig=str(kubeconfig), namespace=namespace, settings=settings
    )
    rule = sandbox.faults.delay(2.0, verbs={"get"}, resources={"namespaces"})
    rule.remaining = 1  # only the first attempt is held
    started = time.monotonic()
    with capture_logs() as logs:
        ns = cluster.get(Resource.NAMESPACE, ObjectRef("", namespace))
    assert time.monotonic() - started < 1.5  # the retry, not the held first attempt
    assert ns["metadata"]["name"] == namespace
    assert [(e["event"], e.get("reason")) for e in logs] == [("kube.retry", "Timeout")]


def test_an_update_whose_put_timed_out_but_landed_is_not_applied_again(
    kubeconfig: Path, namespace: str, sandbox: Sandbox
) -> None:
    # The first PUT is held 0.6 s and lands; the client gave up at 0.2 s and retries at
    # ~1.4 s with the old resourceVersion: 409, re-read, the change is already there.
    settings = with_retry(initial=1.2, maximum=1.2, request_timeout=0.2, deadline=10)
    cluster = kube.Cluster.connect(
        kubeconfig=str(kubeconfig), namespace=namespace, settings=settings
    )
    ref = ObjectRef(namespace, "l")
    cluster.create(Resource.LEASE, lease("l"), namespace=namespace)
    rule = sandbox.faults.delay(0.6, verbs={"update"}, resources={"leases"})
    rule.remaining = 1
    applied: list[int] = []

    def bump(obj: Obj) -> None:
        spec = obj["spec"]
        if spec.get("holderIdentity") != "b":
            applied.append(1)
            spec.update(holderIdentity="b", leaseTransitions=spec.get("leaseTransitions", 0) + 1)

    with capture_logs() as logs:
        result = cluster.update(Resource.LEASE, ref, bump)
    assert result["spec"]["holderIdentity"] == "b"
    assert result["spec"]["leaseTransitions"] == 1  # once, not twice
    assert applied == [1]  # the re-read found it done: no second change
    assert [(e["event"], e.get("reason")) for e in logs] == [
        ("kube.retry", "Timeout"),
        ("kube.conflict.retry", None),
    ]
    codes = [c for req, c in sandbox.requests.entries if req.verb == "update"]
    assert codes == [200, 409]


# -- a connection reset -----------------------------------------------------------------


@pytest.mark.parametrize(("verb", "resource"), [("get", "leases"), ("patch", "leases")])
def test_a_connection_reset_is_retried_and_the_call_succeeds(
    cluster: kube.Cluster, namespace: str, sandbox: Sandbox, verb: str, resource: str
) -> None:
    ref = ObjectRef(namespace, "l")
    cluster.create(Resource.LEASE, lease("l"), namespace=namespace)
    sandbox.faults.reset(1.0, verbs={verb}, resources={resource}, times=1)

    with capture_logs() as logs:
        if verb == "get":
            result = cluster.get(Resource.LEASE, ref)
        else:
            result = cluster.patch(Resource.LEASE, ref, {"spec": {"holderIdentity": "b"}})

    assert result["metadata"]["name"] == "l"
    assert verb == "get" or result["spec"]["holderIdentity"] == "b"
    assert [(e["event"], e.get("reason")) for e in logs] == [("kube.retry", "ConnectionReset")]
    codes = [c for req, c in sandbox.requests.entries if req.verb == verb]
    assert codes == [0, 200]  # the reset (logged as code 0), then the retry
