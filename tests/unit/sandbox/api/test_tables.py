"""Table columns and cells as upstream's printers format them (pure, no server)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from rollout.sandbox import kinds
from rollout.sandbox.api import cells, tables

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
Obj = dict[str, Any]


def _ago(seconds: int) -> str:
    return (NOW - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (50 * 3600, "2d2h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_matches_apimachinery(seconds: int, text: str) -> None:
    assert cells.human_duration(seconds) == text


def test_age_of_a_missing_timestamp_is_unknown() -> None:
    assert cells.since(None, NOW) == "<unknown>"
    assert cells.since(_ago(30), NOW) == "30s"


def _pod(status: Obj, **spec: Any) -> Obj:
    return {
        "metadata": {"name": "p", "creationTimestamp": _ago(60)},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], **spec},
        "status": status,
    }


def _running(ready: bool = True, restarts: int = 0) -> Obj:
    return {"ready": ready, "restartCount": restarts, "state": {"running": {}}}


@pytest.mark.parametrize(
    ("status", "ready", "shown"),
    [
        ({"phase": "Pending"}, "0/2", "Pending"),
        ({"phase": "Running", "containerStatuses": [_running(), _running()]}, "2/2", "Running"),
        (
            {"phase": "Running", "containerStatuses": [_running(), _running(ready=False)]},
            "1/2",
            "Running",
        ),
        (
            {
                "phase": "Running",
                "containerStatuses": [
                    _running(),
                    {"restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
                ],
            },
            "1/2",
            "CrashLoopBackOff",
        ),
        ({"phase": "Failed", "reason": "Evicted"}, "0/2", "Evicted"),
        (
            {
                "phase": "Running",
                "containerStatuses": [{"state": {"terminated": {"exitCode": 137, "reason": ""}}}],
            },
            "0/2",
            "ExitCode:137",
        ),
        (
            {"phase": "Pending", "initContainerStatuses": [{"state": {"running": {}}}]},
            "0/2",
            "Init:0/1",
        ),
        (
            {
                "phase": "Pending",
                "initContainerStatuses": [
                    {"state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
                ],
            },
            "0/2",
            "Init:Error",
        ),
    ],
)
def test_pod_status_column_follows_print_pod(status: Obj, ready: str, shown: str) -> None:
    spec = {"initContainers": [{"name": "init"}]} if "initContainerStatuses" in status else {}
    row = tables.row(kinds.BY_KEY["pods"], _pod(status, **spec), NOW)
    assert row[:3] == ["p", ready, shown]


def test_pod_being_deleted_shows_terminating_and_restarts_show_when() -> None:
    pod = _pod(
        {
            "phase": "Running",
            "containerStatuses": [
                _running(restarts=2) | {"lastState": {"terminated": {"finishedAt": _ago(300)}}},
                _running(),
            ],
        }
    )
    pod["metadata"]["deletionTimestamp"] = _ago(1)
    _, ready, status, restarts, age, *_ = tables.row(kinds.BY_KEY["pods"], pod, NOW)
    assert (ready, status, restarts, age) == ("2/2", "Terminating", "2 (5m ago)", "60s")


def test_pod_wide_columns_fall_back_to_none() -> None:
    row = tables.row(kinds.BY_KEY["pods"], _pod({"phase": "Pending"}), NOW)
    assert row[5:] == ["<none>", "<none>", "<none>", "<none>"]
    gated = _pod(
        {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "conditions": [{"type": "www.example.com/gate", "status": "True"}],
        },
        readinessGates=[{"conditionType": "www.example.com/gate"}],
        nodeName="n1",
    )
    assert tables.row(kinds.BY_KEY["pods"], gated, NOW)[5:] == ["10.0.0.1", "n1", "<none>", "1/1"]


def test_endpoints_show_three_addresses_then_how_many_more() -> None:
    ep = {
        "subsets": [
            {"addresses": [{"ip": f"10.0.0.{i}"} for i in range(5)], "ports": [{"port": 8080}]}
        ]
    }
    assert cells.endpoints_text(ep) == "10.0.0.0:8080,10.0.0.1:8080,10.0.0.2:8080 + 2 more..."
    assert cells.endpoints_text({"subsets": []}) == "<none>"
    assert cells.endpoints_text({"subsets": [{"addresses": [{"ip": "1.2.3.4"}]}]}) == "1.2.3.4"


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        (
            {
                "type": "ClusterIP",
                "clusterIP": "10.96.0.1",
                "ports": [{"port": 80, "protocol": "TCP"}],
                "selector": {"b": "2", "a": "1"},
            },
            {},
            ["ClusterIP", "10.96.0.1", "<none>", "80/TCP", "a=1,b=2"],
        ),
        (
            {
                "type": "NodePort",
                "clusterIPs": ["10.96.0.2"],
                "externalIPs": ["1.1.1.1"],
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
            },
            {},
            ["NodePort", "10.96.0.2", "1.1.1.1", "80:30080/TCP", "<none>"],
        ),
        (
            {"type": "LoadBalancer", "clusterIP": "None", "ports": []},
            {},
            ["LoadBalancer", "None", "<pending>", "<none>", "<none>"],
        ),
        (
            {"type": "LoadBalancer", "clusterIP": "10.96.0.3", "ports": [{"port": 443}]},
            {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}},
            ["LoadBalancer", "10.96.0.3", "lb.example.com", "443/TCP", "<none>"],
        ),
        (
            {"type": "ExternalName", "externalName": "db.example.com"},
            {},
            ["ExternalName", "<none>", "db.example.com", "<none>", "<none>"],
        ),
    ],
)
def test_service_cells_follow_print_service(spec: Obj, status: Obj, expected: list[str]) -> None:
    assert cells.service({"spec": spec, "status": status}) == expected


def test_event_rows_lead_with_last_seen_and_name_the_object() -> None:
    event = {
        "metadata": {"name": "e1"},
        "type": "Normal",
        "reason": "ScalingReplicaSet",
        "message": " Scaled up  ",
        "involvedObject": {"kind": "Deployment", "name": "web"},
        "firstTimestamp": _ago(600),
        "lastTimestamp": _ago(30),
        "count": 3,
        "source": {"component": "deployment-controller"},
    }
    assert tables.columns(kinds.BY_KEY["events"])[0]["name"] == "Last Seen"
    assert tables.row(kinds.BY_KEY["events"], event, NOW) == [
        "30s",
        "Normal",
        "ScalingReplicaSet",
        "deployment/web",
        "",
        "deployment-controller",
        "Scaled up",
        "10m",
        3,
        "e1",
    ]


def test_istio_kinds_use_their_crd_printer_columns() -> None:
    vs = {
        "metadata": {"name": "web", "creationTimestamp": _ago(5)},
        "spec": {"hosts": ["web", "web.example.com"], "gateways": ["mesh"]},
    }
    kind = kinds.BY_KEY["virtualservices.networking.istio.io"]
    assert [c["name"] for c in tables.columns(kind)] == ["Name", "Gateways", "Hosts", "Age"]
    assert tables.row(kind, vs, NOW) == ["web", '["mesh"]', '["web","web.example.com"]', "5s"]
    del vs["spec"]["gateways"]
    assert tables.row(kind, vs, NOW)[1] is None  # kubectl prints <none>


def test_default_table_is_name_and_age() -> None:
    kind = kinds.BY_KEY["horizontalpodautoscalers.autoscaling"]
    assert [c["name"] for c in tables.columns(kind)] == ["Name", "Age"]
    assert tables.row(kind, {"metadata": {"name": "h", "creationTimestamp": _ago(7)}}, NOW) == [
        "h",
        "7s",
    ]


def test_table_without_headers_omits_column_definitions() -> None:
    kind = kinds.BY_KEY["configmaps"]
    table = tables.table(
        kind,
        [{"metadata": {"name": "c"}, "data": {"a": "1"}}],
        resource_version="9",
        headers=False,
        now=NOW,
    )
    assert table["columnDefinitions"] is None
    assert table["rows"][0]["cells"] == ["c", 1, "<unknown>"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
