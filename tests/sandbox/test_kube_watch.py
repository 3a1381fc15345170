"""Cluster.wait_for / watch_list against the sandbox: reaction time, timeouts, 410 Gone.

Also: one Cluster shared by a lease-renewal thread and the main thread.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from rollout import errors, kube
from rollout.kube import Resource
from rollout.sandbox import Sandbox
from rollout.sandbox.store.watch import History
from rollout.settings import FAST as FAST_SETTINGS
from rollout.spec import ObjectRef
from tests.sandbox.kube_support import Obj, holder_is, later, lease

# -- waits -------------------------------------------------------------------------


def test_wait_for_returns_within_100ms_of_the_change(cluster: kube.Cluster, namespace: str) -> None:
    ref = ObjectRef(namespace, "l")
    cluster.create(Resource.LEASE, lease("l"), namespace=namespace)
    changing: list[float] = []

    def change() -> None:
        changing.append(time.monotonic())  # just before the PATCH is sent
        cluster.patch(Resource.LEASE, ref, {"spec": {"holderIdentity": "b"}})

    timer = later(0.3, change)
    result = cluster.wait_for(Resource.LEASE, ref, holder_is("b"), timeout=5)
    reaction = time.monotonic() - changing[0]  # includes the PATCH's own round trip
    timer.join()
    assert holder_is("b")(result)
    assert reaction < 0.1, reaction


def test_wait_for_sees_creation_and_deletion(cluster: kube.Cluster, namespace: str) -> None:
    ref = ObjectRef(namespace, "l")
    later(0.1, lambda: cluster.create(Resource.LEASE, lease("l"), namespace=namespace))
    assert cluster.wait_for(Resource.LEASE, ref, lambda o: o is not None, timeout=5)
    later(0.1, lambda: cluster.delete(Resource.LEASE, ref))
    assert cluster.wait_for(Resource.LEASE, ref, lambda o: o is None, timeout=5) is None


def test_wait_for_times_out_with_the_last_object_seen(
    cluster: kube.Cluster, namespace: str
) -> None:
    ref = ObjectRef(namespace, "l")
    cluster.create(Resource.LEASE, lease("l"), namespace=namespace)
    later(0.1, lambda: cluster.patch(Resource.LEASE, ref, {"spec": {"holderIdentity": "b"}}))
    started = time.monotonic()
    with pytest.raises(errors.WaitTimeout) as info:
        cluster.wait_for(
            Resource.LEASE, ref, holder_is("never"), timeout=0.5, describe="holder is never"
        )
    assert 0.5 <= time.monotonic() - started < 0.7
    assert holder_is("b")(info.value.last)
    assert str(info.value).startswith(
        f"Lease {namespace}/l: holder is never not met after 0.5s (last seen at resourceVersion "
    )
    assert info.value.exit_code == 1


def test_wait_for_relists_after_410_gone(
    cluster: kube.Cluster, namespace: str, sandbox: Sandbox
) -> None:
    sandbox.store._history = History(3)
    ref = ObjectRef(namespace, "l")
    cluster.create(Resource.LEASE, lease("l"), namespace=namespace)
    seen: list[str | None] = []

    def predicate(obj: Obj | None) -> bool:
        seen.append(obj and obj["spec"]["holderIdentity"])
        if len(seen) == 1:  # after the first read: more writes than the history keeps
            for i in range(5):
                cluster.create(Resource.LEASE, lease(f"x{i}"), namespace=namespace)
            cluster.patch(Resource.LEASE, ref, {"spec": {"holderIdentity": "b"}})
        return holder_is("b")(obj)

    sandbox.requests.clear()
    with capture_logs() as logs:
        result = cluster.wait_for(Resource.LEASE, ref, predicate, timeout=5)
    assert holder_is("b")(result)
    assert seen == ["a", "b"]
    assert "kube.watch.relisted" in [e["event"] for e in logs]
    assert sandbox.requests.count(verb="list", resource="leases") == 2


def test_watch_list_yields_changes_and_the_difference_after_410(
    cluster: kube.Cluster, namespace: str, sandbox: Sandbox
) -> None:
    sandbox.store._history = History(3)
    for name in ("a", "b"):
        cluster.create(Resource.LEASE, lease(name), namespace=namespace)
    stream = cluster.watch_list(Resource.LEASE, namespace, timeout=5)
    got: list[tuple[str, str]] = []
    with capture_logs() as logs:
        for type_, obj in stream:
            got.append((type_, obj["metadata"]["name"]))
            if len(got) == 2:  # while nobody watches: churn past the history
                cluster.delete(Resource.LEASE, ObjectRef(namespace, "a"))
                cluster.patch(Resource.LEASE, ObjectRef(namespace, "b"), {"spec": {"x": 1}})
                for i in range(4):
                    cluster.create(Resource.LEASE, lease(f"n{i}"), namespace=namespace)
            if len(got) == 2 + 6:
                later(0.1, lambda: cluster.delete(Resource.LEASE, ObjectRef(namespace, "n0")))
            if len(got) == 2 + 6 + 1:
                break
    stream.close()
    assert got == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("MODIFIED", "b"),
        ("ADDED", "n0"),
        ("ADDED", "n1"),
        ("ADDED", "n2"),
        ("ADDED", "n3"),
        ("DELETED", "a"),
        ("DELETED", "n0"),
    ]
    assert "kube.watch.relisted" in [e["event"] for e in logs]


def test_lease_thread_and_main_thread_share_one_cluster(
    cluster: kube.Cluster, namespace: str
) -> None:
    ref = ObjectRef(namespace, "lock")
    cluster.create(Resource.LEASE, lease("lock"), namespace=namespace)
    failures: list[BaseException] = []

    def renew() -> None:
        try:
            for i in range(30):
                cluster.update(
                    Resource.LEASE, ref, lambda o, i=i: o["spec"].update(leaseDurationSeconds=i + 1)
                )
        except errors.RolloutError as e:
            failures.append(e)

    renewer = threading.Thread(target=renew)
    renewer.start()
    for i in range(30):
        cluster.create(Resource.LEASE, lease(f"m{i}"), namespace=namespace)
    result = cluster.wait_for(
        Resource.LEASE,
        ref,
        lambda o: o is not None and o["spec"].get("leaseDurationSeconds") == 30,
        timeout=10,
    )
    renewer.join()
    assert failures == []
    assert result is not None and len(cluster.list(Resource.LEASE, namespace)) == 31


# -- closing -------------------------------------------------------------------------


def test_a_watch_running_when_the_cluster_closes_ends_quietly(
    kubeconfig: Path, namespace: str, sandbox: Sandbox
) -> None:
    """A background watch that outlives its command (the live view's, the abort
    watch) ends at once with ClusterClosed when the Cluster is closed: no retries, no
    warnings (the demo used to print kube.retry lines after its last rollout)."""
    closing = kube.Cluster.connect(
        kubeconfig=str(kubeconfig), namespace=namespace, settings=FAST_SETTINGS
    )
    ended: list[BaseException] = []

    def watch() -> None:
        try:
            for _ in closing.watch_list(Resource.LEASE, namespace, timeout=30):
                pass
        except errors.RolloutError as e:
            ended.append(e)

    with capture_logs() as logs:
        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        time.sleep(0.3)  # the watch is open (a 30 s one)
        closed = time.monotonic()
        closing.close()
        thread.join(timeout=5)
        took = time.monotonic() - closed
        with pytest.raises(errors.ClusterClosed):
            closing.get(Resource.LEASE, ObjectRef(namespace, "any"))

    assert not thread.is_alive()
    assert took < 2, took  # the open stream was cut, not waited out
    assert [type(e) for e in ended] == [errors.ClusterClosed]
    assert not [entry for entry in logs if entry["log_level"] == "warning"], logs
