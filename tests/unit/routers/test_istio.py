"""Route and subset shapes of the Istio router: pure functions, no cluster."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.routers import istio_routes as shapes
from rollout.routers.base import ALL_STABLE, Weights
from rollout.spec import HeaderMatch

Obj = dict[str, Any]
NS = "shop"
HOST = "link-manager"
AT = {"service": HOST, "namespace": NS}
A_B = HeaderMatch("x-canary", "true")


def user_http() -> list[Obj]:
    """A user's routes: an admin route to another Service, a header route of theirs, and
    the catch-all for the host with fields of its own."""
    return [
        {"name": "admin", "match": [{"uri": {"prefix": "/admin"}}],
         "route": [{"destination": {"host": "admin"}}]},
        {"name": "beta-users", "match": [{"headers": {"x-beta": {"exact": "1"}}}],
         "route": [{"destination": {"host": "beta"}}]},
        {"name": "primary", "timeout": "5s", "retries": {"attempts": 3},
         "route": [{"destination": {"host": HOST, "port": {"number": 80}}, "weight": 100}]},
    ]  # fmt: skip


def primary() -> Obj:
    return user_http()[2]


# -- hosts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (HOST, True),
        (f"{HOST}.{NS}", True),
        (f"{HOST}.{NS}.svc", True),
        (f"{HOST}.{NS}.svc.cluster.local", True),
        (f"{HOST}.other.svc.cluster.local", False),
        (f"{HOST}-canary", False),
        (f"{HOST}.{NS}.example.com", False),
        ("admin", False),
    ],
)
def test_is_service_host_accepts_the_names_kubernetes_dns_gives_the_service(
    host: str, expected: bool
) -> None:
    assert shapes.is_service_host(host, **AT) is expected


def test_hosts_service_ignores_gateway_only_virtual_services() -> None:
    assert shapes.hosts_service({"hosts": [HOST]}, **AT)
    assert shapes.hosts_service({"hosts": [HOST], "gateways": ["mesh", "public"]}, **AT)
    assert not shapes.hosts_service({"hosts": [HOST], "gateways": ["public"]}, **AT)
    assert not shapes.hosts_service({"hosts": ["other"]}, **AT)


# -- finding the route ------------------------------------------------------------------------


def test_serving_route_is_the_catch_all_that_sends_to_the_host() -> None:
    assert shapes.serving_route(user_http(), **AT) == 2


def test_serving_route_prefers_the_first_catch_all() -> None:
    http = [*user_http(), {"name": "unreachable", "route": [{"destination": {"host": HOST}}]}]

    assert shapes.serving_route(http, **AT) == 2


def test_serving_route_takes_the_only_matching_route_when_there_is_no_catch_all() -> None:
    http = [{"match": [{"uri": {"prefix": "/api"}}], "route": [{"destination": {"host": HOST}}]}]

    assert shapes.serving_route(http, **AT) == 0


def test_serving_route_refuses_a_virtual_service_that_does_not_route_the_host() -> None:
    with pytest.raises(ValueError, match="no http route sends to host link-manager"):
        shapes.serving_route(user_http()[:2], **AT)


def test_serving_route_refuses_several_match_routes_without_a_catch_all() -> None:
    route = {"match": [{"uri": {"prefix": "/a"}}], "route": [{"destination": {"host": HOST}}]}

    with pytest.raises(ValueError, match="2 http routes"):
        shapes.serving_route([route, copy.deepcopy(route)], **AT)


def test_serving_route_finds_rollouts_route_once_converted() -> None:
    http = shapes.with_weights(user_http(), primary(), Weights(90, 10), **AT,
                               match_header=HeaderMatch("x-canary", "true"))  # fmt: skip

    index = shapes.serving_route(http, **AT)

    assert shapes.is_weighted(http[index])
    assert http[index]["name"] == "primary"


def test_check_route_refuses_a_route_that_already_splits_between_hosts() -> None:
    route = {"route": [{"destination": {"host": HOST}, "weight": 50},
                       {"destination": {"host": "legacy"}, "weight": 50}]}  # fmt: skip

    with pytest.raises(ValueError, match="splits traffic between link-manager, legacy"):
        shapes.check_route(route, **AT)
    shapes.check_route(primary(), **AT)  # one destination, the host: fine


# -- weights ---------------------------------------------------------------------------------


def test_with_weights_splits_only_the_serving_route_and_keeps_its_fields() -> None:
    before = user_http()

    after = shapes.with_weights(before, primary(), Weights(75, 25), **AT)

    assert after[:2] == user_http()[:2]  # the user's other routes, untouched
    route = after[2]
    assert {k: route[k] for k in ("name", "timeout", "retries")} == {
        "name": "primary", "timeout": "5s", "retries": {"attempts": 3}}  # fmt: skip
    assert route["route"] == [
        {"destination": {"host": HOST, "port": {"number": 80}, "subset": "stable"}, "weight": 75},
        {"destination": {"host": HOST, "port": {"number": 80}, "subset": "canary"}, "weight": 25},
    ]
    assert before == user_http()  # input not mutated


@pytest.mark.parametrize("canary", [0, 5, 50, 100])
def test_weights_read_back_as_set_and_always_sum_to_100(canary: int) -> None:
    http = shapes.with_weights(user_http(), primary(), Weights.canary_share(canary), **AT)

    got = shapes.weights_of(http, **AT)

    assert got == Weights(100 - canary, canary)
    assert sum(d["weight"] for d in http[2]["route"]) == 100


def test_weights_of_a_route_in_the_users_shape_is_all_stable() -> None:
    assert shapes.weights_of(user_http(), **AT) == ALL_STABLE


def test_with_weights_is_idempotent() -> None:
    once = shapes.with_weights(user_http(), primary(), Weights(50, 50), **AT,
                               match_header=A_B, mirror=20)  # fmt: skip

    twice = shapes.with_weights(once, primary(), Weights(50, 50), **AT,
                                match_header=A_B, mirror=20)  # fmt: skip

    assert twice == once


def test_header_match_routes_matching_requests_to_the_canary_just_before_the_split() -> None:
    http = shapes.with_weights(user_http(), primary(), Weights(90, 10), **AT,
                               match_header=HeaderMatch("x-canary", "true"))  # fmt: skip

    assert [r["name"] for r in http] == ["admin", "beta-users", shapes.HEADER_ROUTE, "primary"]
    header = http[2]
    assert header["match"] == [{"headers": {"x-canary": {"exact": "true"}}}]
    assert header["route"] == [{"destination": {"host": HOST, "port": {"number": 80},
                                                "subset": "canary"}, "weight": 100}]  # fmt: skip
    assert header["timeout"] == "5s"  # the user's route settings apply to it too


def test_header_match_keeps_the_users_match_conditions() -> None:
    original = {"match": [{"uri": {"prefix": "/api"}}, {"headers": {"x-team": {"exact": "a"}}}],
                "route": [{"destination": {"host": HOST}}]}  # fmt: skip

    route = shapes.header_route(original, HeaderMatch("x-canary", "true"))

    assert route["match"] == [
        {"uri": {"prefix": "/api"}, "headers": {"x-canary": {"exact": "true"}}},
        {"headers": {"x-team": {"exact": "a"}, "x-canary": {"exact": "true"}}},
    ]


def test_dropping_the_header_match_removes_the_header_route() -> None:
    header = HeaderMatch("x-canary", "true")
    with_header = shapes.with_weights(user_http(), primary(), Weights(90, 10), **AT,
                                      match_header=header)  # fmt: skip

    without = shapes.with_weights(with_header, primary(), ALL_STABLE, **AT)

    assert [r["name"] for r in without] == ["admin", "beta-users", "primary"]
    assert not shapes.has_extras(without)
    assert shapes.has_extras(with_header)


def test_mirror_copies_a_percentage_to_the_canary_subset() -> None:
    http = shapes.with_weights(user_http(), primary(), Weights(90, 10), **AT, mirror=30)

    route = http[2]
    assert route["mirror"] == {"host": HOST, "port": {"number": 80}, "subset": "canary"}
    assert route["mirrorPercentage"] == {"value": 30.0}
    assert "mirror" not in shapes.with_weights(http, primary(), Weights(90, 10), **AT)[2]


def test_restored_puts_back_exactly_the_users_routes() -> None:
    changed = shapes.with_weights(user_http(), primary(), Weights(50, 50), **AT,
                                  match_header=A_B, mirror=10)  # fmt: skip

    assert shapes.restored(changed, primary()) == user_http()
    assert shapes.restored(user_http(), primary()) == user_http()  # idempotent


def test_restored_keeps_routes_the_user_changed_meanwhile() -> None:
    changed = shapes.with_weights(user_http(), primary(), Weights(50, 50), **AT)
    changed[0]["route"][0]["destination"]["host"] = "admin-v2"

    back = shapes.restored(changed, primary())

    assert back[0]["route"][0]["destination"]["host"] == "admin-v2"
    assert back[2] == primary()


# -- subsets ---------------------------------------------------------------------------------

STABLE = {"app": HOST, "pod-template-hash": "abc12"}
CANARY = {"app": HOST, "rollout.dev/canary": "true"}


def test_with_subsets_adds_stable_and_canary_after_the_users_subsets() -> None:
    users = [{"name": "v1", "labels": {"version": "v1"}, "trafficPolicy": {"tls": {}}}]

    subsets = shapes.with_subsets(users, stable=STABLE, canary=CANARY)

    assert subsets == [*users, {"name": "stable", "labels": STABLE},
                       {"name": "canary", "labels": CANARY}]  # fmt: skip


def test_with_subsets_updates_in_place_and_is_idempotent() -> None:
    first = shapes.with_subsets(None, stable=STABLE, canary=CANARY)
    moved = {**STABLE, "pod-template-hash": "def34"}

    second = shapes.with_subsets(first, stable=moved, canary=CANARY)

    assert [s["name"] for s in second] == ["stable", "canary"]
    assert second[0]["labels"] == moved
    assert shapes.with_subsets(second, stable=moved, canary=CANARY) == second


@pytest.mark.parametrize("original", [None, [], [{"name": "v1", "labels": {"version": "v1"}}]])
def test_restored_subsets_give_back_the_users_subsets_and_keep_the_rest(
    original: list[Obj] | None,
) -> None:
    spec = {"host": HOST, "trafficPolicy": {"connectionPool": {"http": {"x": 1}}}}
    if original is not None:
        spec["subsets"] = copy.deepcopy(original)
    changed = {**spec, "subsets": shapes.with_subsets(original, stable=STABLE, canary=CANARY)}

    back = shapes.restored_subsets(changed, original)

    assert back == spec


def test_taken_subsets_names_the_users_stable_or_canary() -> None:
    assert shapes.taken_subsets([{"name": "v1"}, {"name": "canary"}]) == ["canary"]
    assert shapes.taken_subsets(None) == []
