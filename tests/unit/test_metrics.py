"""PrometheusProvider against a tiny local server speaking Prometheus's HTTP API contract.

The server answers GET /api/v1/query from a per-query script of (status, JSON body) and
records each request's headers; a real socket, so the whole requests stack is exercised.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import structlog

from rollout import errors, metrics
from rollout.sandbox.prometheus import free_port
from rollout.settings import RetrySettings, Settings
from rollout.spec import PrometheusSpec

# Small real backoff and a short deadline: a handful of attempts, well under a second.
SETTINGS = Settings(
    metrics_retry=RetrySettings(
        initial=0.01, maximum=0.02, jitter=0.0, deadline=0.3, request_timeout=2.0
    )
)
Reply = tuple[int, Any]


def vector(*values: str) -> Reply:
    samples = [{"metric": {"pod": f"p{i}"}, "value": [1.7e9, v]} for i, v in enumerate(values)]
    return 200, {"status": "success", "data": {"resultType": "vector", "result": samples}}


def failure(status: int, kind: str, message: str) -> Reply:
    return status, {"status": "error", "errorType": kind, "error": message}


class FakePrometheus(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.script: dict[str, list[Reply]] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []  # (query, headers)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    def count(self, promql: str) -> int:
        return sum(1 for q, _ in self.seen if q == promql)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: FakePrometheus

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        promql = urllib.parse.parse_qs(url.query).get("query", [""])[0]
        self.server.seen.append((promql, dict(self.headers)))
        replies = self.server.script.get(promql) or [failure(400, "bad_data", "unknown query")]
        status, body = replies.pop(0) if len(replies) > 1 else replies[0]
        if url.path != "/api/v1/query":
            status, body = 404, "404 page not found"
        data = json.dumps(body).encode() if not isinstance(body, str) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None


def serve(server: FakePrometheus) -> Iterator[FakePrometheus]:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    yield from serve(FakePrometheus())


def provider_for(
    url: str, environ: dict[str, str] | None = None, **spec: Any
) -> metrics.PrometheusProvider:
    return metrics.PrometheusProvider(
        PrometheusSpec(url=url, **spec), settings=SETTINGS, environ=environ or {}
    )


@pytest.fixture
def provider(prom: FakePrometheus) -> Iterator[metrics.PrometheusProvider]:
    with provider_for(prom.url) as p:
        yield p


# -- answers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (vector("99.5"), 99.5),
        (vector("+Inf"), float("inf")),
        (vector(), None),
        (vector("NaN"), None),
        (
            (200, {"status": "success", "data": {"resultType": "scalar", "result": [1.7e9, "3"]}}),
            3.0,
        ),
    ],
)
def test_query_returns_the_single_value_or_none_for_no_data(
    prom: FakePrometheus, provider: metrics.PrometheusProvider, reply: Reply, expected: float | None
) -> None:
    prom.script["q"] = [reply]
    assert provider.query("q") == expected
    assert prom.count("q") == 1


def test_several_series_are_an_error_asking_to_aggregate(
    prom: FakePrometheus, provider: metrics.PrometheusProvider
) -> None:
    prom.script["rate(x[1m])"] = [vector("1", "2")]
    with pytest.raises(errors.MetricsError) as caught:
        provider.query("rate(x[1m])")
    assert str(caught.value) == (
        "query returned 2 series; aggregate it to one (e.g. sum(...)): rate(x[1m])"
    )
    assert not isinstance(caught.value, errors.TransientError)
    assert prom.count("rate(x[1m])") == 1


def test_a_range_vector_is_an_error(
    prom: FakePrometheus, provider: metrics.PrometheusProvider
) -> None:
    matrix = {"resultType": "matrix", "result": [{"metric": {}, "values": [[1.7e9, "1"]]}]}
    prom.script["x[1m]"] = [(200, {"status": "success", "data": matrix})]
    with pytest.raises(errors.MetricsError, match="range vector; make it an instant vector"):
        provider.query("x[1m]")


def test_a_bad_query_is_refused_at_once_with_prometheus_reason(
    prom: FakePrometheus, provider: metrics.PrometheusProvider
) -> None:
    prom.script["sum(("] = [failure(400, "bad_data", "1:6: parse error: unclosed left paren")]
    with pytest.raises(errors.MetricsError) as caught:
        provider.query("sum((")
    assert str(caught.value) == (
        "Prometheus rejected the query (HTTP 400: bad_data: 1:6: parse "
        "error: unclosed left paren): sum(("
    )
    assert not isinstance(caught.value, errors.TransientError)
    assert prom.count("sum((") == 1


def test_server_errors_are_retried_until_an_answer(
    prom: FakePrometheus, provider: metrics.PrometheusProvider
) -> None:
    prom.script["q"] = [failure(503, "timeout", "query timed out"), (500, "oops"), vector("7")]
    with structlog.testing.capture_logs() as logs:
        assert provider.query("q") == 7.0
    assert prom.count("q") == 3
    retries = [e for e in logs if e["event"] == "metrics.retry"]
    assert [(e["log_level"], e["attempt"]) for e in retries] == [("warning", 1), ("warning", 2)]
    assert "HTTP 503: timeout: query timed out" in retries[0]["error"]


def test_server_errors_past_the_deadline_are_a_transient_metrics_error(
    prom: FakePrometheus, provider: metrics.PrometheusProvider
) -> None:
    prom.script["q"] = [failure(503, "unavailable", "tsdb not ready")]
    started = time.monotonic()
    with pytest.raises(errors.TransientMetricsError, match="answered HTTP 503"):
        provider.query("q")
    assert prom.count("q") > 2
    assert time.monotonic() - started < 2


def test_an_unreachable_server_is_a_metrics_error_after_the_retry_budget() -> None:
    started = time.monotonic()
    with (
        provider_for(f"http://127.0.0.1:{free_port()}") as p,
        structlog.testing.capture_logs() as logs,
        pytest.raises(errors.MetricsError, match=r"unreachable \(.*refused") as caught,
    ):
        p.query("up")
    assert isinstance(caught.value, errors.TransientMetricsError)
    assert isinstance(caught.value.__cause__, requests.ConnectionError)
    assert SETTINGS.metrics_retry.deadline <= time.monotonic() - started < 2
    assert sum(1 for e in logs if e["event"] == "metrics.retry") >= 2


def test_not_a_prometheus_api_is_an_error(
    prom: FakePrometheus, provider: metrics.PrometheusProvider
) -> None:
    prom.script["up"] = [(200, {"hello": "world"})]
    with pytest.raises(errors.MetricsError, match="not a Prometheus API answer"):
        provider.query("up")
    with (
        provider_for(prom.url + "/graph") as wrong,
        pytest.raises(errors.MetricsError, match="has no /api/v1/query"),
    ):
        wrong.query("up")


def test_errors_never_are_requests_exceptions() -> None:
    for cls in (errors.MetricsError, errors.TransientMetricsError):
        assert not issubclass(cls, requests.RequestException)
        assert issubclass(cls, errors.InfraError) and cls.exit_code == 5


# -- configuration -----------------------------------------------------------------------


def test_no_url_is_a_spec_error() -> None:
    with pytest.raises(errors.SpecError) as caught:
        provider_for("")
    assert str(caught.value) == (
        "no Prometheus URL: pass --prometheus-url or set ROLLOUT_PROMETHEUS_URL"
    )
    with pytest.raises(errors.SpecError, match="is not an http"):
        provider_for("prometheus:9090")


def test_url_comes_from_the_environment(prom: FakePrometheus) -> None:
    prom.script["up"] = [vector("1")]
    with metrics.PrometheusProvider(
        PrometheusSpec(), settings=SETTINGS, environ={"ROLLOUT_PROMETHEUS_URL": prom.url + "/"}
    ) as p:
        assert p.url == prom.url
        assert p.query("up") == 1.0


def test_bearer_token_precedence(prom: FakePrometheus, tmp_path: Path) -> None:
    prom.script["up"] = [vector("1")]
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    env = {"ROLLOUT_PROMETHEUS_TOKEN": "from-env", "ROLLOUT_PROMETHEUS_TOKEN_FILE": str(token_file)}
    cases = [
        ({"bearer_token": "from-spec"}, env, "Bearer from-spec"),
        ({}, env, "Bearer from-env"),
        ({}, {"ROLLOUT_PROMETHEUS_TOKEN_FILE": str(token_file)}, "Bearer from-file"),
        ({"token_file": str(token_file)}, {}, "Bearer from-file"),
        ({}, {}, None),
    ]
    for spec, environ, expected in cases:
        with provider_for(prom.url, environ, **spec) as p:
            p.query("up")
        assert prom.seen[-1][1].get("Authorization") == expected, (spec, environ)
        assert prom.seen[-1][1]["User-Agent"] == "rollout"


def test_an_unreadable_token_file_is_a_spec_error(tmp_path: Path) -> None:
    env = {"ROLLOUT_PROMETHEUS_TOKEN_FILE": str(tmp_path / "missing")}
    with pytest.raises(errors.SpecError, match=r"ROLLOUT_PROMETHEUS_TOKEN_FILE .*missing: cannot"):
        provider_for("http://127.0.0.1:9", env)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(errors.SpecError, match="the file is empty"):
        provider_for("http://127.0.0.1:9", token_file=str(tmp_path / "empty"))


def test_a_refused_token_says_to_check_it(
    prom: FakePrometheus, provider: metrics.PrometheusProvider
) -> None:
    prom.script["up"] = [(401, "Unauthorized\n")]
    with pytest.raises(
        errors.MetricsError,
        match=r"refused the query \(HTTP 401: Unauthorized\); "
        "check the bearer token",
    ):
        provider.query("up")
    assert prom.count("up") == 1


def test_check_online(prom: FakePrometheus, provider: metrics.PrometheusProvider) -> None:
    prom.script["vector(1)"] = [vector("1")]
    provider.check_online()
    prom.script["vector(1)"] = [vector()]
    with pytest.raises(errors.MetricsError, match="vector\\(1\\) returned None"):
        provider.check_online()


def test_importing_the_modules_loads_no_http_client() -> None:
    code = (
        "import sys, rollout.analysis, rollout.metrics; "
        "print(sorted(m for m in ('prometheus_api_client', 'requests', 'tenacity') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_prom(certificate: tuple[Path, Path]) -> Iterator[FakePrometheus]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server = FakePrometheus(tls=context)
    server.script["up"] = [vector("1")]
    yield from serve(server)


def test_tls_verifies_with_the_ca_file(
    tls_prom: FakePrometheus, certificate: tuple[Path, Path]
) -> None:
    with provider_for(tls_prom.url, ca_file=str(certificate[0])) as p:
        assert p.query("up") == 1.0
    with provider_for(tls_prom.url) as p, pytest.raises(errors.MetricsError) as caught:
        p.query("up")
    assert "TLS failed" in str(caught.value)
    assert not isinstance(caught.value, errors.TransientError)


def test_insecure_skips_verification_without_warnings(tls_prom: FakePrometheus) -> None:
    with provider_for(tls_prom.url, insecure=True) as p:  # filterwarnings=error would raise
        assert p.query("up") == 1.0


def test_a_missing_ca_file_is_a_spec_error() -> None:
    with pytest.raises(errors.SpecError, match=r"CA file /nonexistent\.pem: no such file"):
        provider_for("https://127.0.0.1:9", ca_file="/nonexistent.pem")
