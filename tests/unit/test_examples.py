"""The examples, checked without a cluster: the kind scripts (shellcheck, and their logic
with stand-in tools), manifests against the kubernetes client's models, the Prometheus
config, the rollout files, the Dockerfiles and the CI workflows.

Cluster-side checks (kubectl dry runs, rollout --dry-run) are in tests/e2e.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from rollout import spec_file
from rollout.spec import StrategyKind

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
KIND = EXAMPLES / "kind"
MANIFESTS = EXAMPLES / "manifests"
SCRIPTS = sorted(EXAMPLES.rglob("*.sh"))
WORKFLOWS = ROOT / ".github" / "workflows"
CUSTOM = {"VirtualService", "DestinationRule", "Telemetry"}  # CRDs: no client model
Obj = dict[str, Any]


def documents(path: Path) -> list[Obj]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def by_kind(path: Path) -> dict[str, Obj]:
    return {d["kind"]: d for d in documents(path)}


# -- the kind scripts -----------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_passes_shellcheck_and_is_strict(script: Path) -> None:
    proc = subprocess.run(["shellcheck", "-x", str(script)], capture_output=True, text=True)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "set -euo pipefail" in script.read_text()
    assert os.access(script, os.X_OK)


class FakeTools:
    """A PATH of stand-ins that log their arguments (and the few real tools scripts use)."""

    REAL = ("bash", "dirname", "grep", "seq", "cat", "chmod", "rm")

    def __init__(self, directory: Path) -> None:
        self.bin, self.log = directory / "bin", directory / "calls.log"
        self.bin.mkdir()
        for tool in self.REAL:
            found = shutil.which(tool)
            assert found is not None, tool
            (self.bin / tool).symlink_to(found)

    def add(self, name: str, body: str = "") -> None:
        script = f'#!/bin/sh\necho "{name} $*" >> "{self.log}"\n{body}\nexit 0\n'
        (self.bin / name).write_text(script)
        (self.bin / name).chmod(0o755)

    def run(self, script: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "bash"), str(KIND / script)],
            capture_output=True,
            text=True,
            env={"PATH": str(self.bin), "HOME": str(self.bin.parent), **env},
            timeout=60,
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


# `kind create cluster ... --kubeconfig PATH` writes PATH
WRITES_KUBECONFIG = 'p=; for a; do [ "$p" = --kubeconfig ] && : > "$a"; p="$a"; done'


@pytest.fixture
def tools(tmp_path: Path) -> FakeTools:
    return FakeTools(tmp_path)


@pytest.mark.parametrize(
    ("present", "missing", "hint"),
    [
        ((), "docker", "https://docs.docker.com/engine/install/"),
        (("docker",), "kind", "https://kind.sigs.k8s.io/"),
        (("docker", "kind"), "kubectl", "https://kubernetes.io/docs/tasks/tools/"),
    ],
)
def test_up_names_the_missing_tool_and_where_to_get_it(
    tools: FakeTools, present: tuple[str, ...], missing: str, hint: str
) -> None:
    for name in present:
        tools.add(name)

    proc = tools.run("up.sh")

    assert proc.returncode == 1
    assert proc.stderr.startswith(f"up.sh: {missing} not found on PATH; install"), proc.stderr
    assert hint in proc.stderr
    assert not any(c.startswith(("kind create", "docker build")) for c in tools.calls())


def test_up_stops_when_the_docker_daemon_is_not_reachable(tools: FakeTools) -> None:
    for name in ("kind", "kubectl", "curl"):
        tools.add(name)
    tools.add("docker", 'if [ "$1" = info ]; then exit 1; fi')

    proc = tools.run("up.sh")

    assert proc.returncode == 1
    assert "the Docker daemon is not reachable" in proc.stderr
    assert tools.calls() == ["docker info"]


def test_up_requires_istioctl_only_when_istio_is_asked_for(tools: FakeTools) -> None:
    for name in ("docker", "kind", "kubectl", "curl"):
        tools.add(name)

    asked = tools.run("up.sh", ROLLOUT_KIND_ISTIO="yes")
    bad = tools.run("up.sh", ROLLOUT_KIND_ISTIO="maybe")

    assert asked.returncode == 1 and "istioctl not found on PATH" in asked.stderr
    assert bad.returncode == 1 and "must be auto, yes or no (got 'maybe')" in bad.stderr


@pytest.mark.parametrize("with_istio", [True, False])
def test_up_creates_builds_loads_and_installs_in_order(
    tools: FakeTools, tmp_path: Path, with_istio: bool
) -> None:
    for name in ("docker", "kubectl", "curl", *(["istioctl"] if with_istio else [])):
        tools.add(name)
    tools.add("kind", WRITES_KUBECONFIG)
    kubeconfig = tmp_path / "kind.kubeconfig"

    proc = tools.run("up.sh", ROLLOUT_KIND_KUBECONFIG=str(kubeconfig))

    assert proc.returncode == 0, proc.stderr
    calls = tools.calls()
    repo, context = "ghcr.io/example/link-manager", str(EXAMPLES / "link-manager")
    create = f"kind create cluster --name rollout --config {KIND / 'cluster.yaml'}"
    assert calls[calls.index("docker info") + 2].startswith(create)
    builds = [c for c in calls if c.startswith("docker build")]
    assert builds == [
        f"docker build -q -t {repo}:v1 --build-arg VERSION=v1 {context}",
        f"docker build -q -t {repo}:v2 --build-arg VERSION=v2 {context}",
        f"docker build -q -t {repo}:v3 --build-arg VERSION=v3 --build-arg ERROR_RATE=0.2 "
        f"--build-arg EXTRA_LATENCY_MS=250 {context}",
    ]
    load = f"kind load docker-image --name rollout {repo}:v1 {repo}:v2 {repo}:v3"
    assert calls.index(load) > calls.index(builds[-1])
    assert f"kubectl apply -f {KIND / 'prometheus.yaml'}" in calls
    assert any(c.startswith("istioctl install -y") for c in calls) is with_istio
    assert (f"kubectl apply -f {KIND / 'istio-telemetry.yaml'}" in calls) is with_istio
    assert f"export ROLLOUT_E2E_KUBECONFIG={kubeconfig}" in proc.stderr


def test_down_deletes_the_cluster_and_names_a_missing_kind(tools: FakeTools) -> None:
    without = tools.run("down.sh")
    tools.add("kind", 'if [ "$1 $2" = "get clusters" ]; then echo rollout; fi')

    deleted = tools.run("down.sh")

    assert without.returncode == 1 and "down.sh: kind not found on PATH" in without.stderr
    assert deleted.returncode == 0, deleted.stderr
    assert "kind delete cluster --name rollout" in tools.calls()


# -- manifests ------------------------------------------------------------------------


class _Response:
    """What ApiClient.deserialize reads: a body in `.data`."""

    def __init__(self, doc: Obj) -> None:
        self.data = json.dumps(doc)


def _manifests() -> list[tuple[Path, Obj]]:
    files = [*sorted(MANIFESTS.glob("*.yaml")), KIND / "prometheus.yaml"]
    return [(f, d) for f in files for d in documents(f) if d["kind"] not in CUSTOM]


@pytest.mark.parametrize(
    ("path", "doc"), _manifests(), ids=lambda v: v.name if isinstance(v, Path) else v["kind"]
)
def test_manifest_round_trips_through_the_kubernetes_models(path: Path, doc: Obj) -> None:
    """Misspelt or misplaced fields are dropped by the models, wrong types rejected."""
    version = doc["apiVersion"].split("/")[-1].capitalize()
    api = client.ApiClient()

    model = api.deserialize(_Response(doc), f"{version}{doc['kind']}")

    assert api.sanitize_for_serialization(model) == doc


def test_all_in_one_link_manager_yaml_is_app_plus_istio() -> None:
    """link-manager.yaml (the sandbox's and `rollout demo`'s) must not drift from the
    split files a real cluster applies."""
    split = documents(MANIFESTS / "app.yaml") + documents(MANIFESTS / "istio.yaml")

    assert documents(MANIFESTS / "link-manager.yaml") == split


def test_app_deployment_has_replicas_probes_resources_and_scrape_annotations() -> None:
    deploy = by_kind(MANIFESTS / "app.yaml")["Deployment"]
    template = deploy["spec"]["template"]
    container = template["spec"]["containers"][0]
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")

    assert deploy["spec"]["replicas"] == 4
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
    }
    assert "namespace" not in deploy["metadata"]  # applied with -n


@pytest.mark.parametrize("name", ["app.yaml", "loadgen.yaml"])
def test_deployments_run_as_the_images_non_root_user_with_no_privileges(name: str) -> None:
    """What the Pod Security "restricted" profile asks for, with the image's own USER."""
    dockerfile = (EXAMPLES / "link-manager" / "Dockerfile").read_text()
    image_user = int(re.findall(r"^USER (\d+)$", dockerfile, flags=re.MULTILINE)[-1])
    pod = by_kind(MANIFESTS / name)["Deployment"]["spec"]["template"]["spec"]

    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": image_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for container in pod["containers"]:
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }, container["name"]
    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile  # nothing to write on a read-only root


def test_namespaces_istio_routing_and_load_generator_fit_together() -> None:
    plain = by_kind(MANIFESTS / "namespace.yaml")["Namespace"]
    meshed = by_kind(MANIFESTS / "namespace-istio.yaml")["Namespace"]
    routing = by_kind(MANIFESTS / "istio.yaml")
    service = by_kind(MANIFESTS / "app.yaml")["Service"]["metadata"]["name"]
    env = by_kind(MANIFESTS / "loadgen.yaml")["Deployment"]["spec"]["template"]["spec"][
        "containers"
    ][0]["env"]

    assert plain["metadata"]["name"] == meshed["metadata"]["name"]
    assert "labels" not in plain["metadata"]
    assert meshed["metadata"]["labels"] == {"istio-injection": "enabled"}
    assert routing["VirtualService"]["spec"]["hosts"] == [service]
    assert routing["DestinationRule"]["spec"]["host"] == service
    assert {"name": "TARGET_URL", "value": f"http://{service}/links"} in env


def test_prometheus_config_keeps_annotated_pods_and_labels_namespace_and_pod(
    tmp_path: Path,
) -> None:
    text = by_kind(KIND / "prometheus.yaml")["ConfigMap"]["data"]["prometheus.yml"]
    job = yaml.safe_load(text)["scrape_configs"][0]
    relabel = job["relabel_configs"]
    # Debian's promtool is built without Kubernetes discovery: check the rest of the file
    # (relabel rules, regexes) with a static target in its place.
    checked = yaml.safe_load(text)
    checked["scrape_configs"][0].pop("kubernetes_sd_configs")
    checked["scrape_configs"][0]["static_configs"] = [{"targets": ["127.0.0.1:9"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(checked))

    proc = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    keep = relabel[0]
    assert keep["action"] == "keep" and keep["regex"] == "true"
    assert keep["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
    targets = {r.get("target_label"): r["source_labels"] for r in relabel}
    assert targets["namespace"] == ["__meta_kubernetes_namespace"]
    assert targets["pod"] == ["__meta_kubernetes_pod_name"]
    assert re.fullmatch(r"\d+s", yaml.safe_load(text)["global"]["scrape_interval"])


def test_kind_publishes_the_prometheus_node_port_on_localhost() -> None:
    cluster = yaml.safe_load((KIND / "cluster.yaml").read_text())
    service = by_kind(KIND / "prometheus.yaml")["Service"]

    mapping = cluster["nodes"][0]["extraPortMappings"][0]

    assert service["spec"]["ports"][0]["nodePort"] == mapping["containerPort"]
    assert (mapping["listenAddress"], mapping["hostPort"]) == ("127.0.0.1", 9090)


# -- rollout files --------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(StrategyKind), ids=lambda k: k.value)
def test_each_strategy_has_a_rollout_file_with_checks(kind: StrategyKind) -> None:
    path = EXAMPLES / "rollouts" / f"{kind.value}.yaml"

    loaded = spec_file.load(path)

    assert loaded.strategy is kind
    assert loaded.name == "link-manager" and loaded.namespace is None  # namespace from -n
    checks = {c.name for c in loaded.values.checks or ()}
    assert checks == {"success-rate", "latency-p99"}
    assert f"rollout run -f examples/rollouts/{kind.value}.yaml" in path.read_text()


# -- images, CI, README ---------------------------------------------------------------


def test_dockerfiles_run_as_non_root() -> None:
    app = (EXAMPLES / "link-manager" / "Dockerfile").read_text()
    tool = (ROOT / "Dockerfile").read_text()

    for text in (app, tool):
        user = re.findall(r"^USER (\S+)$", text, flags=re.MULTILINE)
        assert user and user[-1] not in ("root", "0"), user
        assert re.search(r"^FROM python:3\.\d+-slim", text, flags=re.MULTILINE)
    for arg in ("VERSION", "ERROR_RATE", "EXTRA_LATENCY_MS", "STARTUP_DELAY_SECONDS"):
        assert re.search(rf"^ARG {arg}\b", app, flags=re.MULTILINE), arg
    assert "pip install" in tool and "ENTRYPOINT" in tool


def _steps(workflow: str) -> list[Obj]:
    doc = yaml.safe_load((WORKFLOWS / workflow).read_text())
    return [step for job in doc["jobs"].values() for step in job["steps"]]


@pytest.mark.parametrize("workflow", ["ci.yml", "e2e-kind.yml"])
def test_workflow_run_steps_pass_shellcheck(workflow: str, tmp_path: Path) -> None:
    scripts = [s["run"] for s in _steps(workflow) if "run" in s]
    path = tmp_path / "steps.sh"
    path.write_text("#!/usr/bin/env bash\n" + "\n".join(scripts))

    proc = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)

    assert scripts
    assert proc.returncode == 0, proc.stdout


def test_ci_runs_the_test_script_and_the_kind_job_runs_e2e_on_kind() -> None:
    ci = "\n".join(s.get("run", "") for s in _steps("ci.yml"))
    kind = _steps("e2e-kind.yml")
    runs = "\n".join(s.get("run", "") for s in kind)
    e2e = next(s for s in kind if "tests/e2e" in s.get("run", ""))

    assert ".ci/run" in ci
    assert runs.index("examples/kind/up.sh") < runs.index("tests/e2e")
    assert e2e["env"]["ROLLOUT_E2E_KUBECONFIG"]
    assert "examples/kind/down.sh" in runs


def test_readme_documents_the_real_cluster_walkthrough_and_ci_exit_codes() -> None:
    readme = (ROOT / "README.md").read_text()
    real = readme.split("## Real cluster", 1)[1].split("\n## ", 1)[0]
    in_ci = readme.split("## In CI", 1)[1].split("\n## ", 1)[0]

    assert "examples/kind/up.sh" in real and "examples/kind/down.sh" in real
    for kind in StrategyKind:
        assert f"examples/rollouts/{kind.value}.yaml" in real, kind
    assert "--image v3" in real
    for code in ("0)", "1)", "2)", "3)", "4)", "5)"):
        assert code in in_ci, code
    assert "GitHub Actions" in in_ci and "GitLab CI" in in_ci


def test_readme_ci_snippets_are_valid_yaml_whose_scripts_pass_shellcheck(tmp_path: Path) -> None:
    in_ci = (ROOT / "README.md").read_text().split("## In CI", 1)[1].split("\n## ", 1)[0]
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", in_ci, flags=re.S)]
    github, gitlab = blocks
    runs = [s["run"] for job in github["jobs"].values() for s in job["steps"] if "run" in s]
    scripts = [line for job in gitlab.values() for line in job.get("script", [])]
    path = tmp_path / "snippets.sh"
    path.write_text("#!/usr/bin/env bash\n" + "\n".join(runs + scripts) + "\n")

    proc = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)

    assert proc.returncode == 0, proc.stdout
    assert gitlab["deploy"]["allow_failure"] == {"exit_codes": [4]}
    assert github["jobs"]["approve"]["if"] == "needs.deploy.outputs.code == '4'"
    # `resume` after an approval exits 4 at a further manual pause: not a failed job
    assert gitlab["promote"]["allow_failure"] == {"exit_codes": [4]}
    approve = [
        line.strip() for s in github["jobs"]["approve"]["steps"] for line in s["run"].splitlines()
    ]
    resume = next(line for line in approve if line.startswith("run_rollout resume"))
    paused = next(line for line in approve if line.startswith("4)"))
    assert resume.endswith("|| code=$?") and "exit" not in paused, (resume, paused)
