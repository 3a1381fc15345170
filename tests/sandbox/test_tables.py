"""Server-side Table output: `kubectl get` prints the columns a real cluster prints, for
lists of several kinds, `-o wide` and `-w`; and the Table wire format itself."""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from rollout.sandbox import Sandbox
from tests.factories import make_deployment, make_service
from tests.sandbox import rawhttp
from tests.sandbox.conftest import EXAMPLES, Kubectl

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
KUBECTL_ACCEPT = f"{TABLE},application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"


@pytest.fixture
def link_manager(kubectl: Kubectl) -> Kubectl:
    """The example manifests created with `kubectl create -f`, rolled out."""
    out = kubectl("create", "-f", str(EXAMPLES / "manifests" / "link-manager.yaml")).stdout
    assert "deployment.apps/link-manager created" in out
    kubectl("rollout", "status", "deployment/link-manager", "--timeout=20s")
    return kubectl


def _lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines() if line.strip()]


def _block(text: str, header: str) -> list[list[str]]:
    """The rows of the `kubectl get` block whose header starts with `header`."""
    blocks = text.strip().split("\n\n")
    found = next(b for b in blocks if b.startswith(header))
    return _lines(found)


def test_kubectl_get_several_kinds_prints_each_kinds_real_columns(link_manager: Kubectl) -> None:
    out = link_manager("get", "deploy,rs,po,svc,ep,vs").stdout
    assert _block(out, "NAME")[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert _block(out, "NAME")[1][:4] == ["deployment.apps/link-manager", "4/4", "4", "4"]
    # found by a column name: the NAME column's width varies with the pod-template-hash
    rs = next(_lines(b) for b in out.split("\n\n") if "DESIRED" in b)
    assert rs[0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert rs[1][0].startswith("replicaset.apps/link-manager-") and rs[1][1:4] == ["4", "4", "4"]
    pods = next(_lines(b) for b in out.split("\n\n") if "STATUS" in b and "RESTARTS" in b)
    assert pods[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(pods) == 5 and all(p[1:4] == ["1/1", "Running", "0"] for p in pods[1:])
    svc = next(_lines(b) for b in out.split("\n\n") if "CLUSTER-IP" in b)
    assert svc[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svc[1][1] == "ClusterIP" and svc[1][3:5] == ["<none>", "80/TCP"]
    ep = next(_lines(b) for b in out.split("\n\n") if "ENDPOINTS" in b)
    assert ep[0] == ["NAME", "ENDPOINTS", "AGE"]
    assert ep[1][1].count(":8080") == 3 and ep[1][2:5] == ["+", "1", "more..."]
    vs = next(_lines(b) for b in out.split("\n\n") if "HOSTS" in b)
    assert vs[0] == ["NAME", "GATEWAYS", "HOSTS", "AGE"]
    assert vs[1][:2] == ["virtualservice.networking.istio.io/link-manager", '["link-manager"]']


def test_kubectl_get_wide_adds_the_priority_columns(link_manager: Kubectl) -> None:
    rows = _lines(link_manager("get", "deploy", "-o", "wide").stdout)
    assert rows[0] == [
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    assert rows[1][5:] == ["link-manager", "ghcr.io/example/link-manager:v1", "app=link-manager"]
    pods = _lines(link_manager("get", "pods", "-o", "wide").stdout)
    assert pods[0][5:] == ["IP", "NODE", "NOMINATED", "NODE", "READINESS", "GATES"]
    assert all(p[5].count(".") == 3 for p in pods[1:])  # an IPv4 pod IP


def test_kubectl_get_kinds_without_printers_show_name_and_age(
    kubectl: Kubectl, core: client.CoreV1Api
) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"a": "b"}})
    rows = _lines(kubectl("get", "configmap", "c").stdout)
    assert rows[0] == ["NAME", "DATA", "AGE"] and rows[1][:2] == ["c", "1"]
    hpa = {
        "metadata": {"name": "h"},
        "spec": {
            "maxReplicas": 2,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        },
    }
    client.AutoscalingV2Api(core.api_client).create_namespaced_horizontal_pod_autoscaler(
        "default", hpa
    )
    assert _lines(kubectl("get", "hpa").stdout)[0] == ["NAME", "AGE"]


class Lines:
    """Reads a process's stdout lines on a thread, so a test can wait for one."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.lines = proc, queue.Queue[str]()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def close(self) -> None:
        """Stop the process and release its pipe."""
        self.proc.terminate()
        self.proc.wait(timeout=5)
        self.reader.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def until(self, predicate: Any, timeout: float = 10) -> list[str]:
        """Lines up to and including the first one `predicate` accepts."""
        seen: list[str] = []
        while not seen or not predicate(seen[-1]):
            seen.append(self.lines.get(timeout=timeout))
        return seen


@pytest.fixture
def watching(kubeconfig: Path, kubectl: Kubectl) -> Iterator[Any]:
    """Start `kubectl <args>` (e.g. a `get -w`) in the background; stopped at teardown."""
    started: list[Lines] = []

    def start(*args: str) -> Lines:
        """Run `kubectl <args>` in the background."""
        proc = subprocess.Popen(
            ["kubectl", f"--kubeconfig={kubeconfig}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(Lines(proc))
        return started[-1]

    yield start
    for lines in started:
        lines.close()


def test_kubectl_get_watch_prints_headers_once_then_a_row_per_change(
    link_manager: Kubectl, watching: Any
) -> None:
    lines = watching("get", "deploy", "link-manager", "-w")
    first = lines.until(lambda line: line.startswith("link-manager"))
    assert first[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    link_manager("scale", "deployment/link-manager", "--replicas=2")
    changed = lines.until(lambda line: line.split()[1:4] == ["2/2", "2", "2"])
    assert all(line.startswith("link-manager") for line in changed)  # no repeated header


def test_table_rows_carry_partial_metadata_unless_asked_for_the_object(
    sandbox: Sandbox, apps: client.AppsV1Api
) -> None:
    apps.create_namespaced_deployment("default", make_deployment(replicas=0))
    path = "/apis/apps/v1/namespaces/default/deployments"
    table = rawhttp.request(sandbox, "GET", path, headers={"Accept": KUBECTL_ACCEPT}).json()
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "Ready",
        "Up-to-date",
        "Available",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]
    assert [c["priority"] for c in table["columnDefinitions"]] == [0, 0, 0, 0, 0, 1, 1, 1]
    [row] = table["rows"]
    assert row["cells"][:4] == ["web", "0/0", 0, 0] and row["cells"][5:] == [
        "app",
        "app:v1",
        "app=web",
    ]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "web" and "spec" not in row["object"]
    assert int(table["metadata"]["resourceVersion"]) > 0
    full = rawhttp.request(
        sandbox, "GET", path + "?includeObject=Object", headers={"Accept": TABLE}
    ).json()
    assert full["rows"][0]["object"]["kind"] == "Deployment"
    assert full["rows"][0]["object"]["spec"]["replicas"] == 0
    bare = rawhttp.request(
        sandbox, "GET", path + "?includeObject=None", headers={"Accept": TABLE}
    ).json()
    assert bare["rows"][0]["object"] is None


def test_table_of_one_object_and_the_v1beta1_table(
    sandbox: Sandbox, core: client.CoreV1Api
) -> None:
    core.create_namespaced_service("default", make_service("web"))
    accept = {"Accept": "application/json;as=Table;v=v1beta1;g=meta.k8s.io"}
    table = rawhttp.request(
        sandbox, "GET", "/api/v1/namespaces/default/services/web", headers=accept
    ).json()
    assert table["apiVersion"] == "meta.k8s.io/v1beta1"
    [row] = table["rows"]
    assert row["cells"][:5] == ["web", "ClusterIP", row["cells"][2], "<none>", "80/TCP"]
    assert row["cells"][6] == "app=web"


def test_table_watch_sends_column_definitions_with_the_first_event_only(
    sandbox: Sandbox, core: client.CoreV1Api
) -> None:
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "b"}})
    path = f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}"
    first, second = rawhttp.stream_lines(sandbox, path, 2, headers={"Accept": TABLE})
    assert first["object"]["kind"] == "Table"
    assert [c["name"] for c in first["object"]["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert second["object"]["columnDefinitions"] is None
    assert second["object"]["rows"][0]["cells"][:2] == ["b", 0]


def test_partial_object_metadata_list_is_served_for_metadata_clients(
    sandbox: Sandbox, core: client.CoreV1Api
) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}, "data": {"k": "v"}})
    accept = {"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"}
    listed = rawhttp.request(
        sandbox, "GET", "/api/v1/namespaces/default/configmaps", headers=accept
    ).json()
    assert listed["kind"] == "PartialObjectMetadataList"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["a"]
    assert "data" not in listed["items"][0]


def test_kubectl_imperative_creates_sent_as_protobuf_are_accepted(
    kubectl: Kubectl, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    """`kubectl create <kind>` sends protobuf bodies; the sandbox decodes them."""
    kubectl("create", "namespace", "imperative")
    ns = ("-n", "imperative")
    kubectl("create", "deployment", "web", "--image=app:v1", "--port=8080", "--replicas=0", *ns)
    kubectl("create", "configmap", "cm", "--from-literal=a=b", *ns)
    kubectl("create", "secret", "generic", "s", "--from-literal=a=b", *ns)
    kubectl("create", "service", "nodeport", "svc", "--tcp=80:8080", "--node-port=30080", *ns)
    web = apps.read_namespaced_deployment("web", "imperative")
    assert web.spec.replicas == 0
    assert web.spec.template.spec.containers[0].ports[0].container_port == 8080
    assert core.read_namespaced_config_map("cm", "imperative").data == {"a": "b"}
    assert core.read_namespaced_secret("s", "imperative").data == {"a": "Yg=="}
    port = core.read_namespaced_service("svc", "imperative").spec.ports[0]
    assert (port.port, port.target_port, port.node_port) == (80, 8080, 30080)
