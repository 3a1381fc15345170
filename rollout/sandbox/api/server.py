"""The sandbox's HTTP front: Kubernetes REST verbs over the store.

Translates HTTP to store calls and back (routing, content negotiation, status codes,
`Status` bodies, chunked watch streams); applies armed faults and records every
request. No object semantics live here; they are in `store/`.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

from rollout.sandbox.api import discovery, negotiate, params, routes, verbs, watchstream
from rollout.sandbox.faults import RESET, Faults, Request, RequestLog
from rollout.sandbox.store import errors
from rollout.sandbox.store.store import Store

Obj = dict[str, Any]
MetricsSource = Callable[[], str]
NOT_FOUND = "the server could not find the requested resource"
INJECTED_REASONS = {
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class _Server(ThreadingHTTPServer):
    """The HTTP server; a client hanging up mid-response is normal, not an error."""

    server_address: tuple[str, int]  # bound to an IPv4 address: (host, port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class ApiServer:
    """A ThreadingHTTPServer on 127.0.0.1 serving the store."""

    def __init__(
        self,
        store: Store,
        *,
        faults: Faults,
        requests: RequestLog,
        metrics: MetricsSource | None = None,
        port: int = 0,
    ) -> None:
        handler = type("BoundHandler", (Handler,), {"app": self})
        self.store, self.faults, self.requests = store, faults, requests
        self.metrics = metrics
        self.httpd = _Server(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-api",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and end every watch stream."""
        self.store.close_watches()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class Handler(BaseHTTPRequestHandler):
    """One HTTP request; `app` is bound to the ApiServer by a subclass."""

    app: ApiServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "rollout-sandbox"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- dispatch ----------------------------------------------------------

    def _handle(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        body = self._read_body()
        try:
            route = routes.parse(url.path)
        except routes.UnknownResource:  # logged like a non-resource path: no kind to name
            agent = self.headers.get("User-Agent", "")
            self.app.requests.record(Request(method.lower(), url.path, "", "", agent), 404)
            self._send_error(errors.ApiError(404, "NotFound", NOT_FOUND))
            return
        if route is None:
            self._serve_non_resource(method, url.path)
            return
        verb = params.verb(method, route, query)
        req = Request(
            verb,
            route.resource,
            route.namespace or "",
            route.name or "",
            self.headers.get("User-Agent", ""),
            params.is_dry_run(query, body),
        )
        decision = self.app.faults.decide(req)
        if decision.latency:
            time.sleep(decision.latency)
        if decision.code == RESET:
            self.app.requests.record(req, RESET)
            self._reset()
            return
        if decision.code is not None:
            self.app.requests.record(req, decision.code)
            reason = INJECTED_REASONS.get(decision.code, "InternalError")
            self._send_error(
                errors.ApiError(
                    decision.code, reason, f"injected fault: the sandbox answered {decision.code}"
                ),
                retry_after=decision.retry_after,
            )
            return
        call = verbs.Call(verb, route, query, body, self.headers.get("Content-Type"), req.dry_run)
        try:
            self._serve(call, req)
        except errors.ApiError as e:
            self.app.requests.record(req, e.code)
            self._send_error(e)

    def _serve(self, call: verbs.Call, req: Request) -> None:
        """Answer one resource request and record it (a watch as soon as it starts)."""
        params.check_allowed(call.verb, call.route)
        params.check_dry_run(dict(call.query), call.verb)
        for name in ("timeoutSeconds", "limit", "gracePeriodSeconds"):
            params.integer(dict(call.query), name)  # 400 for any that is not an integer
        is_list = call.verb in ("list", "deletecollection")
        target = negotiate.accept(self.headers.get("Accept"), is_list=is_list)
        if call.verb == "watch":
            self._watch(call, target, lambda code: self.app.requests.record(req, code))
            return
        code, result, listed = verbs.serve(self.app.store, call)
        if listed is not None:
            listed = [verbs.versioned(o, call.route) for o in listed]
        doc = verbs.convert(result, listed, call, target)
        self.app.requests.record(req, code)
        self._send_doc(code, doc, yaml_text=target.yaml)

    def _serve_non_resource(self, method: str, path: str) -> None:
        """Discovery, OpenAPI, health and /metrics, logged with the path as the resource
        (so a test sees a client's preflight, e.g. kubectl's GET /version). Logged before
        the answer is sent, like resource requests: a client that has its answer finds
        its request in the log."""
        path = path.rstrip("/") or "/"
        code, send = self._answer_non_resource(method, path)
        agent = self.headers.get("User-Agent", "")
        self.app.requests.record(Request(method.lower(), path, "", "", agent), code)
        send()

    def _answer_non_resource(self, method: str, path: str) -> tuple[int, Callable[[], None]]:
        """The status code for a non-resource path and how to send its answer."""
        if path in ("/healthz", "/readyz", "/livez"):
            return 200, lambda: self._send_text(200, "ok")
        metrics = self.app.metrics
        if path == "/metrics" and metrics is not None:
            ctype = "text/plain; version=0.0.4; charset=utf-8"
            return 200, lambda: self._send_text(200, metrics(), ctype)
        if path == "/openapi/v2" and method == "GET":
            ctype, data = discovery.openapi_v2(self.headers.get("Accept") or "")
            return 200, lambda: self._send_bytes(200, data, ctype)
        host, port = self.app.httpd.server_address[:2]
        doc = _discovery_doc(path, f"{host}:{port}") if method == "GET" else None
        if doc is None:
            return 404, lambda: self._send_error(errors.ApiError(404, "NotFound", NOT_FOUND))
        return 200, lambda: self._send_doc(200, doc)

    # -- watch -------------------------------------------------------------

    def _watch(
        self, call: verbs.Call, target: negotiate.Target, started: Callable[[int], None]
    ) -> None:
        """Stream events; errors before the stream starts propagate as ApiError."""
        query = dict(call.query)
        timeout = params.integer(query, "timeoutSeconds") or None  # 0: the server's default
        include = params.include_object(query) if target.shape is negotiate.As.TABLE else ""
        if target.shape is negotiate.As.PARTIAL_LIST:
            target = negotiate.Target(negotiate.As.PARTIAL, target.version)
        opened = watchstream.open_watch(self.app.store, call.route, query)
        started(410 if isinstance(opened, dict) else 200)  # the log keeps what it meant
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")  # so clients never reuse a finished stream
        self.end_headers()
        self.close_connection = True
        try:
            if isinstance(opened, dict):  # the ERROR event: too old a resourceVersion
                self._write_chunk(json.dumps(opened).encode() + b"\n")
            else:
                try:
                    encoder = watchstream.Encoder(call.route, target, include)
                    watchstream.pump(
                        opened,
                        encoder,
                        self._write_chunk,
                        timeout=timeout,
                        cut_after=lambda: self.app.faults.watch_cut_after,
                    )
                finally:
                    opened.close()
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # -- plumbing ----------------------------------------------------------

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _send_doc(self, code: int, doc: Obj, *, yaml_text: bool = False) -> None:
        if yaml_text:
            data, ctype = yaml.safe_dump(doc, sort_keys=False).encode(), "application/yaml"
        else:
            data, ctype = json.dumps(doc, separators=(",", ":")).encode(), "application/json"
        self._send_bytes(code, data, ctype)

    def _send_text(self, code: int, text: str, ctype: str = "text/plain") -> None:
        self._send_bytes(code, text.encode(), ctype)

    def _send_bytes(
        self, code: int, data: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        """Drop the connection with a TCP RST (linger 0), answering nothing."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def _send_error(self, err: errors.ApiError, retry_after: int | None = None) -> None:
        extra = {"Retry-After": str(retry_after)} if retry_after is not None else None
        self._send_bytes(err.code, json.dumps(err.status()).encode(), "application/json", extra)


def _discovery_doc(path: str, server_address: str) -> Obj | None:
    """The discovery or OpenAPI v3 document served at `path`, or None."""
    if path == "/version":
        return discovery.version()
    if path == "/api":
        return discovery.core_versions(server_address)
    if path == "/apis":
        return discovery.group_list()
    if path == "/api/v1":
        return discovery.resource_list("", "v1")
    if path.startswith("/apis/"):
        parts = path.split("/")[2:]
        if len(parts) == 1:
            return discovery.group(parts[0])
        return discovery.resource_list(parts[0], parts[1]) if len(parts) == 2 else None
    if path == "/openapi/v3" or path.startswith("/openapi/v3/"):
        return discovery.openapi_v3(path.removeprefix("/openapi/v3"))
    return None
