"""A watch on the wire, read from a raw socket: chunked transfer encoding, one JSON event
per chunk, each flushed as it happens rather than when the stream ends (else urllib3
buffers events and clients see them late)."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from rollout.sandbox import Sandbox
from tests.sandbox import rawhttp

Obj = dict[str, Any]


class RawStream:
    """One HTTP/1.1 GET on a plain socket; headers parsed, the body read chunk by chunk."""

    def __init__(self, box: Sandbox, path: str, timeout: float = 3.0) -> None:
        url = urllib.parse.urlsplit(box.url)
        assert url.port is not None
        self.sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
        self.file = self.sock.makefile("rb")
        self.status_line = self.file.readline().decode().strip()
        self.headers: dict[str, str] = {}
        while (line := self.file.readline().decode().strip()) != "":
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def chunk(self) -> bytes:
        """The next chunk's data (b"" for the terminating chunk)."""
        size = int(self.file.readline().split(b";")[0], 16)
        data = self.file.read(size)
        assert self.file.read(2) == b"\r\n", "chunk data not followed by CRLF"
        return data

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def open_stream(sandbox: Sandbox) -> Iterator[Any]:
    streams: list[RawStream] = []

    def start(path: str) -> RawStream:
        stream = RawStream(sandbox, path)
        streams.append(stream)
        return stream

    yield start
    for s in streams:
        s.close()


def _event(data: bytes) -> Obj:
    assert data.endswith(b"\n") and data.count(b"\n") == 1, data  # exactly one event
    return json.loads(data)  # type: ignore[no-any-return]


def test_watch_is_chunked_and_each_event_arrives_while_the_stream_is_open(
    open_stream: Any, core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    path = f"/api/v1/namespaces/{namespace}/configmaps?watch=1&timeoutSeconds=30"
    started = time.monotonic()
    stream = open_stream(path)

    assert stream.status_line == "HTTP/1.1 200 OK"
    assert stream.headers["transfer-encoding"] == "chunked"
    assert stream.headers["content-type"] == "application/json"
    assert "content-length" not in stream.headers
    first = _event(stream.chunk())
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "a")
    assert time.monotonic() - started < 1.0  # not held back until timeoutSeconds

    core.patch_namespaced_config_map("a", namespace, {"data": {"k": "v"}})
    second = _event(stream.chunk())
    assert (second["type"], second["object"]["data"]) == ("MODIFIED", {"k": "v"})


def test_watch_ends_with_the_terminating_chunk_after_timeout_seconds(
    open_stream: Any, core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    started = time.monotonic()
    stream = open_stream(f"/api/v1/namespaces/{namespace}/configmaps?watch=1&timeoutSeconds=1")

    assert _event(stream.chunk())["type"] == "ADDED"
    first_at = time.monotonic() - started
    assert stream.chunk() == b""  # the zero-size chunk: the server ended the stream
    ended_at = time.monotonic() - started
    assert first_at < 0.5 and 0.9 <= ended_at < 2.0
    assert stream.headers["connection"] == "close"
    assert stream.file.read() == b""  # and closed the connection


def test_a_client_that_reads_chunk_by_chunk_sees_events_as_they_happen(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    """The same through http.client (what urllib3 builds on): readline returns one event
    without waiting for the stream to end."""
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    path = f"/api/v1/namespaces/{namespace}/configmaps?watch=1&resourceVersion={rv}"
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})

    started = time.monotonic()
    [event] = rawhttp.stream_lines(sandbox, path + "&timeoutSeconds=30", 1)

    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "b")
    assert time.monotonic() - started < 1.0
