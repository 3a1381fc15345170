"""The sandbox's HTTP front: Kubernetes REST verbs over the store, JSON only.

Translates HTTP to store calls and back (status codes, `Status` bodies, chunked
watch streams); applies armed faults and records every request. No object
semantics live here; they are in `store/`.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rollout.sandbox.api import discovery, routes
from rollout.sandbox.faults import Faults, Request, RequestLog
from rollout.sandbox.store import errors
from rollout.sandbox.store.selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from rollout.sandbox.store.store import Store
from rollout.sandbox.store.watch import CLOSED

Obj = dict[str, Any]
MetricsSource = Callable[[], str]


class ApiServer:
    """A ThreadingHTTPServer on 127.0.0.1 serving the store."""

    def __init__(self, store: Store, *, faults: Faults, requests: RequestLog,
                 metrics: MetricsSource | None = None, port: int = 0) -> None:
        handler = type("BoundHandler", (Handler,), {"app": self})
        self.store, self.faults, self.requests = store, faults, requests
        self.metrics = metrics
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="sandbox-api", daemon=True)
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

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
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
        except routes.UnknownResource:
            self._send_error(errors.ApiError(404, "NotFound",
                                             "the server could not find the requested resource"))
            return
        if route is None:
            self._serve_non_resource(method, url.path)
            return
        verb = _verb(method, route, query)
        req = Request(verb, route.resource, route.namespace or "", route.name or "",
                      self.headers.get("User-Agent", ""), _is_dry_run(query, body))
        decision = self.app.faults.decide(req)
        if decision.latency:
            time.sleep(decision.latency)
        if decision.code is not None:
            self.app.requests.record(req, decision.code)
            self._send_error(_injected(decision.code), retry_after=decision.retry_after)
            return
        try:
            if verb == "watch":
                self.app.requests.record(req, 200)
                self._watch(route, query)
                return
            code, result = self._serve(verb, route, query, body)
        except errors.ApiError as e:
            self.app.requests.record(req, e.code)
            self._send_error(e)
            return
        self.app.requests.record(req, code)
        self._send_json(code, result)

    def _serve(self, verb: str, route: routes.Route, query: dict[str, str],
               body: bytes) -> tuple[int, Obj]:
        store, kind, ns = self.app.store, route.kind, route.namespace or ""
        dry = _is_dry_run(query, body)
        if verb == "list":
            labels, fields = _selectors(query)
            items, rv = store.list(kind, route.namespace, labels=labels, fields=fields)
            return 200, {"kind": f"{kind.kind}List", "apiVersion": kind.api_version(route.version),
                         "metadata": {"resourceVersion": str(rv)},
                         "items": [_versioned(o, route) for o in items]}
        if verb == "get":
            obj = store.get(kind, ns, route.name or "")
            if route.subresource == "scale":
                return 200, store.scale_of(kind, obj)
            return 200, _versioned(obj, route)
        if verb == "create":
            obj = _checked_body(body, route)
            return 201, _versioned(store.create(kind, ns, obj, dry_run=dry), route)
        if verb == "update":
            obj = _checked_body(body, route)
            return 200, self._out(store.replace(kind, ns, route.name or "", obj,
                                                subresource=route.subresource, dry_run=dry), route)
        if verb == "patch":
            patch = _json(body)
            ctype = self.headers.get("Content-Type", "")
            return 200, self._out(store.patch(kind, ns, route.name or "", ctype, patch,
                                              subresource=route.subresource, dry_run=dry), route)
        if verb == "delete":
            options = _json(body) if body else {}
            propagation = query.get("propagationPolicy") or options.get("propagationPolicy")
            gone = store.delete(kind, ns, route.name or "", propagation=propagation,
                                preconditions=options.get("preconditions"), dry_run=dry)
            return 200, _deleted_result(gone, route)
        if verb == "deletecollection":
            labels, fields = _selectors(query)
            items, rv = store.list(kind, route.namespace, labels=labels, fields=fields)
            deleted = [store.delete(kind, o["metadata"].get("namespace", ""),
                                    o["metadata"]["name"], dry_run=dry) for o in items]
            return 200, {"kind": f"{kind.kind}List", "apiVersion": kind.api_version(route.version),
                         "metadata": {"resourceVersion": str(rv)},
                         "items": [_versioned(o, route) for o in deleted]}
        raise errors.ApiError(405, "MethodNotAllowed", f"{verb} is not supported")

    @staticmethod
    def _out(obj: Obj, route: routes.Route) -> Obj:
        return obj if obj.get("kind") == "Scale" else _versioned(obj, route)

    def _serve_non_resource(self, method: str, path: str) -> None:
        path = path.rstrip("/") or "/"
        doc: Obj | None = None
        if path == "/version":
            doc = discovery.version()
        elif path == "/api":
            host, port = self.app.httpd.server_address[:2]
            doc = discovery.core_versions(f"{host}:{port}")
        elif path == "/apis":
            doc = discovery.group_list()
        elif path == "/api/v1":
            doc = discovery.resource_list("", "v1")
        elif path.startswith("/apis/"):
            parts = path.split("/")[2:]
            doc = (discovery.group(parts[0]) if len(parts) == 1
                   else discovery.resource_list(parts[0], parts[1]) if len(parts) == 2 else None)
        elif path in ("/healthz", "/readyz", "/livez"):
            self._send_text(200, "ok")
            return
        elif path == "/metrics" and self.app.metrics is not None:
            self._send_text(200, self.app.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            return
        if doc is None or method != "GET":
            self._send_error(errors.ApiError(404, "NotFound",
                                             "the server could not find the requested resource"))
            return
        self._send_json(200, doc)

    # -- watch -------------------------------------------------------------

    def _watch(self, route: routes.Route, query: dict[str, str]) -> None:
        if route.name:
            by_name = f"metadata.name={route.name}"
            query = {**query, "fieldSelector": ",".join(
                s for s in (query.get("fieldSelector"), by_name) if s)}
        labels, fields = _selectors(query)
        watcher = self.app.store.watch(route.kind, route.namespace,
                                       resource_version=query.get("resourceVersion"),
                                       labels=labels, fields=fields)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        start = time.monotonic()
        timeout = float(query["timeoutSeconds"]) if "timeoutSeconds" in query else None
        try:
            while True:
                limits = [t for t in (timeout, self.app.faults.watch_cut_after) if t is not None]
                wait = min(limits) - (time.monotonic() - start) if limits else 1.0
                if limits and wait <= 0:
                    break
                try:
                    item = watcher.queue.get(timeout=min(wait, 1.0))
                except queue.Empty:  # re-check the deadlines
                    continue
                if item is CLOSED:
                    break
                type_, obj = item
                self._write_chunk(json.dumps({"type": type_, "object": _versioned(obj, route)})
                                  .encode() + b"\n")
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            watcher.close()
            self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # -- plumbing ----------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, code: int, doc: Obj) -> None:
        data = json.dumps(doc, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, code: int, text: str, ctype: str = "text/plain") -> None:
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, err: errors.ApiError, retry_after: int | None = None) -> None:
        data = json.dumps(err.status()).encode()
        self.send_response(err.code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.end_headers()
        self.wfile.write(data)


def _verb(method: str, route: routes.Route, query: dict[str, str]) -> str:
    if method == "GET":
        if query.get("watch", "").lower() in ("true", "t", "1"):  # Go's ParseBool
            return "watch"
        return "get" if route.name else "list"
    if method == "DELETE":
        return "delete" if route.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}[method]


def _is_dry_run(query: dict[str, str], body: bytes) -> bool:
    """dryRun=All in the query, or in a DELETE's DeleteOptions body."""
    if query.get("dryRun") == "All":
        return True
    if not body.lstrip().startswith(b"{") or b"dryRun" not in body:
        return False
    try:
        return "All" in (json.loads(body).get("dryRun") or [])
    except ValueError:
        return False


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as e:
        raise errors.bad_request(f"error decoding request body: {e}") from e


def _checked_body(body: bytes, route: routes.Route) -> Obj:
    obj = _json(body)
    if not isinstance(obj, dict):
        raise errors.bad_request("the object provided is not a JSON object")
    kind = route.kind
    if route.subresource == "scale":
        return obj
    if obj.get("kind") and obj["kind"] != kind.kind:
        raise errors.bad_request(f"the kind in the data ({obj['kind']}) does not match the "
                                 f"expected kind ({kind.kind})")
    api_version = kind.api_version(route.version)
    if obj.get("apiVersion") and obj["apiVersion"].split("/")[0] != api_version.split("/")[0]:
        raise errors.bad_request(f"the API version in the data ({obj['apiVersion']}) does not "
                                 f"match the expected API version ({api_version})")
    meta = obj.setdefault("metadata", {})
    if route.namespace and meta.get("namespace") not in (None, "", route.namespace):
        raise errors.bad_request("the namespace of the provided object does not match the "
                                 "namespace sent on the request")
    if route.name and meta.get("name") not in (None, route.name):
        raise errors.bad_request("the name of the object does not match the name on the URL")
    obj["kind"], obj["apiVersion"] = kind.kind, api_version
    return obj


def _selectors(query: dict[str, str]) -> tuple[Any, Any]:
    try:
        labels = parse_label_selector(query["labelSelector"]) if query.get("labelSelector") else None
        fields = parse_field_selector(query["fieldSelector"]) if query.get("fieldSelector") else None
    except SelectorError as e:
        raise errors.bad_request(str(e)) from e
    return labels, fields


def _versioned(obj: Obj, route: routes.Route) -> Obj:
    api_version = route.kind.api_version(route.version)
    if obj.get("apiVersion") == api_version and obj.get("kind") == route.kind.kind:
        return obj
    return {**obj, "apiVersion": api_version, "kind": route.kind.kind}


def _deleted_result(gone: Obj, route: routes.Route) -> Obj:
    if route.kind.key == "pods" or gone["metadata"].get("deletionTimestamp"):
        return _versioned(gone, route)
    meta = gone["metadata"]
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": meta["name"], "group": route.kind.group,
                        "kind": route.kind.plural, "uid": meta.get("uid")}}


def _injected(code: int) -> errors.ApiError:
    reasons = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
               504: "Timeout"}
    return errors.ApiError(code, reasons.get(code, "InternalError"),
                           f"injected fault: the sandbox answered {code}")
