"""Builders for the Kubernetes objects tests create (instead of pasted YAML)."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def make_deployment(
    name: str = "web",
    *,
    replicas: int = 4,
    image: str = "app:v1",
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    sidecar: str | None = None,
    strategy: Obj | None = None,
    **spec: Any,
) -> Obj:
    """A Deployment selecting `app: <name>` with one container `app` (plus an optional sidecar)."""
    labels = labels or {"app": name}
    containers: list[Obj] = [
        {"name": "app", "image": image, "ports": [{"name": "http", "containerPort": 8080}]}
    ]
    if sidecar:
        containers.append({"name": "sidecar", "image": sidecar})
    body: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": containers}},
            **spec,
        },
    }
    if strategy is not None:
        body["spec"]["strategy"] = strategy
    if namespace:
        body["metadata"]["namespace"] = namespace
    return body


def make_service(
    name: str = "web",
    *,
    selector: dict[str, str] | None = None,
    port: int = 80,
    target_port: int | str = "http",
) -> Obj:
    """A ClusterIP Service selecting `app: <name>` by default."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": selector or {"app": name},
            "ports": [{"name": "http", "port": port, "targetPort": target_port}],
        },
    }


def make_virtual_service(
    name: str = "web", *, host: str = "web", weights: tuple[int, int] | None = None
) -> Obj:
    """A VirtualService routing `host`; with weights, to subsets stable/canary."""
    if weights is None:
        route = [{"destination": {"host": host}, "weight": 100}]
    else:
        route = [
            {"destination": {"host": host, "subset": "stable"}, "weight": weights[0]},
            {"destination": {"host": host, "subset": "canary"}, "weight": weights[1]},
        ]
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {"hosts": [host], "http": [{"name": "primary", "route": route}]},
    }


def make_destination_rule(
    name: str = "web", *, host: str = "web", subsets: dict[str, dict[str, str]] | None = None
) -> Obj:
    """A DestinationRule for `host` with the given subsets (name -> pod labels)."""
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": name},
        "spec": {
            "host": host,
            "subsets": [{"name": n, "labels": lb} for n, lb in (subsets or {}).items()],
        },
    }
