"""The link-manager example app: behaviour by environment variable, metrics, readiness.

The app runs in-process on 127.0.0.1:0 (a fake clock and sleep where time matters) and
once as a subprocess, configured only by its environment as in the container image.
"""

from __future__ import annotations

import collections
import http.client
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

APP_DIR = Path(__file__).resolve().parents[2] / "examples" / "link-manager"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"link_manager_{name}", APP_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


app_module = _load("app")
loadgen = _load("loadgen")


class FakeClock:
    """Monotonic time that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Client:
    """Keep-alive HTTP client for one running server."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, str]:
        data = None if body is None else json.dumps(body)
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        return resp.status, resp.read().decode()

    def metrics(self) -> dict[str, float]:
        """`/metrics` as {'name{labels}': value}."""
        status, text = self.request("GET", "/metrics")
        assert status == 200
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                samples[key] = float(value)
        return samples


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start an App on 127.0.0.1:0 in a thread; returns (client, app)."""
    servers, clients = [], []

    def start(sleeps: list[float] | None = None, **config: Any) -> tuple[Client, Any]:
        clock = FakeClock()
        app = app_module.App(
            app_module.Config(host="127.0.0.1", port=0, seed=7, **config),
            clock=clock,
            sleep=(sleeps.append if sleeps is not None else lambda _: None),
        )
        server = app_module.make_server(app)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        servers.append(server)
        clients.append(Client(server.server_address[1]))
        return clients[-1], app

    yield start
    for client in clients:
        client.conn.close()
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("error_rate", "low", "high"), [(0.0, 0, 0), (0.2, 160, 240)])
def test_error_rate_over_1000_requests_is_within_tolerance_and_counted(
    serve: Any, error_rate: float, low: int, high: int
) -> None:
    client, _ = serve(error_rate=error_rate)
    codes = collections.Counter(client.request("GET", "/links")[0] for _ in range(1000))

    failures = codes[500] + codes[503]
    assert low <= failures <= high, codes  # 0.2 +- 0.04 is over 3 standard deviations
    assert set(codes) <= {200, 500, 503}
    if error_rate:
        assert codes[500] > 0 and codes[503] > 0  # failures split between both codes
    samples = client.metrics()
    counted = {
        int(m[1]): int(v)
        for k, v in samples.items()
        if (m := re.fullmatch(r'http_requests_total\{code="(\d+)"\}', k))
    }
    assert counted == dict(codes)


def test_metrics_expose_a_cumulative_latency_histogram_and_skip_probes(serve: Any) -> None:
    client, _ = serve(version="v2")
    for _ in range(5):
        client.request("GET", "/links")
    client.request("GET", "/nowhere")
    client.request("GET", "/healthz")
    client.metrics()

    samples = client.metrics()

    assert samples['link_manager_build_info{version="v2"}'] == 1
    assert samples['http_requests_total{code="200"}'] == 5
    assert samples['http_requests_total{code="404"}'] == 1  # unknown paths count, probes do not
    buckets = [v for k, v in samples.items() if k.startswith("http_request_duration_seconds_b")]
    assert buckets == sorted(buckets) and buckets[-1] == 6
    assert samples['http_request_duration_seconds_bucket{le="+Inf"}'] == 6
    assert samples["http_request_duration_seconds_count"] == 6
    assert samples["http_request_duration_seconds_sum"] > 0


def test_healthz_fails_until_the_startup_delay_has_passed(serve: Any) -> None:
    client, app = serve(startup_delay=5.0, version="v1")

    early = client.request("GET", "/healthz")
    app.clock.now += 4.9
    still = client.request("GET", "/healthz")
    app.clock.now += 0.1
    ready = client.request("GET", "/healthz")

    assert early[0] == 503 and json.loads(early[1])["status"] == "starting"
    assert still[0] == 503
    assert ready[0] == 200 and json.loads(ready[1]) == {"status": "ok", "version": "v1"}


def test_extra_latency_waits_half_to_one_and_a_half_times_the_setting(serve: Any) -> None:
    sleeps: list[float] = []
    client, _ = serve(sleeps=sleeps, extra_latency_ms=200)

    for _ in range(50):
        client.request("GET", "/links")

    assert len(sleeps) == 50
    assert all(0.1 <= s <= 0.3 for s in sleeps), sleeps
    assert 0.17 < sum(sleeps) / len(sleeps) < 0.23


def test_links_are_added_and_listed_and_bad_posts_rejected(serve: Any) -> None:
    client, _ = serve(version="v1")

    created = client.request("POST", "/links", {"url": "https://example.com/a"})
    bad = client.request("POST", "/links", {"href": "x"})
    listed = client.request("GET", "/links")

    assert created[0] == 201 and json.loads(created[1]) == {"id": 1, "url": "https://example.com/a"}
    assert bad[0] == 400
    assert json.loads(listed[1]) == {
        "version": "v1",
        "links": [{"id": 1, "url": "https://example.com/a"}],
    }


@pytest.mark.parametrize(
    ("name", "value"), [("ERROR_RATE", "1.5"), ("PORT", "http"), ("EXTRA_LATENCY_MS", "-1")]
)
def test_bad_environment_is_rejected_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        app_module.Config.from_env({name: value})


def test_the_process_takes_its_behaviour_from_the_environment() -> None:
    env = {
        **os.environ,
        "VERSION": "v3",
        "ERROR_RATE": "1",
        "HOST": "127.0.0.1",
        "PORT": "0",
        "STARTUP_DELAY_SECONDS": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, str(APP_DIR / "app.py")], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = int(line.rsplit(":", 1)[1])
        client = Client(port)
        health = client.request("GET", "/healthz")
        links = client.request("GET", "/links")
        client.conn.close()
    finally:
        proc.terminate()
        code = proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    assert line.startswith("link-manager v3 listening on 127.0.0.1:")
    assert health == (200, json.dumps({"status": "ok", "version": "v3"}) + "\n")
    assert links[0] in (500, 503)  # ERROR_RATE=1: every request fails
    assert code == 0  # SIGTERM shuts down cleanly


def test_loadgen_sends_requests_with_the_canary_header_share(serve: Any) -> None:
    client, app = serve(version="v1")
    port = client.conn.port
    config = loadgen.LoadConfig(
        target_url=f"http://127.0.0.1:{port}/links", post_fraction=1.0, header_fraction=0.0
    )
    dice = loadgen.random.Random(1)

    codes = [loadgen.send_one(config, dice) for _ in range(3)]
    refused = loadgen.send_one(loadgen.LoadConfig(target_url="http://127.0.0.1:9/links"), dice)

    assert codes == [201, 201, 201]
    assert len(app.links.all()) == 3
    assert refused == 0
