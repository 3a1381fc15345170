"""Helpers for the traffic, metrics and fault tests: deploy workloads, wait on watches.

Everything goes through the real kubernetes client; waits follow a watch and are
bounded by `timeout_seconds` on the server side.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client, watch

from tests.factories import make_deployment, make_destination_rule, make_service

ISTIO = ("networking.istio.io", "v1beta1")


def deploy(
    apps: client.AppsV1Api,
    namespace: str,
    name: str,
    *,
    replicas: int,
    image: str,
    labels: Mapping[str, str],
) -> None:
    """Create a Deployment whose pods carry `labels` (its selector too)."""
    body = make_deployment(name, replicas=replicas, image=image, labels=dict(labels))
    apps.create_namespaced_deployment(namespace, body)


def deploy_stable_and_canary(
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
    namespace: str,
    *,
    stable: int,
    canary: int,
    canary_image: str = "app:v2",
    stable_image: str = "app:v1",
) -> None:
    """`web` (track=stable) and `web-canary` (track=canary), both behind Service `web`."""
    deploy(
        apps,
        namespace,
        "web",
        replicas=stable,
        image=stable_image,
        labels={"app": "web", "track": "stable"},
    )
    deploy(
        apps,
        namespace,
        "web-canary",
        replicas=canary,
        image=canary_image,
        labels={"app": "web", "track": "canary"},
    )
    core.create_namespaced_service(namespace, make_service("web", selector={"app": "web"}))


def create_subsets(custom: client.CustomObjectsApi, namespace: str, host: str = "web") -> None:
    """A DestinationRule with subsets stable/canary selecting the `track` label."""
    rule = make_destination_rule(
        host, host=host, subsets={"stable": {"track": "stable"}, "canary": {"track": "canary"}}
    )
    custom.create_namespaced_custom_object(*ISTIO, namespace, "destinationrules", rule)


def address_counts(endpoints: client.V1Endpoints | None) -> tuple[int, int]:
    """(ready, not ready) addresses of an Endpoints object."""
    subsets = (endpoints.subsets if endpoints is not None else None) or []
    ready = sum(len(s.addresses or []) for s in subsets)
    return ready, sum(len(s.not_ready_addresses or []) for s in subsets)


def wait_for_endpoints(
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    *,
    ready: int,
    not_ready: int = 0,
    timeout: int = 10,
) -> None:
    """Follow a watch on Endpoints `name` until it lists exactly these addresses."""
    stream = watch.Watch()
    seen: tuple[int, int] | None = None
    for event in stream.stream(
        core.list_namespaced_endpoints,
        namespace,
        field_selector=f"metadata.name={name}",
        timeout_seconds=timeout,
    ):
        seen = address_counts(event["object"])
        if seen == (ready, not_ready):
            stream.stop()
            return
    raise AssertionError(
        f"Endpoints {namespace}/{name} never had {ready} ready and "
        f"{not_ready} not-ready addresses within {timeout}s (last: {seen})"
    )


def deltas(before: Mapping[str, int], after: Mapping[str, int], namespace: str) -> dict[str, int]:
    """Requests per pod of `namespace` between two `requests_by_pod()` readings."""
    out: dict[str, int] = {}
    for ref, total in after.items():
        pod_ns, _, pod = ref.partition("/")
        if pod_ns == namespace:
            out[pod] = total - before.get(ref, 0)
    return out


def by_workload(per_pod: Mapping[str, int], workloads: list[str]) -> dict[str, int]:
    """Sum per-pod counts by workload: a pod `<workload>-<hash>-<suffix>` belongs to the
    longest workload name it starts with."""
    counts = dict.fromkeys(workloads, 0)
    for pod, count in per_pod.items():
        owners = [w for w in workloads if pod.startswith(f"{w}-")]
        if owners:
            counts[max(owners, key=len)] += count
    return counts


def label_namespace(core: client.CoreV1Api, namespace: str, labels: dict[str, str]) -> None:
    """Merge `labels` into a namespace's labels."""
    body: dict[str, Any] = {"metadata": {"labels": labels}}
    core.patch_namespace(namespace, body)
