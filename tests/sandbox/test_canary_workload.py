"""CanaryWorkload against the sandbox: what its writes cost and what they refuse."""

from __future__ import annotations

import pytest
from kubernetes import client

from rollout import errors, kube
from rollout.sandbox import Sandbox
from rollout.spec import ObjectRef
from strategies import canary_workload as workload
from tests.factories import make_deployment
from tests.sandbox.cli_runs import APP, REPO, deployment


def test_a_canary_preflight_saw_absent_is_created_in_one_request(
    cluster: kube.Cluster, app: str, api_client: client.ApiClient, sandbox: Sandbox
) -> None:
    stable = deployment(api_client, app)
    canary = workload.CanaryWorkload(cluster, ObjectRef(app, APP))
    canary.preflight(stable)
    template = workload.canary_template(stable["spec"]["template"], {"app": f"{REPO}:v2"})
    sandbox.requests.clear()

    canary.ensure(template, replicas=1)

    assert [(r.verb, code) for r, code in sandbox.requests.entries] == [("create", 201)]
    assert workload.is_owned(deployment(api_client, app, f"{APP}-canary"), ObjectRef(app, APP))


def test_a_same_named_deployment_made_after_preflight_is_refused_and_left_alone(
    cluster: kube.Cluster, app: str, api_client: client.ApiClient
) -> None:
    stable = deployment(api_client, app)
    canary = workload.CanaryWorkload(cluster, ObjectRef(app, APP))
    canary.preflight(stable)  # none yet
    theirs = make_deployment(f"{APP}-canary", replicas=1, image=f"{REPO}:mine")
    client.AppsV1Api(api_client).create_namespaced_deployment(app, theirs)
    template = workload.canary_template(stable["spec"]["template"], {"app": f"{REPO}:v2"})

    with pytest.raises(errors.PreconditionError, match="not created by rollout"):
        canary.ensure(template, replicas=1)

    after = deployment(api_client, app, f"{APP}-canary")
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == f"{REPO}:mine"
