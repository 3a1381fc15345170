"""Strategic-merge directives over HTTP, shaped as `kubectl apply` sends them:
`$retainKeys`, `$patch: delete` and `$setElementOrder/<list>`, sent through the official
client's `patch_namespaced_deployment` and by the real kubectl; the stored object is
checked."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.factories import make_deployment
from tests.sandbox.conftest import Kubectl

Obj = dict[str, Any]
ORDER = "$setElementOrder"


def _template_spec(patch: Obj) -> Obj:
    return {"spec": {"template": {"spec": patch}}}


def _stored(apps: client.AppsV1Api, namespace: str, name: str = "web") -> Obj:
    resp = apps.read_namespaced_deployment(name, namespace, _preload_content=False)
    return json.loads(resp.data)  # type: ignore[no-any-return]


def _containers(obj: Obj) -> list[Obj]:
    return obj["spec"]["template"]["spec"]["containers"]  # type: ignore[no-any-return]


def _env(obj: Obj, container: str = "app") -> list[tuple[str, str]]:
    [c] = [c for c in _containers(obj) if c["name"] == container]
    return [(e["name"], e["value"]) for e in c.get("env", [])]


@pytest.fixture
def web(apps: client.AppsV1Api, namespace: str) -> Obj:
    """Deployment `web`: containers app (env A, C) and sidecar, an emptyDir volume, and
    the server-defaulted RollingUpdate strategy."""
    body = make_deployment(replicas=1, sidecar="proxy:1.0")
    spec = body["spec"]["template"]["spec"]
    spec["containers"][0]["env"] = [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]
    spec["volumes"] = [{"name": "data", "emptyDir": {}}]
    apps.create_namespaced_deployment(namespace, body)
    return _stored(apps, namespace)


def test_retain_keys_clears_the_defaulted_rolling_update_when_switching_to_recreate(
    apps: client.AppsV1Api, namespace: str, web: Obj
) -> None:
    assert web["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}

    apps.patch_namespaced_deployment("web", namespace, patch)

    assert _stored(apps, namespace)["spec"]["strategy"] == {"type": "Recreate"}


def test_without_retain_keys_recreate_beside_rolling_update_is_invalid(
    apps: client.AppsV1Api, namespace: str, web: Obj
) -> None:
    """The contrast that makes the test above mean something: a plain merge keeps the
    defaulted rollingUpdate, which Recreate does not allow."""
    with pytest.raises(client.ApiException) as err:
        apps.patch_namespaced_deployment(
            "web", namespace, {"spec": {"strategy": {"type": "Recreate"}}}
        )
    assert err.value.status == 422
    assert "rollingUpdate" in err.value.body
    assert _stored(apps, namespace)["spec"]["strategy"]["type"] == "RollingUpdate"


def test_retain_keys_in_a_list_item_swaps_the_volume_source(
    apps: client.AppsV1Api, namespace: str, web: Obj
) -> None:
    volume = {"$retainKeys": ["configMap", "name"], "configMap": {"name": "cfg"}, "name": "data"}
    patch = _template_spec({f"{ORDER}/volumes": [{"name": "data"}], "volumes": [volume]})

    apps.patch_namespaced_deployment("web", namespace, patch)

    [stored] = _stored(apps, namespace)["spec"]["template"]["spec"]["volumes"]
    assert stored["name"] == "data" and stored["configMap"]["name"] == "cfg"
    assert "emptyDir" not in stored


def test_patch_delete_removes_one_container_by_its_merge_key(
    apps: client.AppsV1Api, namespace: str, web: Obj
) -> None:
    patch = _template_spec(
        {
            f"{ORDER}/containers": [{"name": "app"}],
            "containers": [{"$patch": "delete", "name": "sidecar"}],
        }
    )

    apps.patch_namespaced_deployment("web", namespace, patch)

    stored = _stored(apps, namespace)
    assert [(c["name"], c["image"]) for c in _containers(stored)] == [("app", "app:v1")]
    assert _env(stored) == [("A", "1"), ("C", "3")]  # the kept container is untouched
    assert stored["metadata"]["generation"] == web["metadata"]["generation"] + 1


def test_patch_delete_on_a_map_empties_it(apps: client.AppsV1Api, namespace: str) -> None:
    body = make_deployment(replicas=1)
    body["spec"]["template"]["metadata"]["annotations"] = {"a": "1", "b": "2"}
    apps.create_namespaced_deployment(namespace, body)
    patch = {"spec": {"template": {"metadata": {"annotations": {"$patch": "delete"}}}}}

    apps.patch_namespaced_deployment("web", namespace, patch)

    template_meta = _stored(apps, namespace)["spec"]["template"]["metadata"]
    assert not template_meta.get("annotations")
    assert template_meta["labels"] == {"app": "web"}


def test_set_element_order_alone_reorders_a_merge_list(
    apps: client.AppsV1Api, namespace: str, web: Obj
) -> None:
    patch = _template_spec({f"{ORDER}/containers": [{"name": "sidecar"}, {"name": "app"}]})

    apps.patch_namespaced_deployment("web", namespace, patch)

    stored = _stored(apps, namespace)
    assert [c["name"] for c in _containers(stored)] == ["sidecar", "app"]
    assert _containers(stored)[1]["ports"][0]["containerPort"] == 8080  # items kept whole


def test_set_element_order_places_an_added_item_where_the_manifest_has_it(
    apps: client.AppsV1Api, namespace: str, web: Obj
) -> None:
    app = {
        f"{ORDER}/env": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
        "env": [{"name": "B", "value": "2"}],
        "name": "app",
    }
    ordered = _template_spec(
        {f"{ORDER}/containers": [{"name": "app"}, {"name": "sidecar"}], "containers": [app]}
    )

    apps.patch_namespaced_deployment("web", namespace, ordered)

    assert _env(_stored(apps, namespace)) == [("A", "1"), ("B", "2"), ("C", "3")]


def test_without_set_element_order_an_added_item_goes_first(
    apps: client.AppsV1Api, namespace: str, web: Obj
) -> None:
    """apimachinery's order for a merge list patched without the directive (the contrast
    for the test above)."""
    app = {"env": [{"name": "B", "value": "2"}], "name": "app"}

    apps.patch_namespaced_deployment("web", namespace, _template_spec({"containers": [app]}))

    assert _env(_stored(apps, namespace)) == [("B", "2"), ("A", "1"), ("C", "3")]


# -- the real kubectl apply, which computes these directives itself ---------------------------


def _manifest(path: Path, *, sidecar: bool, env: list[str], strategy: Obj | None) -> str:
    body = make_deployment(replicas=1, sidecar="proxy:1.0" if sidecar else None, strategy=strategy)
    values = {"A": "1", "B": "2", "C": "3"}
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": n, "value": values[n]} for n in env
    ]
    path.write_text(json.dumps(body))
    return str(path)


def _request_bodies(log: str) -> list[Obj]:
    """The non-empty request bodies in kubectl's -v=8 log (`"Request Body" body="<json>"`)."""
    quoted = re.findall(r'"Request Body" body=(".*")$', log, re.MULTILINE)
    return [json.loads(text) for text in map(json.loads, quoted) if text]


def test_kubectl_apply_sends_the_directives_and_the_stored_object_matches_the_manifest(
    kubectl: Kubectl, apps: client.AppsV1Api, tmp_path: Path
) -> None:
    first = _manifest(tmp_path / "v1.json", sidecar=True, env=["A", "C"], strategy=None)
    second = _manifest(
        tmp_path / "v2.json", sidecar=False, env=["A", "B", "C"], strategy={"type": "Recreate"}
    )
    cache = f"--cache-dir={tmp_path / 'cache'}"
    kubectl(cache, "apply", "-f", first)

    applied = kubectl(cache, "apply", "-f", second, "-v=8")  # -v=8 logs request bodies

    assert applied.stdout.strip() == "deployment.apps/web configured"
    [sent] = _request_bodies(applied.stderr)
    strategy, template = sent["spec"]["strategy"], sent["spec"]["template"]["spec"]
    assert strategy == {"$retainKeys": ["type"], "type": "Recreate"}
    assert template[f"{ORDER}/containers"] == [{"name": "app"}]
    app, deleted = template["containers"]
    assert app[f"{ORDER}/env"] == [{"name": "A"}, {"name": "B"}, {"name": "C"}]
    assert deleted == {"$patch": "delete", "name": "sidecar"}
    stored = _stored(apps, "default")
    assert stored["spec"]["strategy"] == {"type": "Recreate"}
    assert [c["name"] for c in _containers(stored)] == ["app"]
    assert _env(stored) == [("A", "1"), ("B", "2"), ("C", "3")]
