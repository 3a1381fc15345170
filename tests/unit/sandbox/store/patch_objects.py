"""Objects the patch tests start from."""

from __future__ import annotations

from typing import Any


def make_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web"},
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "finalizers": ["a", "b"],
        },
        "spec": {
            "replicas": 3,
            "paused": True,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"team": "core"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:v1",
                            "args": ["--a", "--b"],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80}, {"containerPort": 9090}],
                            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}],
                        },
                        {"name": "sidecar", "image": "envoy:1"},
                    ],
                    "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
                    "tolerations": [{"key": "x", "operator": "Exists"}],
                },
            },
        },
        "status": {"conditions": [{"type": "Available", "status": "True"}]},
    }


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def names(items: list[dict[str, Any]]) -> list[str]:
    return [i["name"] for i in items]
