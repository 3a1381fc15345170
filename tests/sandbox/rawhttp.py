"""Raw HTTP to the sandbox, for requests the kubernetes client cannot produce."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from rollout.sandbox import Sandbox


@dataclass(frozen=True)
class Response:
    """Status code, headers and body of one raw response."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def reason(self) -> str:
        """`reason` of a `Status` body."""
        return str(self.json().get("reason", ""))


def request(
    target: Sandbox | str,
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> Response:
    """One request to a sandbox (or a server URL) on a fresh connection; the whole body is
    read, chunked or not."""
    url = urllib.parse.urlsplit(target if isinstance(target, str) else target.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    try:
        data = body.encode() if isinstance(body, str) else body
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def json_lines(body: bytes) -> list[Any]:
    """The JSON documents of a watch stream body, one per line."""
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def stream_lines(
    target: Sandbox | str,
    path: str,
    count: int,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> list[Any]:
    """The first `count` JSON lines of a (watch) stream; the connection is then dropped."""
    url = urllib.parse.urlsplit(target if isinstance(target, str) else target.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        return [json.loads(resp.readline()) for _ in range(count)]
    finally:
        conn.close()
