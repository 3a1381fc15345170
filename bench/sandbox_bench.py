"""Sandbox performance: API throughput, watch latency, and a 1,000-pod rolling update.

Run: python bench/sandbox_bench.py [--deployments 100 --replicas 10 --speed 20]

Prints numbers, asserts nothing (issue 2 targets: >= 1,000 GETs/s, watch p95 <= 20 ms,
1,000 pods under 300 MB). Sandbox and clients share this process (one core's worth of
GIL), like the test suite runs them, and the process is pinned to one CPU where the OS
allows it, so the numbers are per core.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import resource
import statistics
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from kubernetes import client, config, watch
from urllib3.exceptions import ProtocolError

from rollout.sandbox import Sandbox, SandboxConfig, kinds

NS = "bench"
SMP = "application/strategic-merge-patch+json"
Obj = dict[str, Any]


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident set size now, in MB (from /proc; 0 where there is none)."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
    except OSError:
        return 0.0
    return int(fields[1]) * resource.getpagesize() / 2**20


def kube_client(box: Sandbox, directory: Path) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(str(box.write_kubeconfig(directory / "kc")), client_configuration=cfg)
    return client.ApiClient(cfg)


def config_map(name: str, value: str = "0") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"v": value},
    }


def rate(seconds: float, call: Callable[[int], object]) -> float:
    """Calls per second of `call(i)` over about `seconds` (after a short warm-up)."""
    for i in range(50):
        call(i)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            call(count)
            count += 1
    return count / elapsed


def raw_request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: Obj | None = None,
    ctype: str = "application/json",
) -> bytes:
    """One keep-alive request; raises on a non-2xx status."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": ctype} if data is not None else {}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    if resp.status >= 300:
        raise RuntimeError(f"{method} {path}: {resp.status} {payload[:200]!r}")
    return payload


def bench_throughput(box: Sandbox, api: client.ApiClient, seconds: float) -> None:
    """GET and PATCH per second: raw keep-alive HTTP, then the kubernetes client."""
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(NS, config_map("cm"))
    host, port = box.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    path = f"/api/v1/namespaces/{NS}/configmaps/cm"
    print("throughput (one client thread, keep-alive, loopback)")
    get_raw = rate(seconds, lambda i: raw_request(conn, "GET", path))
    patch_raw = rate(
        seconds, lambda i: raw_request(conn, "PATCH", path, {"data": {"v": str(i)}}, SMP)
    )
    conn.close()
    get_kube = rate(seconds, lambda i: core.read_namespaced_config_map("cm", NS))
    patch_kube = rate(
        seconds, lambda i: core.patch_namespaced_config_map("cm", NS, {"data": {"v": f"k{i}"}})
    )
    print(f"  GET   raw http.client {get_raw:8.0f}/s   kubernetes client {get_kube:8.0f}/s")
    print(f"  PATCH raw http.client {patch_raw:8.0f}/s   kubernetes client {patch_kube:8.0f}/s")


def bench_watch_latency(api: client.ApiClient, writes: int) -> None:
    """Patch, then time until a kubernetes-client watch delivers that write's event."""
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(NS, config_map("watched"))
    received: dict[str, float] = {}
    arrived = threading.Condition()
    stream = watch.Watch()

    def follow() -> None:
        try:
            for event in stream.stream(
                core.list_namespaced_config_map,
                NS,
                field_selector="metadata.name=watched",
                timeout_seconds=120,
            ):
                with arrived:
                    received[event["object"].metadata.resource_version] = time.perf_counter()
                    arrived.notify_all()
        except ProtocolError:  # Watch.stop() shuts the socket down under the reader
            pass

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    from_sent, from_returned = [], []
    for i in range(writes):
        sent = time.perf_counter()
        obj = core.patch_namespaced_config_map("watched", NS, {"data": {"v": str(i)}})
        returned, rv = time.perf_counter(), obj.metadata.resource_version
        with arrived:
            if not arrived.wait_for(lambda rv=rv: rv in received, timeout=5):
                raise RuntimeError(f"watch event for resourceVersion {rv} never arrived")
            from_sent.append((received[rv] - sent) * 1000)
            from_returned.append(max(0.0, received[rv] - returned) * 1000)
    stream.stop()
    thread.join(timeout=5)
    print(f"watch latency over {writes} PATCHes (kubernetes client on both ends)")
    for label, values in (
        ("write returned -> event", from_returned),
        ("write sent -> event", from_sent),
    ):
        q = statistics.quantiles(values, n=100)
        print(
            f"  {label:<24} p50 {q[49]:6.2f} ms   p95 {q[94]:6.2f} ms   "
            f"p99 {q[98]:6.2f} ms   max {max(values):6.2f} ms"
        )
    early = sum(1 for x in from_returned if x == 0.0)
    print(f"  ({early} of {writes} events arrived before the PATCH response)")


def pin_to_one_cpu() -> str:
    """Pin this process (and the threads it starts later) to one CPU; says which."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no os.sched_setaffinity here)"
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {allowed[0]})
    return f"pinned to CPU {allowed[0]} (of {len(allowed)} allowed)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pinned = pin_to_one_cpu()  # before the sandbox starts: its threads inherit the mask
    if args.tracemalloc:
        tracemalloc.start()
    base_rss = current_rss_mb()
    box = Sandbox(SandboxConfig(speed=args.speed)).start()
    with TemporaryDirectory() as tmp:
        api = kube_client(box, Path(tmp))
        client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
        try:
            print(
                f"python {sys.version.split()[0]}, sandbox speed x{args.speed:g}, "
                f"RSS at start {base_rss:.0f} MB, {pinned}"
            )
            if not args.skip_api:
                bench_throughput(box, api, args.seconds)
                bench_watch_latency(api, args.writes)
            bench_rollout(box, api, args)
        finally:
            api.close()
            box.stop()
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per throughput measurement")
    parser.add_argument("--writes", type=int, default=500, help="writes for watch latency")
    parser.add_argument("--deployments", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--speed", type=float, default=20.0, help="sandbox clock factor")
    parser.add_argument("--timeout", type=float, default=600.0, help="per rollout phase")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also report Python heap peak (slows everything down)",
    )
    parser.add_argument("--skip-api", action="store_true", help="only the rolling update")
    return parser.parse_args(argv)


# -- 100 Deployments x 10 replicas rolling at once ----------------------------------


def deployment(name: str, replicas: int, image: str) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": image}]}}},
    }  # fmt: skip


def rolled(d: client.V1Deployment, replicas: int, image: str) -> bool:
    """Complete like `kubectl rollout status`: observed, all updated and available, no extra."""
    s, spec = d.status, d.spec
    return s is not None and (
        spec.template.spec.containers[0].image == image
        and (s.observed_generation or 0) >= (d.metadata.generation or 0)
        and (s.updated_replicas or 0) == replicas
        and (s.available_replicas or 0) == replicas
        and (s.replicas or 0) == replicas
    )


def wait_all(
    apps: client.AppsV1Api, names: set[str], replicas: int, image: str, timeout: float
) -> None:
    """Follow one namespace-wide watch until every named Deployment has rolled to `image`."""
    pending = set(names)
    listed = apps.list_namespaced_deployment(NS)
    pending -= {d.metadata.name for d in listed.items if rolled(d, replicas, image)}
    stream = watch.Watch()
    for event in stream.stream(
        apps.list_namespaced_deployment,
        NS,
        timeout_seconds=int(timeout),
        resource_version=listed.metadata.resource_version,
    ):
        d = event["object"]
        if d.metadata.name in pending and rolled(d, replicas, image):
            pending.discard(d.metadata.name)
            if not pending:
                stream.stop()
                return
    if pending:
        raise RuntimeError(f"{len(pending)} Deployments not rolled to {image} in {timeout:.0f}s")


@contextmanager
def phase(label: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    print(f"  {label:<38} {time.perf_counter() - start:7.2f} s   peak RSS {rss_mb():6.0f} MB")


def bench_rollout(box: Sandbox, api: client.ApiClient, args: argparse.Namespace) -> None:
    apps = client.AppsV1Api(api)
    n, replicas = args.deployments, args.replicas
    names = {f"d{i:03d}" for i in range(n)}
    gc.collect()
    before = current_rss_mb()
    print(
        f"{n} Deployments x {replicas} replicas = {n * replicas} pods (RSS before {before:.0f} MB)"
    )
    with phase("create all, wait all available"):
        for name in sorted(names):
            apps.create_namespaced_deployment(NS, deployment(name, replicas, "app:v1"))
        wait_all(apps, names, replicas, "app:v1", args.timeout)
    with phase("set image on all, wait all rolled"):
        for name in sorted(names):
            apps.patch_namespaced_deployment(
                name,
                NS,
                {
                    "spec": {
                        "template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}
                    }
                },
            )
        wait_all(apps, names, replicas, "app:v2", args.timeout)
    pods = len(box.store.list(kinds.BY_KEY["pods"])[0])
    now = current_rss_mb()
    print(
        f"  pods now {pods}; RSS now {now:.0f} MB (+{now - before:.0f} MB for the rollout), "
        f"peak {rss_mb():.0f} MB; requests logged {box.requests.count()}"
    )
    if tracemalloc.is_tracing():
        current, peak = tracemalloc.get_traced_memory()
        print(
            f"  tracemalloc: Python heap now {current / 2**20:.0f} MB, peak {peak / 2**20:.0f} MB"
        )


if __name__ == "__main__":
    sys.exit(main())
