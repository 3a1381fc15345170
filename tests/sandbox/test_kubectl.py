"""The real kubectl binary against the sandbox: what a platform engineer types on a
cluster works the same here, and the output agrees with a real API server's.

Each test gets a fresh sandbox and its own kubectl cache directory, and works on the
link-manager example (namespace `default`). Waits are kubectl's own (`rollout
status`) or the controllers going idle; nothing sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rollout.sandbox import Sandbox
from tests.factories import make_deployment, make_service
from tests.sandbox.conftest import EXAMPLES, Kubectl

Obj = dict[str, Any]
MANIFEST = str(EXAMPLES / "manifests" / "link-manager.yaml")
DEPLOY = "deployment/link-manager"
V1, V2 = "ghcr.io/example/link-manager:v1", "ghcr.io/example/link-manager:v2"
Run = Callable[..., Any]


@pytest.fixture
def kc(kubectl: Kubectl, tmp_path: Path) -> Run:
    """kubectl with a cache of its own (no discovery cached from another sandbox)."""
    cache = f"--cache-dir={tmp_path / 'kube-cache'}"
    return lambda *args, **kwargs: kubectl(cache, *args, **kwargs)


@pytest.fixture
def rolled_out(kc: Run) -> Run:
    """The example created with `kubectl create -f` and rolled out."""
    kc("create", "-f", MANIFEST)
    kc("rollout", "status", DEPLOY, "--timeout=10s")
    return kc


def get_json(kc: Run, *what: str) -> Obj:
    return json.loads(kc("get", *what, "-o", "json").stdout)  # type: ignore[no-any-return]


def documents(text: str) -> list[Obj]:
    """The JSON documents kubectl printed one after another."""
    decoder, out, at = json.JSONDecoder(), [], 0
    text = text.strip()
    while at < len(text):
        doc, at = decoder.raw_decode(text, at)
        out.append(doc)
        while at < len(text) and text[at].isspace():
            at += 1
    return out


def by_kind(items: list[Obj]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for item in items:
        out.setdefault(item["kind"], []).append(item)
    return out


def images(kc: Run) -> dict[str, tuple[int, str]]:
    """ReplicaSet name -> (spec.replicas, image)."""
    return {
        rs["metadata"]["name"]: (
            rs["spec"]["replicas"],
            rs["spec"]["template"]["spec"]["containers"][0]["image"],
        )
        for rs in get_json(kc, "rs")["items"]
    }


def test_create_from_the_example_manifest_makes_every_object(kc: Run) -> None:
    created = kc("create", "-f", MANIFEST).stdout.splitlines()
    kc("rollout", "status", DEPLOY, "--timeout=10s")

    objects = by_kind(get_json(kc, "deploy,rs,po,svc,ep")["items"])

    assert created == [
        "deployment.apps/link-manager created",
        "service/link-manager created",
        "virtualservice.networking.istio.io/link-manager created",
        "destinationrule.networking.istio.io/link-manager created",
    ]
    [deploy], [rs], pods = objects["Deployment"], objects["ReplicaSet"], objects["Pod"]
    assert deploy["status"]["availableReplicas"] == deploy["spec"]["replicas"] == 4
    assert rs["metadata"]["ownerReferences"][0]["uid"] == deploy["metadata"]["uid"]
    assert len(pods) == 4 and all(p["status"]["phase"] == "Running" for p in pods)
    assert {p["metadata"]["ownerReferences"][0]["name"] for p in pods} == {rs["metadata"]["name"]}
    [svc], [ep] = objects["Service"], objects["Endpoints"]
    assert svc["spec"]["clusterIP"].startswith("10.96.")
    [subset] = ep["subsets"]
    assert sorted(a["ip"] for a in subset["addresses"]) == sorted(
        p["status"]["podIP"] for p in pods
    )
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]  # targetPort


def test_create_from_a_list_manifest_makes_every_item(
    kc: Run, tmp_path: Path, sandbox: Sandbox
) -> None:
    # kubectl validates a `kind: List` file against /openapi/v2 before creating its items.
    items = [make_deployment("web", replicas=1), make_service("web")]
    manifest = tmp_path / "list.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))

    created = kc("create", "-f", str(manifest)).stdout.splitlines()

    assert created == ["deployment.apps/web created", "service/web created"]
    assert sandbox.requests.count(resource="/openapi/v2", code=200) >= 1
    assert [s["metadata"]["name"] for s in get_json(kc, "svc")["items"]] == ["web"]


def test_get_namespaces_shows_them_active(kc: Run) -> None:
    rows = [line.split() for line in kc("get", "ns", "--no-headers").stdout.splitlines()]

    assert [row[:2] for row in rows] == [
        ["default", "Active"],
        ["kube-public", "Active"],
        ["kube-system", "Active"],
    ]
    labels = get_json(kc, "ns", "default")["metadata"]["labels"]
    assert labels == {"kubernetes.io/metadata.name": "default"}


def test_get_vs_and_dr_lists_the_istio_objects(rolled_out: Run) -> None:
    listed = get_json(rolled_out, "vs,dr")["items"]
    plain = rolled_out("get", "vs").stdout

    assert [(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in listed] == [
        ("networking.istio.io/v1", "VirtualService", "link-manager"),  # the preferred version
        ("networking.istio.io/v1", "DestinationRule", "link-manager"),
    ]
    assert listed[0]["spec"]["http"][0]["route"][0]["weight"] == 100
    assert "link-manager" in plain


def test_describe_deployment_shows_conditions_new_replica_set_and_events(rolled_out: Run) -> None:
    [rs] = images(rolled_out)

    text = rolled_out("describe", "deployment", "link-manager").stdout

    assert "Replicas:               4 desired | 4 updated | 4 total | 4 available" in text
    assert "Available      True    MinimumReplicasAvailable" in text
    assert "Progressing    True    NewReplicaSetAvailable" in text
    assert f"NewReplicaSet:   {rs} (4/4 replicas created)" in text
    assert "Events:" in text and "ScalingReplicaSet" in text
    assert f"Scaled up replica set {rs} from 0 to 4" in text
    # probe defaults a real API server fills in
    assert (
        "http-get http://:http/healthz delay=0s timeout=1s period=2s #success=1 #failure=3" in text
    )


def test_describe_pod_reads_like_a_scheduled_running_pod(rolled_out: Run) -> None:
    text = rolled_out("describe", "pods", "-l", "app=link-manager").stdout

    assert text.count("Status:           Running") == 4
    assert "Node:             sandbox-control-plane/172.18.0.2" in text
    assert "Service Account:  default" in text
    assert "Port:           8080/TCP" in text
    assert "QoS Class:                    Burstable" in text
    assert "node.kubernetes.io/not-ready:NoExecute op=Exists for 300s" in text
    for reason in ("Scheduled", "Pulled", "Created", "Started"):
        assert f"  Normal  {reason}" in text


def test_set_image_then_rollout_status_completes(rolled_out: Run) -> None:
    updated = rolled_out("set", "image", DEPLOY, f"link-manager={V2}")

    status = rolled_out("rollout", "status", DEPLOY, "--timeout=10s")

    assert updated.stdout.strip() == "deployment.apps/link-manager image updated"
    assert status.returncode == 0
    assert status.stdout.strip().endswith('deployment "link-manager" successfully rolled out')
    assert sorted(images(rolled_out).values()) == [(0, V1), (4, V2)]


def test_rollout_undo_goes_back_to_the_previous_image_reusing_its_replica_set(
    rolled_out: Run,
) -> None:
    [v1_rs] = images(rolled_out)
    v1_uid = get_json(rolled_out, "rs", v1_rs)["metadata"]["uid"]
    rolled_out("set", "image", DEPLOY, f"link-manager={V2}")
    rolled_out("rollout", "status", DEPLOY, "--timeout=10s")

    undone = rolled_out("rollout", "undo", DEPLOY)
    rolled_out("rollout", "status", DEPLOY, "--timeout=10s")

    assert undone.stdout.strip() == "deployment.apps/link-manager rolled back"
    reused = get_json(rolled_out, "rs", v1_rs)
    assert reused["metadata"]["uid"] == v1_uid
    assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert sorted(images(rolled_out).values()) == [(0, V2), (4, V1)]
    deploy = get_json(rolled_out, DEPLOY)
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == V1


def test_rollout_history_lists_revisions_and_shows_one_template(rolled_out: Run) -> None:
    rolled_out("set", "image", DEPLOY, f"link-manager={V2}")
    rolled_out("rollout", "status", DEPLOY, "--timeout=10s")

    history = rolled_out("rollout", "history", DEPLOY).stdout.splitlines()
    first = rolled_out("rollout", "history", DEPLOY, "--revision=1").stdout

    assert history[1].split() == ["REVISION", "CHANGE-CAUSE"]
    assert [line.split()[0] for line in history[2:] if line.strip()] == ["1", "2"]
    assert "deployment.apps/link-manager with revision #1" in first
    assert V1 in first and V2 not in first


def test_paused_rollout_waits_for_resume(rolled_out: Run, sandbox: Sandbox) -> None:
    paused = rolled_out("rollout", "pause", DEPLOY)
    rolled_out("set", "image", DEPLOY, f"link-manager={V2}")
    assert sandbox.manager.wait_idle()
    while_paused = images(rolled_out)
    again = rolled_out("rollout", "pause", DEPLOY, check=False)

    resumed = rolled_out("rollout", "resume", DEPLOY)
    rolled_out("rollout", "status", DEPLOY, "--timeout=10s")

    assert paused.stdout.strip() == "deployment.apps/link-manager paused"
    assert list(while_paused.values()) == [(4, V1)]  # no new ReplicaSet while paused
    assert again.returncode == 1 and "already paused" in again.stderr
    assert resumed.stdout.strip() == "deployment.apps/link-manager resumed"
    assert sorted(images(rolled_out).values()) == [(0, V1), (4, V2)]


def test_scale_changes_the_replica_count_and_the_pods_follow(rolled_out: Run) -> None:
    scaled = rolled_out("scale", DEPLOY, "--replicas=6")
    rolled_out("rollout", "status", DEPLOY, "--timeout=10s")

    objects = by_kind(get_json(rolled_out, "deploy,po,ep")["items"])

    assert scaled.stdout.strip() == "deployment.apps/link-manager scaled"
    assert objects["Deployment"][0]["status"]["readyReplicas"] == 6
    assert len(objects["Pod"]) == 6
    assert len(objects["Endpoints"][0]["subsets"][0]["addresses"]) == 6


def test_delete_garbage_collects_replica_sets_and_pods(rolled_out: Run, sandbox: Sandbox) -> None:
    rolled_out("set", "image", DEPLOY, f"link-manager={V2}")
    rolled_out("rollout", "status", DEPLOY, "--timeout=10s")

    deleted = rolled_out("delete", "-f", MANIFEST)
    assert sandbox.manager.wait_idle()

    assert 'deployment.apps "link-manager" deleted' in deleted.stdout
    assert get_json(rolled_out, "deploy,rs,po,svc,ep,vs,dr")["items"] == []
    gone = rolled_out("get", DEPLOY, check=False)
    assert gone.returncode == 1 and "NotFound" in gone.stderr


def test_foreground_delete_returns_after_the_dependents_are_gone(rolled_out: Run) -> None:
    rolled_out("delete", DEPLOY, "--cascade=foreground")

    assert get_json(rolled_out, "rs,po")["items"] == []


def test_apply_twice_is_created_then_unchanged_then_configured(kc: Run, tmp_path: Path) -> None:
    first = kc("apply", "-f", MANIFEST).stdout.splitlines()
    second = kc("apply", "-f", MANIFEST).stdout.splitlines()
    changed = tmp_path / "link-manager.yaml"
    changed.write_text(Path(MANIFEST).read_text().replace("replicas: 4", "replicas: 2"))
    third = kc("apply", "-f", str(changed)).stdout.splitlines()
    kc("rollout", "status", DEPLOY, "--timeout=10s")

    assert first[0] == "deployment.apps/link-manager created"
    assert all(line.endswith(" unchanged") for line in second) and len(second) == 4
    assert third[0] == "deployment.apps/link-manager configured"
    assert all(line.endswith(" unchanged") for line in third[1:])
    deploy = get_json(kc, DEPLOY)
    assert deploy["status"]["readyReplicas"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in deploy["metadata"]["annotations"]


def test_create_dry_run_server_returns_the_defaulted_object_and_stores_nothing(kc: Run) -> None:
    dry = documents(kc("create", "-f", MANIFEST, "--dry-run=server", "-o", "json").stdout)

    assert [d["kind"] for d in dry] == [
        "Deployment",
        "Service",
        "VirtualService",
        "DestinationRule",
    ]
    deployment = dry[0]
    assert deployment["metadata"]["uid"]
    assert deployment["spec"]["progressDeadlineSeconds"] == 600  # defaulted by the server
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": "25%",
        "maxUnavailable": "25%",
    }
    assert get_json(kc, "deploy,svc,vs,dr")["items"] == []


def test_rollout_status_fails_when_the_progress_deadline_passes(kc: Run) -> None:
    body = make_deployment("stuck", replicas=2, image="app:never-ready", progressDeadlineSeconds=2)
    kc("create", "-f", "-", stdin=json.dumps(body))

    status = kc("rollout", "status", "deployment/stuck", "--timeout=10s", check=False)

    assert status.returncode == 1
    assert 'deployment "stuck" exceeded its progress deadline' in status.stderr


def test_wait_for_condition_available(rolled_out: Run) -> None:
    waited = rolled_out("wait", "--for=condition=Available", DEPLOY, "--timeout=10s")

    assert waited.stdout.strip() == "deployment.apps/link-manager condition met"
