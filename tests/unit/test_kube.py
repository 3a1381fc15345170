"""kube's pure parts: resource paths, create equivalence, Event bodies, the follow loop.

The follow loop runs over a fake of our own Transport seam (kube_watch.Transport):
scripted lists and watch streams, no sockets.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from rollout import errors, kube_errors, kube_watch
from rollout.kube import PatchType, Resource, event_for, is_equivalent
from rollout.settings import FAST
from rollout.spec import ObjectRef

Obj = dict[str, Any]


@pytest.mark.parametrize(
    ("res", "namespace", "name", "path"),
    [
        (Resource.DEPLOYMENT, "shop", "web", "/apis/apps/v1/namespaces/shop/deployments/web"),
        (Resource.POD, "shop", None, "/api/v1/namespaces/shop/pods"),
        (Resource.LEASE, "", None, "/apis/coordination.k8s.io/v1/leases"),
        (Resource.NAMESPACE, "ignored", "shop", "/api/v1/namespaces/shop"),
        (
            Resource.VIRTUAL_SERVICE,
            "shop",
            "web",
            "/apis/networking.istio.io/v1beta1/namespaces/shop/virtualservices/web",
        ),
        (Resource.EVENT, "shop", "web.17a", "/api/v1/namespaces/shop/events/web.17a"),
    ],
)
def test_resource_paths(res: Resource, namespace: str, name: str | None, path: str) -> None:
    assert res.path(namespace, name) == path


def test_resources_name_their_kind_for_messages() -> None:
    assert Resource.DESTINATION_RULE.api_version == "networking.istio.io/v1beta1"
    assert Resource.ENDPOINTS.api_version == "v1"
    assert Resource.REPLICASET.subject(ObjectRef("shop", "web-1")) == "ReplicaSet shop/web-1"
    assert Resource.NAMESPACE.subject(ObjectRef("", "shop")) == "Namespace shop"
    assert PatchType.JSON.value == "application/json-patch+json"


def test_an_object_with_server_defaults_is_equivalent_to_what_was_sent() -> None:
    sent = {
        "metadata": {"name": "web", "labels": {"a": "1"}},
        "spec": {"replicas": 2, "ports": [{"port": 80}]},
    }
    stored = {
        "metadata": {"name": "web", "labels": {"a": "1"}, "uid": "u", "resourceVersion": "9"},
        "spec": {
            "replicas": 2,
            "ports": [{"port": 80, "protocol": "TCP"}],
            "strategy": {"type": "RollingUpdate"},
        },
        "status": {"replicas": 0},
    }
    assert is_equivalent(sent, stored)
    assert not is_equivalent({**sent, "spec": {"replicas": 3}}, stored)
    assert not is_equivalent({"metadata": {"name": "web", "labels": {"a": "2"}}}, stored)
    assert not is_equivalent({"spec": {"ports": [{"port": 80}, {"port": 81}]}}, stored)


def test_event_body_names_the_involved_object() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "42"},
    }
    body = event_for(deployment, reason="GateFailed", message="p99 410ms", warning=True)
    assert body["metadata"]["name"].startswith("web.")
    assert body["metadata"]["namespace"] == "shop"
    assert body["involvedObject"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "namespace": "shop",
        "uid": "u1",
        "resourceVersion": "42",
    }
    assert (body["type"], body["reason"], body["count"]) == ("Warning", "GateFailed", 1)
    assert body["source"] == {"component": "rollout"}
    assert body["firstTimestamp"] == body["lastTimestamp"]
    assert body["firstTimestamp"].endswith("Z")


def test_watch_call_ends_at_the_deadline_or_the_longest_watch() -> None:
    short = kube_watch.watch_call(
        Resource.POD,
        "shop",
        resource_version="7",
        labels="app=web",
        fields=None,
        timeout=0.4,
        settings=FAST,
    )
    assert dict(short.query) == {
        "watch": "true",
        "allowWatchBookmarks": "true",
        "resourceVersion": "7",
        "timeoutSeconds": "1",
        "labelSelector": "app=web",
    }
    assert short.timeout == (FAST.retry.request_timeout, 0.4)
    long = kube_watch.watch_call(
        Resource.POD,
        "shop",
        resource_version="7",
        labels=None,
        fields=None,
        timeout=600,
        settings=FAST,
    )
    assert dict(long.query)["timeoutSeconds"] == str(int(FAST.watch_timeout))
    assert long.timeout == (FAST.retry.request_timeout, FAST.watch_timeout + 5)


# -- the follow loop over a scripted transport --------------------------------------


def lease(name: str, rv: int, holder: str = "a") -> Obj:
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)},
        "spec": {"holderIdentity": holder},
    }


class Stream:
    """A finished watch response: its events as newline-separated JSON chunks."""

    def __init__(self, events: list[tuple[str, Obj]]) -> None:
        self.lines = [json.dumps({"type": t, "object": o}).encode() + b"\n" for t, o in events]
        self.closed = False

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        yield from self.lines

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        pass


class ScriptedTransport:
    """Lists and watch streams handed out in order; records what was asked for."""

    def __init__(
        self, lists: list[tuple[list[Obj], str]], watches: list[list[tuple[str, Obj]] | Exception]
    ) -> None:
        self.lists, self.watches = lists, watches
        self.watched_from: list[str] = []
        self.streams: list[Stream] = []

    def list_with_version(
        self, res: Resource, namespace: str | None, *, labels: str | None, fields: str | None
    ) -> tuple[list[Obj], str]:
        return self.lists.pop(0)

    def open_watch(
        self,
        res: Resource,
        namespace: str | None,
        *,
        resource_version: str,
        labels: str | None,
        fields: str | None,
        timeout: float,
    ) -> tuple[Any, kube_errors.Call]:
        self.watched_from.append(resource_version)
        script = self.watches.pop(0)
        if isinstance(script, Exception):
            raise script
        self.streams.append(Stream(script))
        return self.streams[-1], kube_errors.Call("watch", "GET", "/x", "Lease watch")


def gone() -> Obj:
    return {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}


def test_wait_resumes_from_the_last_resource_version_and_relists_after_410() -> None:
    t = ScriptedTransport(
        lists=[
            ([lease("l", 5)], "10"),
            ([lease("l", 30, "c")], "31"),
            ([lease("l", 35, "c")], "36"),
        ],
        watches=[
            [("MODIFIED", lease("l", 11)), ("BOOKMARK", lease("", 14))],  # then the stream ends
            [("MODIFIED", lease("l", 20, "b")), ("ERROR", gone())],
            kube_errors.Expired("too old", code=410),
            [("MODIFIED", lease("l", 40, "z"))],
        ],
    )
    seen: list[str | None] = []

    def predicate(obj: Obj | None) -> bool:
        seen.append(obj and obj["metadata"]["resourceVersion"])
        return obj is not None and obj["spec"]["holderIdentity"] == "z"

    result = kube_watch.wait_for(
        t,
        Resource.LEASE,
        ObjectRef("ns", "l"),
        predicate,
        timeout=5,
        describe="",
        subject="Lease ns/l",
    )
    assert result == lease("l", 40, "z")
    assert t.watched_from == ["10", "14", "31", "36"]
    assert seen == ["5", "11", "20", "30", "35", "40"]
    assert all(s.closed for s in t.streams)


def test_wait_times_out_with_the_last_object_and_closes_the_stream() -> None:
    t = ScriptedTransport(lists=[([], "3")], watches=[[("ADDED", lease("l", 4))]])
    with pytest.raises(errors.WaitTimeout) as info:
        kube_watch.wait_for(
            t,
            Resource.LEASE,
            ObjectRef("ns", "l"),
            lambda o: False,
            timeout=0.0,
            describe="ready",
            subject="Lease ns/l",
        )
    assert info.value.last is None  # the deadline passed before any watch was opened
    assert str(info.value) == "Lease ns/l: ready not met after 0s (the object does not exist)"


def test_watch_list_turns_a_relist_into_the_difference() -> None:
    t = ScriptedTransport(
        lists=[([lease("a", 1), lease("b", 2)], "2"), ([lease("b", 9), lease("c", 8)], "9")],
        watches=[[("MODIFIED", lease("a", 3))], [("ERROR", gone())], [("DELETED", lease("c", 10))]],
    )
    stream = kube_watch.watch_list(t, Resource.LEASE, "ns", labels=None, timeout=5)
    got = [
        (type_, obj["metadata"]["name"], obj["metadata"]["resourceVersion"])
        for type_, obj in itertools.islice(stream, 7)
    ]
    stream.close()
    assert got == [
        ("ADDED", "a", "1"),
        ("ADDED", "b", "2"),
        ("MODIFIED", "a", "3"),
        ("MODIFIED", "b", "9"),
        ("ADDED", "c", "8"),
        ("DELETED", "a", "3"),
        ("DELETED", "c", "10"),
    ]


def test_a_watch_error_other_than_410_is_raised_as_a_rollout_error() -> None:
    forbidden = {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "no"}
    t = ScriptedTransport(lists=[([], "1")], watches=[[("ERROR", forbidden)]])
    with pytest.raises(errors.Forbidden):
        list(kube_watch.watch_list(t, Resource.LEASE, "ns", labels=None, timeout=5))


def test_importing_the_cli_and_kube_does_not_import_kubernetes() -> None:
    code = (
        "import sys, rollout.cli, rollout.kube; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'urllib3')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [["--help"], ["canary", "--help"], ["status", "--help"]])
def test_help_pages_import_none_of_the_heavy_libraries(args: list[str]) -> None:
    """`rollout --help` as a process: -X importtime lists every module it imported."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "rollout", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    heavy = ("kubernetes", "urllib3", "pydantic", "structlog", "rich", "prometheus_api_client")
    assert out.stdout.startswith("Usage: ")
    assert "click" in imported  # the listing is real
    assert not sorted(m for m in imported if m.split(".")[0] in heavy)
