"""The clusters the e2e scenarios run on, behind one small interface.

`sandbox`: the local sandbox with a real Prometheus scraping it (always available; CI
runs it). `kubeconfig`: any real cluster given by ROLLOUT_E2E_KUBECONFIG and prepared by
examples/kind/up.sh (Prometheus at ROLLOUT_E2E_PROMETHEUS_URL). The harness uses the
given kubeconfig and kubectl; on a real cluster the `rollout` CLI itself runs as the
example ServiceAccount (examples/manifests/rbac.yaml), so the Role is exercised for real.
"""

from __future__ import annotations

import copy
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from kubernetes import client

from rollout.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
MANIFESTS = EXAMPLES / "manifests"
KUBECONFIG_ENV = "ROLLOUT_E2E_KUBECONFIG"
PROMETHEUS_ENV = "ROLLOUT_E2E_PROMETHEUS_URL"
DEFAULT_PROMETHEUS = "http://127.0.0.1:9090"  # where examples/kind/up.sh publishes it
REQUIRE_ENV = "ROLLOUT_E2E_REQUIRE"  # "1": a missing cluster or Istio fails, never skips
SERVICE_ACCOUNT = "rollout"
Obj = dict[str, Any]


@dataclass(frozen=True)
class Timing:
    """How fast a cluster can go: analysis flags for the CLI and the waits around it."""

    analysis: tuple[str, ...]
    ready_timeout: float  # the app's pods becoming ready after kubectl create
    run_timeout: float  # one `rollout` invocation
    parallel: int  # scenarios running at once


# The sandbox's pods see a few dozen requests per gate, so one unlucky 5xx of the healthy
# v2 (0.1%) would put it under the examples' 99%; 95% still fails v3 (~80%) every time.
SANDBOX_TIMING = Timing(
    (
        "--interval",
        "1s",
        "--count",
        "2",
        "--initial-delay",
        "3s",
        "--failure-limit",
        "0",
        "--check",
        "success-rate>=95",
        "--check",
        "latency-p99<=300ms",
        "--timeout",
        "60s",
    ),
    ready_timeout=30,
    run_timeout=120,
    parallel=16,
)
# A real cluster: Prometheus scrapes every 5 s (examples/kind/prometheus.yaml); the
# examples' own checks. Few at once, so a kind node has room for every namespace's pods.
REAL_TIMING = Timing(
    ("--interval", "10s", "--count", "3", "--initial-delay", "30s", "--timeout", "4m"),
    ready_timeout=300,
    run_timeout=1500,
    parallel=int(os.environ.get("ROLLOUT_E2E_PARALLEL", "3")),
)


@dataclass
class E2ECluster:
    """One cluster: how to reach it, its Prometheus, its pace, and what it serves."""

    name: str
    kubeconfig: Path
    prometheus_url: str
    api: client.ApiClient
    timing: Timing
    cache_dir: Path
    sandbox: Sandbox | None = None  # its request log shows what the tool asked for
    served: frozenset[str] = field(default_factory=frozenset)  # kinds, e.g. "Deployment"

    @property
    def has_istio(self) -> bool:
        return "VirtualService" in self.served

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster (AssertionError on failure)."""
        argv = ["kubectl", f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache_dir}"]
        proc = subprocess.run(
            [*argv, *args], capture_output=True, text=True, input=stdin, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}"
            )
        return proc

    def create_namespace(self, name: str, *, istio: bool = False) -> None:
        labels = {"istio-injection": "enabled"} if istio else {}
        core = client.CoreV1Api(self.api)
        core.create_namespace({"metadata": {"name": name, "labels": labels}})

    def delete_namespace(self, name: str) -> None:
        client.CoreV1Api(self.api).delete_namespace(name, propagation_policy="Background")

    def deploy_app(self, namespace: str, *, istio: bool = False) -> None:
        """link-manager v1 + Service + load generator (+ Istio routing), rolled out."""
        files = ["app.yaml", "loadgen.yaml", *(["istio.yaml"] if istio else [])]
        args = [a for f in files for a in ("-f", str(MANIFESTS / f))]
        self.kubectl("create", "-n", namespace, *args)
        wait = f"--timeout={self.timing.ready_timeout:.0f}s"
        for name in ("link-manager", "link-manager-loadgen"):
            self.kubectl(
                "rollout",
                "status",
                "-n",
                namespace,
                f"deployment/{name}",
                wait,
                timeout=self.timing.ready_timeout + 30,
            )

    def tool_kubeconfig(self, namespace: str, directory: Path) -> Path:
        """The kubeconfig `rollout` runs with: the sandbox's own, or on a real cluster the
        example ServiceAccount's token (its Role bound in `namespace` only)."""
        if self.sandbox is not None:
            return self.kubeconfig
        docs = rbac_documents(namespace)
        self.kubectl("create", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(docs))
        request = {"spec": {"expirationSeconds": 7200}}
        token = client.CoreV1Api(self.api).create_namespaced_service_account_token(
            SERVICE_ACCOUNT, namespace, request
        )
        path = directory / f"{namespace}.sa.kubeconfig"
        doc = token_kubeconfig(self.kubeconfig, token.status.token, namespace)
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        return path


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it where ROLLOUT_E2E_REQUIRE=1 (the kind CI job)."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)")
    pytest.skip(reason)


def rbac_documents(namespace: str) -> list[Obj]:
    """examples/manifests/rbac.yaml with the RoleBinding's subjects in `namespace`."""
    docs = [d for d in yaml.safe_load_all((MANIFESTS / "rbac.yaml").read_text()) if d]
    for doc in docs:
        for subject in doc.get("subjects") or []:
            subject["namespace"] = namespace
    return docs


def token_kubeconfig(admin: Path, token: str, namespace: str) -> Obj:
    """A kubeconfig for the same API server as `admin`'s current context, as `token`."""
    config = yaml.safe_load(admin.read_text())
    context = next(
        c["context"] for c in config["contexts"] if c["name"] == config["current-context"]
    )
    server = copy.deepcopy(
        next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    )
    ca = server.get("certificate-authority")
    if ca and not Path(ca).is_absolute():
        server["certificate-authority"] = str((admin.parent / ca).resolve())
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": server}],
        "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
        "contexts": [
            {
                "name": "e2e",
                "context": {"cluster": "e2e", "user": SERVICE_ACCOUNT, "namespace": namespace},
            }
        ],
        "current-context": "e2e",
    }


def served_kinds(api: client.ApiClient) -> frozenset[str]:
    """Every kind the API server serves (discovery), e.g. {"Deployment", "Role", ...}."""
    kinds = {r.kind for r in client.CoreV1Api(api).get_api_resources().resources}
    for group in client.ApisApi(api).get_api_versions().groups:
        version = group.preferred_version.group_version
        group_name, _, ver = version.partition("/")
        resources = client.CustomObjectsApi(api).get_api_resources(group_name, ver).resources
        kinds.update(r.kind for r in resources)
    return frozenset(kinds)
