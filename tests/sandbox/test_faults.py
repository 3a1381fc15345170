"""Fault injection and request accounting, seen through the real kubernetes client."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from rollout.sandbox import Sandbox
from rollout.sandbox.faults import RESET

GETS = 400
CI_AGENT = "rollout-ci/1.0"


def make_client(kubeconfig: Path, *, user_agent: str | None = None) -> client.ApiClient:
    """An ApiClient that never retries (urllib3 `retries=False`: not even on Retry-After)."""
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    cfg.retries = False
    api = client.ApiClient(cfg)
    if user_agent is not None:
        api.user_agent = user_agent
    return api


@pytest.fixture
def bare(kubeconfig: Path) -> Iterator[client.CoreV1Api]:
    """CoreV1Api on a client without retries."""
    api = make_client(kubeconfig)
    yield client.CoreV1Api(api)
    api.close()


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": data or {"k": "v"}}


def status_of(call: Callable[[], object]) -> int:
    """The HTTP status a client call ended with (200 when it returned)."""
    try:
        call()
    except ApiException as e:
        return int(e.status)
    return 200


def test_ten_percent_503s_on_gets_fail_about_a_tenth_of_a_client_without_retries(
    sandbox: Sandbox, bare: client.CoreV1Api, namespace: str
) -> None:
    bare.create_namespaced_config_map(namespace, config_map("cm"))
    sandbox.requests.clear()
    sandbox.faults.fail(0.1, 503, verbs={"get"})

    codes = Counter(
        status_of(lambda: bare.read_namespaced_config_map("cm", namespace)) for _ in range(GETS)
    )

    assert set(codes) == {200, 503}
    assert 0.05 * GETS <= codes[503] <= 0.15 * GETS
    assert sandbox.requests.count(verb="get") == GETS
    assert sandbox.requests.count(verb="get", code=503) == codes[503]


def test_a_reset_drops_the_connection_without_an_answer(
    sandbox: Sandbox, bare: client.CoreV1Api, namespace: str
) -> None:
    bare.create_namespaced_config_map(namespace, config_map("cm"))
    sandbox.requests.clear()
    sandbox.faults.reset(1.0, verbs={"get"}, resources={"configmaps"}, times=1)

    with pytest.raises(urllib3.exceptions.ProtocolError) as info:
        bare.read_namespaced_config_map("cm", namespace)

    assert isinstance(info.value.args[1], ConnectionResetError), info.value
    assert bare.read_namespaced_config_map("cm", namespace).metadata.name == "cm"  # once
    assert [c for _, c in sandbox.requests.entries] == [RESET, 200]


def test_request_counts_by_verb_are_exact_while_faults_fail_some_requests(
    sandbox: Sandbox, bare: client.CoreV1Api, namespace: str
) -> None:
    sandbox.requests.clear()
    sandbox.faults.fail(0.1, 503)
    sent: Counter[str] = Counter()
    failed = 0

    def call(verb: str, fn: Callable[[], object]) -> None:
        nonlocal failed
        sent[verb] += 1
        failed += status_of(fn) == 503

    names = [f"cm-{i}" for i in range(5)]
    for name in names:
        call("create", lambda n=name: bare.create_namespaced_config_map(namespace, config_map(n)))
        for i in range(3):
            call(
                "patch",
                lambda n=name, i=i: bare.patch_namespaced_config_map(
                    n, namespace, {"data": {"i": str(i)}}
                ),
            )
        for _ in range(4):
            call("get", lambda n=name: bare.read_namespaced_config_map(n, namespace))
    call("list", lambda: bare.list_namespaced_config_map(namespace))
    for name in names:
        call("delete", lambda n=name: bare.delete_namespaced_config_map(n, namespace))

    assert sandbox.requests.by_verb() == dict(sent)
    assert sandbox.requests.count(code=503) == failed > 0
    assert sandbox.requests.count(writes=True) == sent["create"] + sent["patch"] + sent["delete"]


def test_429_carries_retry_after_and_a_status_body(
    sandbox: Sandbox, bare: client.CoreV1Api, namespace: str
) -> None:
    bare.create_namespaced_config_map(namespace, config_map("cm"))
    sandbox.faults.fail(1.0, 429, verbs={"get"}, retry_after=7, times=1)

    with pytest.raises(ApiException) as raised:
        bare.read_namespaced_config_map("cm", namespace)

    assert raised.value.status == 429
    assert raised.value.headers["Retry-After"] == "7"
    body = json.loads(raised.value.body)
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "TooManyRequests", 429)
    assert bare.read_namespaced_config_map("cm", namespace).data == {"k": "v"}  # times=1


def test_fault_limited_to_one_resource_leaves_other_resources_alone(
    sandbox: Sandbox, bare: client.CoreV1Api, namespace: str
) -> None:
    sandbox.faults.fail(1.0, 500, resources={"configmaps"})

    assert status_of(lambda: bare.list_namespaced_config_map(namespace)) == 500
    assert status_of(lambda: bare.list_namespaced_secret(namespace)) == 200


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_injected_latency_delays_only_the_matching_verb(
    sandbox: Sandbox, bare: client.CoreV1Api, namespace: str
) -> None:
    bare.create_namespaced_config_map(namespace, config_map("cm"))
    sandbox.faults.delay(0.25, verbs={"list"})

    slow = timed(lambda: bare.list_namespaced_config_map(namespace))
    fast = timed(lambda: bare.read_namespaced_config_map("cm", namespace))

    assert slow >= 0.25
    assert fast < 0.25


def test_cut_watches_ends_a_watch_stream_early(
    sandbox: Sandbox, bare: client.CoreV1Api, namespace: str
) -> None:
    bare.create_namespaced_config_map(namespace, config_map("cm"))
    sandbox.faults.cut_watches(after=0.3)

    start = time.perf_counter()
    events = [
        e["type"]
        for e in watch.Watch().stream(
            bare.list_namespaced_config_map, namespace, timeout_seconds=30
        )
    ]
    elapsed = time.perf_counter() - start

    assert events == ["ADDED"]
    assert 0.3 <= elapsed < 5.0  # cut, not the 30 s timeout


def test_dry_run_writes_are_counted_but_never_persisted(
    sandbox: Sandbox, bare: client.CoreV1Api, namespace: str
) -> None:
    bare.create_namespaced_config_map(namespace, config_map("keep"))
    sandbox.requests.clear()

    bare.create_namespaced_config_map(namespace, config_map("ghost"), dry_run="All")
    bare.patch_namespaced_config_map("keep", namespace, {"data": {"k": "changed"}}, dry_run="All")
    bare.delete_namespaced_config_map("keep", namespace, dry_run="All")

    assert sandbox.requests.count(writes=True) == 3
    assert sandbox.requests.count(persisted=True) == 0
    assert status_of(lambda: bare.read_namespaced_config_map("ghost", namespace)) == 404
    assert bare.read_namespaced_config_map("keep", namespace).data == {"k": "v"}
    bare.patch_namespaced_config_map("keep", namespace, {"data": {"k": "changed"}})
    assert sandbox.requests.count(persisted=True) == 1


def test_user_agent_filter_counts_only_that_clients_requests(
    sandbox: Sandbox, bare: client.CoreV1Api, kubeconfig: Path, namespace: str
) -> None:
    ci_api = make_client(kubeconfig, user_agent=CI_AGENT)
    ci = client.CoreV1Api(ci_api)
    sandbox.requests.clear()
    try:
        for _ in range(3):
            ci.list_namespaced_config_map(namespace)
        for _ in range(2):
            bare.list_namespaced_config_map(namespace)
    finally:
        ci_api.close()

    assert sandbox.requests.count(user_agent=CI_AGENT) == 3
    assert sandbox.requests.count(user_agent="OpenAPI-Generator") == 2
    assert sandbox.requests.count(verb="list") == 5


def test_non_resource_requests_are_logged_with_their_path_as_the_resource(
    sandbox: Sandbox, kubeconfig: Path
) -> None:
    api = make_client(kubeconfig, user_agent=CI_AGENT)
    try:
        client.VersionApi(api).get_code()  # a client's preflight
        client.CoreApi(api).get_api_versions()
        assert status_of(lambda: api.call_api("/no/such/path", "GET")) == 404
        unknown = "/apis/apps/v1/namespaces/default/widgets"
        assert status_of(lambda: api.call_api(unknown, "GET")) == 404
    finally:
        api.close()

    log = sandbox.requests
    assert log.count(verb="get", resource="/version", user_agent=CI_AGENT, code=200) == 1
    assert log.count(verb="get", resource="/api", user_agent=CI_AGENT, code=200) == 1
    assert log.count(resource="/no/such/path", code=404) == 1
    assert log.count(resource=unknown, user_agent=CI_AGENT, code=404) == 1  # no kind: its path
    assert [req.resource for req, _ in log.entries][-4:] == [
        "/version", "/api", "/no/such/path", unknown,
    ]  # fmt: skip


def test_log_entries_carry_the_monotonic_time_they_were_recorded(
    sandbox: Sandbox, bare: client.CoreV1Api, namespace: str
) -> None:
    sandbox.requests.clear()
    before = time.monotonic()
    bare.create_namespaced_config_map(namespace, config_map("cm"))
    between = time.monotonic()
    bare.read_namespaced_config_map("cm", namespace)
    after = time.monotonic()

    created, read = sandbox.requests.entries
    assert [(req.verb, code) for req, code in (created, read)] == [("create", 201), ("get", 200)]
    assert before <= created.at <= between <= read.at <= after
