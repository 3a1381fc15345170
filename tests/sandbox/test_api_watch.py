"""Watches through the official client: event types, resuming, timeouts, 410 Gone, latency."""

from __future__ import annotations

import queue
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
from kubernetes import client, watch

from rollout.sandbox import Sandbox
from tests.sandbox import rawhttp

LATENCY_BUDGET = 0.1  # seconds from the write call to the event at the watcher
Event = tuple[float, str, dict[str, Any]]  # arrival time, type, raw object


class Follower:
    """Follows one watch stream on a thread; events land on a queue with arrival times."""

    def __init__(self, list_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.events: queue.Queue[Event | None] = queue.Queue()
        self.watch = watch.Watch()
        self.error: client.ApiException | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, args=(list_fn, args, kwargs), daemon=True)
        self._thread.start()

    def _run(
        self, list_fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        try:
            for event in self.watch.stream(list_fn, *args, **kwargs):
                self.events.put((time.perf_counter(), event["type"], event["raw_object"]))
        except client.ApiException as e:
            self.error = e
        except urllib3.exceptions.ProtocolError:  # what stop() does to a blocked read
            if not self._stopping:
                raise
        finally:
            self.events.put(None)  # the stream ended

    def next(self, timeout: float = 2.0) -> Event:
        """The next event (fails if the stream ended first)."""
        item = self.events.get(timeout=timeout)
        assert item is not None, f"stream ended early ({self.error})"
        return item

    def until(self, name: str, type_: str) -> list[Event]:
        """Events up to and including `type_` of object `name`."""
        seen: list[Event] = []
        while not seen or (seen[-1][1], seen[-1][2]["metadata"]["name"]) != (type_, name):
            seen.append(self.next())
        return seen

    def ended(self, timeout: float) -> bool:
        """Whether the stream ends (only end-of-stream left) within `timeout`."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """End the stream from the client side."""
        self._stopping = True
        self.watch.stop()


@pytest.fixture
def follow(core: client.CoreV1Api, namespace: str) -> Iterator[Callable[..., Follower]]:
    """Start followers of config maps in the test namespace; stopped at teardown."""
    followers: list[Follower] = []

    def start(**kwargs: Any) -> Follower:
        """Follow config maps of the namespace with these watch arguments."""
        kwargs.setdefault("timeout_seconds", 10)
        follower = Follower(core.list_namespaced_config_map, namespace, **kwargs)
        followers.append(follower)
        return follower

    yield start
    for f in followers:
        f.stop()


def _cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


def test_watch_reports_added_modified_deleted_in_order(
    core: client.CoreV1Api, namespace: str, follow: Callable[..., Follower]
) -> None:
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    stream = follow(resource_version=rv)
    core.create_namespaced_config_map(namespace, _cm("a"))
    core.patch_namespaced_config_map("a", namespace, {"data": {"k": "w"}})
    core.delete_namespaced_config_map("a", namespace)
    events = stream.until("a", "DELETED")
    assert [(t, o["metadata"]["name"]) for _, t, o in events] == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("DELETED", "a"),
    ]
    assert events[1][2]["data"] == {"k": "w"}
    assert events[0][2]["kind"] == "ConfigMap" and events[0][2]["apiVersion"] == "v1"


def test_watch_without_resource_version_starts_with_existing_objects(
    core: client.CoreV1Api, namespace: str, follow: Callable[..., Follower]
) -> None:
    core.create_namespaced_config_map(namespace, _cm("old"))
    stream = follow()
    _, type_, obj = stream.next()
    assert (type_, obj["metadata"]["name"]) == ("ADDED", "old")
    core.create_namespaced_config_map(namespace, _cm("new"))
    assert [(t, o["metadata"]["name"]) for _, t, o in stream.until("new", "ADDED")] == [
        ("ADDED", "new")
    ]


def test_watch_resumes_after_a_resource_version_without_replaying_older_events(
    core: client.CoreV1Api, namespace: str, follow: Callable[..., Follower]
) -> None:
    made = core.create_namespaced_config_map(namespace, _cm("a"))
    core.patch_namespaced_config_map("a", namespace, {"data": {"k": "1"}})
    core.patch_namespaced_config_map("a", namespace, {"data": {"k": "2"}})
    core.create_namespaced_config_map(namespace, _cm("sentinel"))
    stream = follow(resource_version=made.metadata.resource_version)
    events = stream.until("sentinel", "ADDED")
    assert [(t, o["metadata"]["name"], o.get("data")) for _, t, o in events] == [
        ("MODIFIED", "a", {"k": "1"}),
        ("MODIFIED", "a", {"k": "2"}),
        ("ADDED", "sentinel", {"k": "v"}),
    ]


def test_watch_label_selector_turns_matching_transitions_into_added_and_deleted(
    core: client.CoreV1Api, namespace: str, follow: Callable[..., Follower]
) -> None:
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    stream = follow(resource_version=rv, label_selector="track=canary")
    core.create_namespaced_config_map(namespace, _cm("a", track="stable"))
    core.patch_namespaced_config_map("a", namespace, {"metadata": {"labels": {"track": "canary"}}})
    core.patch_namespaced_config_map("a", namespace, {"metadata": {"labels": {"track": "stable"}}})
    assert [(t, o["metadata"]["labels"]) for _, t, o in stream.until("a", "DELETED")] == [
        ("ADDED", {"track": "canary"}),
        ("DELETED", {"track": "stable"}),
    ]


def test_watch_by_field_selector_on_name_sees_only_that_object(
    core: client.CoreV1Api, namespace: str, follow: Callable[..., Follower]
) -> None:
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    stream = follow(resource_version=rv, field_selector="metadata.name=b")
    for name in ("a", "b"):
        core.create_namespaced_config_map(namespace, _cm(name))
    core.delete_namespaced_config_map("b", namespace)
    names = {o["metadata"]["name"] for _, _, o in stream.until("b", "DELETED")}
    assert names == {"b"}


def test_timeout_seconds_ends_the_stream_on_time(
    core: client.CoreV1Api, namespace: str, follow: Callable[..., Follower]
) -> None:
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    started = time.monotonic()
    stream = follow(resource_version=rv, timeout_seconds=1)
    assert stream.ended(timeout=3)
    assert 0.9 <= time.monotonic() - started < 1.8
    assert stream.error is None


def test_events_arrive_within_100ms_of_the_change(
    core: client.CoreV1Api, namespace: str, follow: Callable[..., Follower]
) -> None:
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    stream = follow(resource_version=rv)
    core.create_namespaced_config_map(namespace, _cm("c"))
    stream.next()  # the stream is up: measure changes from here on
    latencies: list[float] = []
    for i in range(30):
        started = time.perf_counter()
        core.patch_namespaced_config_map("c", namespace, {"data": {"k": str(i)}})
        arrived, _, obj = stream.next()
        assert obj["data"] == {"k": str(i)}
        latencies.append(arrived - started)
    print(
        f"watch latency over {len(latencies)} writes: p50 "
        f"{statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    assert max(latencies) < LATENCY_BUDGET


@pytest.fixture
def tiny_history() -> Iterator[tuple[Sandbox, client.CoreV1Api]]:
    """A sandbox whose store remembers only 3 events (no controller writes config maps)."""
    with Sandbox(history=3) as box:
        api = client.ApiClient(client.Configuration(host=box.url))
        yield box, client.CoreV1Api(api)
        api.close()


def test_watch_from_a_compacted_resource_version_fails_with_410_gone(
    tiny_history: tuple[Sandbox, client.CoreV1Api],
) -> None:
    _, core = tiny_history
    first = core.create_namespaced_config_map("default", _cm("a")).metadata.resource_version
    for i in range(5):
        core.patch_namespaced_config_map("a", "default", {"data": {"k": str(i)}})
    stream = Follower(
        core.list_namespaced_config_map, "default", resource_version=first, timeout_seconds=5
    )
    assert stream.ended(timeout=3)
    assert stream.error is not None and stream.error.status == 410
    assert "Expired" in str(stream.error.reason)


def test_too_old_resource_version_is_an_error_event_in_the_stream_like_upstream(
    tiny_history: tuple[Sandbox, client.CoreV1Api],
) -> None:
    box, core = tiny_history
    first = core.create_namespaced_config_map("default", _cm("a")).metadata.resource_version
    for i in range(5):
        core.patch_namespaced_config_map("a", "default", {"data": {"k": str(i)}})
    path = f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={first}"
    resp = rawhttp.request(box, "GET", path)
    assert resp.status == 200
    [event] = rawhttp.json_lines(resp.body)
    assert event["type"] == "ERROR"
    assert (event["object"]["kind"], event["object"]["code"], event["object"]["reason"]) == (
        "Status",
        410,
        "Expired",
    )


def test_watch_resumes_from_the_oldest_retained_event_and_not_one_before(
    tiny_history: tuple[Sandbox, client.CoreV1Api],
) -> None:
    _, core = tiny_history
    for i in range(5):
        core.create_namespaced_config_map("default", _cm(f"c{i}"))
    latest = int(core.list_namespaced_config_map("default").metadata.resource_version)
    resumed = Follower(
        core.list_namespaced_config_map,
        "default",
        resource_version=str(latest - 3),
        timeout_seconds=5,
    )
    names = [resumed.next()[2]["metadata"]["name"] for _ in range(3)]
    assert names == ["c2", "c3", "c4"]  # the three events the history still holds
    resumed.stop()
    too_old = Follower(
        core.list_namespaced_config_map,
        "default",
        resource_version=str(latest - 4),
        timeout_seconds=5,
    )
    assert too_old.ended(timeout=3)
    assert too_old.error is not None and too_old.error.status == 410
