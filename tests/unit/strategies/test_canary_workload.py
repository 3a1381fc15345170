"""canary_workload's pure parts: the canary Deployment it builds, ownership, and the share
of a Service's ready endpoints."""

from __future__ import annotations

import re
from typing import Any, cast

from rollout import deployments, kube
from rollout.spec import ObjectRef
from strategies import canary_workload as cw
from tests.factories import make_deployment

WEB = ObjectRef("shop", "web")


def _stable() -> dict[str, Any]:
    d = make_deployment(
        "web",
        replicas=4,
        image="app:v1",
        namespace="shop",
        minReadySeconds=3,
        progressDeadlineSeconds=60,
    )
    d["metadata"].update(
        uid="u-1",
        labels={"app": "web", "app.kubernetes.io/instance": "shop"},
        annotations={"argocd.argoproj.io/tracking-id": "x"},
    )
    return d


def _endpoints(*ready: str, not_ready: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "subsets": [
            {
                "addresses": [{"ip": "10.0.0.1", "targetRef": {"name": n}} for n in ready],
                "notReadyAddresses": [
                    {"ip": "10.0.0.2", "targetRef": {"name": n}} for n in not_ready
                ],
            }
        ]
    }


def test_canary_template_has_new_images_and_the_canary_label_beside_stable_labels() -> None:
    template = cw.canary_template(_stable()["spec"]["template"], {"app": "app:v2"})

    assert template["metadata"]["labels"] == {"app": "web", cw.CANARY_LABEL: "true"}
    assert template["spec"]["containers"][0]["image"] == "app:v2"
    assert _stable()["spec"]["template"]["metadata"]["labels"] == {"app": "web"}  # a copy


def test_canary_manifest_selects_only_canary_pods_and_is_marked_as_ours() -> None:
    stable = _stable()
    template = cw.canary_template(stable["spec"]["template"], {"app": "app:v2"})

    body = cw.canary_manifest(stable, template, replicas=2)

    meta = body["metadata"]
    assert meta["name"] == "web-canary" and meta["namespace"] == "shop"
    assert body["spec"]["selector"] == {"matchLabels": {"app": "web", cw.CANARY_LABEL: "true"}}
    assert body["spec"]["replicas"] == 2
    assert body["spec"]["minReadySeconds"] == 3 and body["spec"]["progressDeadlineSeconds"] == 60
    assert cw.is_owned(body, WEB)
    assert "app.kubernetes.io/instance" not in meta["labels"]  # GitOps labels stay on stable
    assert "argocd.argoproj.io/tracking-id" not in meta["annotations"]
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "uid": "u-1",
            "controller": False,
            "blockOwnerDeletion": False,
        }
    ]
    assert stable["spec"]["selector"] == {"matchLabels": {"app": "web"}}  # not mutated


def test_ownership_needs_both_the_label_and_the_owner_annotation() -> None:
    body = cw.canary_manifest(_stable(), _stable()["spec"]["template"], replicas=1)
    assert cw.is_owned(body, WEB)
    assert not cw.is_owned(body, ObjectRef("shop", "other"))
    del body["metadata"]["annotations"][cw.OWNER_ANNOTATION]
    assert not cw.is_owned(body, WEB)
    assert not cw.is_owned(make_deployment("web-canary"), WEB)


def test_share_counts_ready_addresses_by_pod_name_prefix() -> None:
    ep = _endpoints(
        "web-canary-5d8f-abcde",
        "web-7c9b-aaaaa",
        "web-7c9b-bbbbb",
        not_ready=("web-canary-5d8f-zzzzz",),
    )

    share = cw.share_of(ep, ("web-canary-",))

    assert (share.new, share.old, share.total) == (1, 2, 3)
    assert share.percent is not None and round(share.percent, 1) == 33.3
    assert str(share) == "1 new of 3 ready endpoints (33.3%)"
    assert cw.share_of(ep, ("web-canary-", "web-7c9b-")).old == 0
    assert cw.share_of(None, ("web-canary-",)) == cw.Share(0, 0)
    assert cw.Share(0, 0).percent is None


def test_service_selector_matching() -> None:
    assert deployments.selects({"app": "web"}, {"app": "web", cw.CANARY_LABEL: "true"})
    assert not deployments.selects({"app": "web", "tier": "x"}, {"app": "web"})
    assert not deployments.selects({}, {"app": "web"})  # no selector: user-managed endpoints


def test_replicas_for_weight_rounds_up_and_is_never_zero() -> None:
    assert cw.replicas_for_weight(4, 10) == 1
    assert cw.replicas_for_weight(10, 10) == 1
    assert cw.replicas_for_weight(10, 25) == 3
    assert cw.replicas_for_weight(4, 100) == 4


def test_pod_regexes_name_only_their_side() -> None:
    no_cluster = cast(kube.Cluster, None)  # naming pods makes no request
    v = cw.CanaryWorkload(no_cluster, WEB).variables(service="web", stable_replicaset="web-7c9b")

    assert v.canary == "web-canary" and v.stable == "web"
    assert re.fullmatch(v.canary_pods, "web-canary-5d8f7-abcde")
    assert not re.fullmatch(v.canary_pods, "web-7c9b-abcde")
    assert re.fullmatch(v.stable_pods, "web-7c9b-abcde")
    assert not re.fullmatch(v.stable_pods, "web-canary-5d8f7-abcde")
