"""The rollout record of a long analysis still fits on the Deployment: the sandbox, like
kube-apiserver, refuses annotations over 256 KiB together."""

from __future__ import annotations

import pytest
from kubernetes import client

from rollout import errors, kube, record_size, state
from rollout.spec import ObjectRef
from tests.record_builders import record_with
from tests.sandbox.cli_runs import APP


def test_an_hour_of_analysis_per_step_is_saved_trimmed_where_the_whole_is_refused(
    app: str, cluster: kube.Cluster, api_client: client.ApiClient
) -> None:
    record = record_with(steps=10, per_check=360)
    ref = ObjectRef(app, APP)
    whole = record_size.dumps([s.measurements for s in record.steps])
    with pytest.raises(errors.Invalid):  # what saving every measurement would meet
        cluster.patch(kube.Resource.DEPLOYMENT, ref, {"metadata": {"annotations": {
            state.ANNOTATION: whole}}})  # fmt: skip

    cluster.patch(kube.Resource.DEPLOYMENT, ref, {"metadata": {"annotations": {
        state.ANNOTATION: record.to_annotation()}}})  # fmt: skip

    read = client.AppsV1Api(api_client).read_namespaced_deployment(APP, app)
    back = state.read_record(client.ApiClient().sanitize_for_serialization(read))
    assert back is not None and sum(s.trimmed for s in back.steps) > 0
    assert all(len(s.measurements) >= 2 * record_size.KEEP for s in back.steps)
