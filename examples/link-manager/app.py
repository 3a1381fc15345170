"""link-manager: the example service every rollout strategy in the README moves between
versions. Python standard library only.

Serves `/links` (GET lists, POST adds; in memory), `/healthz` (503 until the startup
delay has passed) and `/metrics` (Prometheus text: `http_requests_total{code}` and the
`http_request_duration_seconds` histogram, for `/links` and unknown paths; probes and
scrapes are not counted). Behaviour comes from the environment, so images v1/v2
(healthy) and v3 (failing) are one Dockerfile with build args:

    VERSION                 reported by /healthz, /links and link_manager_build_info
    ERROR_RATE              fraction (0..1) of /links requests answered 500 or 503
    EXTRA_LATENCY_MS        added to each /links request (uniform 0.5x..1.5x of it)
    STARTUP_DELAY_SECONDS   /healthz answers 503 for this long after start
    PORT                    default 8080 (0: any free port); HOST default 0.0.0.0
    SEED                    seeds the error/latency dice (tests); unset: random
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
ERROR_CODES = (500, 503)
UNCOUNTED = ("/healthz", "/metrics")


@dataclass(frozen=True, slots=True)
class Config:
    """What the environment asked for."""

    version: str = "dev"
    error_rate: float = 0.0
    extra_latency_ms: float = 0.0
    startup_delay: float = 0.0
    host: str = "0.0.0.0"
    port: int = 8080
    seed: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Read the variables above; ValueError names a bad one."""
        config = cls(
            version=env.get("VERSION", "dev"),
            error_rate=_number(env, "ERROR_RATE", 0.0),
            extra_latency_ms=_number(env, "EXTRA_LATENCY_MS", 0.0),
            startup_delay=_number(env, "STARTUP_DELAY_SECONDS", 0.0),
            host=env.get("HOST", "0.0.0.0"),
            port=int(_number(env, "PORT", 8080)),
            seed=int(env["SEED"]) if env.get("SEED") else None,
        )
        if not 0.0 <= config.error_rate <= 1.0:
            raise ValueError(f"ERROR_RATE must be between 0 and 1 (got {config.error_rate})")
        return config


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "")
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number (got {text!r})") from None
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (got {value})")
    return value


class Metrics:
    """Request counters by status code and one latency histogram; thread-safe."""

    def __init__(self, version: str) -> None:
        self.version = version
        self._lock = threading.Lock()
        self._codes: dict[int, int] = {}
        self._buckets = [0] * len(BUCKETS)
        self._count = 0
        self._sum = 0.0

    def observe(self, code: int, seconds: float) -> None:
        with self._lock:
            self._codes[code] = self._codes.get(code, 0) + 1
            self._count += 1
            self._sum += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self._buckets[i] += 1

    def render(self) -> str:
        """The Prometheus text exposition (format 0.0.4)."""
        with self._lock:
            codes, buckets = sorted(self._codes.items()), list(self._buckets)
            count, total = self._count, self._sum
        lines = [
            "# HELP link_manager_build_info The running version.",
            "# TYPE link_manager_build_info gauge",
            f'link_manager_build_info{{version="{_escape(self.version)}"}} 1',
            "# HELP http_requests_total HTTP requests answered, by status code.",
            "# TYPE http_requests_total counter",
            *(f'http_requests_total{{code="{code}"}} {n}' for code, n in codes),
            "# HELP http_request_duration_seconds Time to answer an HTTP request.",
            "# TYPE http_request_duration_seconds histogram",
            *(
                f'http_request_duration_seconds_bucket{{le="{bound}"}} {n}'
                for bound, n in zip(BUCKETS, buckets, strict=True)
            ),
            f'http_request_duration_seconds_bucket{{le="+Inf"}} {count}',
            f"http_request_duration_seconds_sum {total}",
            f"http_request_duration_seconds_count {count}",
        ]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class LinkStore:
    """The links, in memory (each pod has its own: it is a demo)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._links: list[dict[str, Any]] = []

    def add(self, url: str) -> dict[str, Any]:
        with self._lock:
            link = {"id": len(self._links) + 1, "url": url}
            self._links.append(link)
            return link

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._links)


class App:
    """The service's state: config, links, metrics, dice and the clock."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config, self.clock, self.sleep = config, clock, sleep
        self.started = clock()
        self.links = LinkStore()
        self.metrics = Metrics(config.version)
        self.random = random.Random(config.seed)
        self._dice = threading.Lock()

    def is_ready(self) -> bool:
        return self.clock() - self.started >= self.config.startup_delay

    def misbehave(self) -> int | None:
        """Wait the configured extra latency; a 5xx code to answer with, or None."""
        with self._dice:
            jitter = self.random.uniform(0.5, 1.5)
            fail = self.random.random() < self.config.error_rate
            code = self.random.choice(ERROR_CODES)
        if self.config.extra_latency_ms:
            self.sleep(self.config.extra_latency_ms * jitter / 1000)
        return code if fail else None


class Handler(BaseHTTPRequestHandler):
    """One request; `app` is bound by `make_server`."""

    app: App
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "link-manager"

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: the metrics say it all."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        if path in UNCOUNTED:
            self._probe_or_scrape(path)
            return
        started = time.perf_counter()
        code, body = self._links(method) if path == "/links" else (404, {"error": "not found"})
        self._send_json(code, body)
        self.app.metrics.observe(code, time.perf_counter() - started)

    def _probe_or_scrape(self, path: str) -> None:
        if path == "/metrics":
            self._send(200, self.app.metrics.render(), "text/plain; version=0.0.4")
        elif self.app.is_ready():
            self._send_json(200, {"status": "ok", "version": self.app.config.version})
        else:
            self._send_json(503, {"status": "starting", "version": self.app.config.version})

    def _links(self, method: str) -> tuple[int, Any]:
        body = self._read_body()
        failure = self.app.misbehave()
        if failure is not None:
            return failure, {"error": "injected failure", "version": self.app.config.version}
        if method == "GET":
            return 200, {"version": self.app.config.version, "links": self.app.links.all()}
        try:
            url = json.loads(body or b"{}")["url"]
        except (ValueError, KeyError, TypeError):
            return 400, {"error": 'expected JSON {"url": "..."}'}
        if not isinstance(url, str) or not url:
            return 400, {"error": "url must be a non-empty string"}
        return 201, self.app.links.add(url)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, code: int, body: Any) -> None:
        self._send(code, json.dumps(body) + "\n", "application/json")

    def _send(self, code: int, text: str, content_type: str) -> None:
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def make_server(app: App) -> ThreadingHTTPServer:
    """An HTTP server for `app` on its configured host/port (not yet serving)."""
    handler = type("BoundHandler", (Handler,), {"app": app})
    server = ThreadingHTTPServer((app.config.host, app.config.port), handler)
    server.daemon_threads = True
    return server


def main() -> int:
    """Serve until SIGTERM/SIGINT; print the address first (PORT=0 picks one)."""
    try:
        config = Config.from_env(os.environ)
    except ValueError as e:
        print(f"link-manager: {e}", file=sys.stderr)
        return 2
    server = make_server(App(config))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    port = server.server_address[1]
    print(f"link-manager {config.version} listening on {config.host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
