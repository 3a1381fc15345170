"""The sandbox, assembled: store + controllers + traffic + HTTP API on 127.0.0.1.

`Sandbox(config).start()` gives a URL that the kubernetes client, kubectl and
Prometheus accept; `stop()` ends everything. Holds no global state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rollout.sandbox import kinds
from rollout.sandbox.api.server import ApiServer
from rollout.sandbox.clock import Clock
from rollout.sandbox.config import SandboxConfig
from rollout.sandbox.controllers.deployment import DeploymentController
from rollout.sandbox.controllers.endpoints import EndpointsController
from rollout.sandbox.controllers.gc import GarbageCollector
from rollout.sandbox.controllers.kubelet import KubeletController
from rollout.sandbox.controllers.manager import Manager
from rollout.sandbox.controllers.replicaset import ReplicaSetController
from rollout.sandbox.faults import Faults, RequestLog
from rollout.sandbox.store.store import HISTORY, Store
from rollout.sandbox.traffic.feed import TrafficFeed
from rollout.sandbox.traffic.model import TrafficModel

CONTEXT = "rollout-sandbox"
BOOT_NAMESPACES = ("default", "kube-system", "kube-public")


class Sandbox:
    """A local Kubernetes API with controllers and a traffic/metrics model."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        port: int = 0,
        seed: int = 0,
        traffic_interval: float = 0.1,
        history: int = HISTORY,
    ) -> None:
        """`history`: how many store events a watch can resume from (older: 410 Gone)."""
        self.config = config or SandboxConfig.default()
        self.clock = Clock(self.config.speed)
        self.store = Store(history=history, seed=seed)
        self.faults = Faults(seed=seed)
        self.requests = RequestLog()
        self.manager = Manager(
            self.store,
            self.clock,
            [
                DeploymentController(self.store, self.clock),
                ReplicaSetController(self.store, self.clock, seed=seed),
                KubeletController(self.store, self.clock, self.config.behaviour_for),
                EndpointsController(self.store),
                GarbageCollector(self.store),
            ],
        )
        self.traffic = TrafficFeed(
            self.store, TrafficModel(self.config, seed=seed), self.clock, interval=traffic_interval
        )
        self.api = ApiServer(
            self.store,
            faults=self.faults,
            requests=self.requests,
            metrics=self.traffic.render,
            port=port,
        )
        for name in BOOT_NAMESPACES:
            self.store.create(
                kinds.BY_KEY["namespaces"],
                "",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            )

    @property
    def url(self) -> str:
        return self.api.url

    def start(self) -> Sandbox:
        """Start controllers, traffic and the HTTP server; returns self."""
        self.manager.start()
        self.traffic.start()
        self.api.start()
        return self

    def stop(self) -> None:
        """Stop serving (ending watch streams), then the traffic and controllers."""
        self.api.stop()
        self.traffic.stop()
        self.manager.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        """A kubeconfig document pointing at this sandbox (context `rollout-sandbox`)."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": CONTEXT,
            "clusters": [{"name": CONTEXT, "cluster": {"server": self.url}}],
            "users": [{"name": CONTEXT, "user": {"token": "sandbox"}}],
            "contexts": [
                {
                    "name": CONTEXT,
                    "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
                }
            ],
        }

    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        """Write `kubeconfig()` to `path` (mode 0600) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(namespace), sort_keys=False))
        path.chmod(0o600)
        return path

    def apply(self, documents: list[dict[str, Any]]) -> None:
        """Create each manifest (like `kubectl create -f`), namespaces first."""
        docs = sorted((d for d in documents if d), key=lambda d: d.get("kind") != "Namespace")
        for doc in docs:
            kind = kinds.BY_KIND[doc["kind"]]
            namespace = doc.get("metadata", {}).get("namespace", "default")
            self.store.create(kind, namespace if kind.namespaced else "", doc)

    def apply_file(self, path: str | Path) -> None:
        """Create every document of a YAML manifest file."""
        self.apply(list(yaml.safe_load_all(Path(path).read_text())))
