"""Pure shape changes of Istio VirtualService routes and DestinationRule subsets.

Which http route serves a Service's host, that route with stable/canary weights (plus a
header-match route and a mirror), the user's route put back, subsets added and removed.
Functions over raw JSON that return new values: no I/O, inputs never mutated.
Problems a user must fix raise ValueError with the reason; the router names the object.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from rollout.routers.base import ALL_STABLE, Weights
from rollout.spec import HeaderMatch

Route = dict[str, Any]  # one entry of VirtualService spec.http
Subset = dict[str, Any]  # one entry of DestinationRule spec.subsets

STABLE = "stable"
CANARY = "canary"
HEADER_ROUTE = "rollout-canary-header"  # the header-match route rollout inserts
_MIRROR_FIELDS = ("mirror", "mirrorPercentage", "mirror_percent")


# -- hosts ------------------------------------------------------------------------------


def is_service_host(host: str, *, service: str, namespace: str) -> bool:
    """`host` names the Service: `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<domain>`."""
    parts = str(host).split(".")
    if parts[0] != service:
        return False
    if len(parts) == 1:
        return True
    return parts[1] == namespace and (len(parts) == 2 or parts[2] == "svc")


def hosts_service(spec: Mapping[str, Any], *, service: str, namespace: str) -> bool:
    """A VirtualService (spec) for in-mesh traffic whose `hosts` name the Service."""
    gateways = spec.get("gateways") or ["mesh"]
    return "mesh" in gateways and any(
        is_service_host(h, service=service, namespace=namespace) for h in spec.get("hosts") or []
    )


def _destinations(route: Route) -> list[dict[str, Any]]:
    return [d for d in route.get("route") or [] if isinstance(d, dict)]


def _sends_to(route: Route, *, service: str, namespace: str) -> bool:
    return any(
        is_service_host(
            (d.get("destination") or {}).get("host", ""), service=service, namespace=namespace
        )
        for d in _destinations(route)
    )


# -- finding the route ------------------------------------------------------------------


def is_weighted(route: Route) -> bool:
    """The route is in rollout's shape: one stable and one canary destination."""
    subsets = [(d.get("destination") or {}).get("subset") for d in _destinations(route)]
    return subsets == [STABLE, CANARY]


def serving_route(http: Sequence[Route], *, service: str, namespace: str) -> int:
    """Index of the one http route that serves the host.

    rollout's weighted route if there is one; else the first route without `match` that
    sends to the host (Istio never reaches the routes after it); else the only route that
    sends to the host. ValueError when there is none or the choice is ambiguous.
    """
    ours = [i for i, r in enumerate(http) if r.get("name") != HEADER_ROUTE and is_weighted(r)]
    if ours:
        return ours[0]
    candidates = [
        i for i, r in enumerate(http) if _sends_to(r, service=service, namespace=namespace)
    ]
    if not candidates:
        return _fail(f"no http route sends to host {service}")
    catch_all = [i for i in candidates if not http[i].get("match")]
    if catch_all:
        return catch_all[0]
    if len(candidates) > 1:
        return _fail(
            f"{len(candidates)} http routes with match conditions send to host "
            f"{service} and none is a catch-all"
        )
    return candidates[0]


def check_route(route: Route, *, service: str, namespace: str) -> None:
    """ValueError unless the route has exactly one destination, the Service's host."""
    dests = _destinations(route)
    if len(dests) != 1 or not _sends_to(route, service=service, namespace=namespace):
        hosts = ", ".join(str((d.get("destination") or {}).get("host")) for d in dests)
        _fail(
            f"route {route.get('name', '(unnamed)')} splits traffic between {hosts}; "
            f"rollout needs it to have one destination, host {service}"
        )


def _fail(reason: str) -> int:
    raise ValueError(reason)


# -- weights ----------------------------------------------------------------------------


def weighted(original: Route, weights: Weights, *, mirror: int = 0) -> Route:
    """The user's route sending `weights` to subsets stable/canary (all else kept)."""
    route = _without_mirror(original)
    entry = _destinations(original)[0]
    route["route"] = [
        _to_subset(entry, STABLE, weights.stable),
        _to_subset(entry, CANARY, weights.canary),
    ]
    if mirror:
        route["mirror"] = {**entry["destination"], "subset": CANARY}
        route["mirrorPercentage"] = {"value": float(mirror)}
    return route


def header_route(original: Route, match: HeaderMatch) -> Route:
    """Requests of the user's route that carry the header go to the canary."""
    route = _without_mirror(original)
    route["name"] = HEADER_ROUTE
    condition = {match.name: {"exact": match.value}}
    route["match"] = [
        {**m, "headers": {**(m.get("headers") or {}), **condition}}
        for m in original.get("match") or [{}]
    ]
    route["route"] = [_to_subset(_destinations(original)[0], CANARY, 100)]
    return route


def with_weights(
    http: Sequence[Route],
    original: Route,
    weights: Weights,
    *,
    service: str,
    namespace: str,
    match_header: HeaderMatch | None = None,
    mirror: int = 0,
) -> list[Route]:
    """`http` with the serving route split `weights` (header route just before it)."""
    out = [copy.deepcopy(r) for r in http if r.get("name") != HEADER_ROUTE]
    index = serving_route(out, service=service, namespace=namespace)
    out[index] = weighted(original, weights, mirror=mirror)
    if match_header is not None:
        out.insert(index, header_route(original, match_header))
    return out


def weights_of(http: Sequence[Route], *, service: str, namespace: str) -> Weights:
    """The serving route's split (100/0 while it is in the user's shape)."""
    route = http[serving_route(http, service=service, namespace=namespace)]
    if not is_weighted(route):
        return ALL_STABLE
    stable, canary = (int(d.get("weight", 0)) for d in _destinations(route))
    return Weights(stable, canary)


def has_extras(http: Sequence[Route]) -> bool:
    """A header route or a mirror to the canary is in place."""
    return any(r.get("name") == HEADER_ROUTE or (is_weighted(r) and "mirror" in r) for r in http)


def restored(http: Sequence[Route], original: Route) -> list[Route]:
    """`http` with the user's route back in place of rollout's (other routes as they are)."""
    out = [copy.deepcopy(r) for r in http if r.get("name") != HEADER_ROUTE]
    return [copy.deepcopy(original) if is_weighted(r) else r for r in out]


def _without_mirror(route: Route) -> Route:
    return {k: copy.deepcopy(v) for k, v in route.items() if k not in _MIRROR_FIELDS}


def _to_subset(entry: dict[str, Any], subset: str, weight: int) -> dict[str, Any]:
    out = copy.deepcopy(entry)
    out["destination"] = {**entry["destination"], "subset": subset}
    out["weight"] = weight
    return out


# -- subsets ----------------------------------------------------------------------------


def with_subsets(
    subsets: Sequence[Subset] | None,
    *,
    stable: Mapping[str, str],
    canary: Mapping[str, str],
) -> list[Subset]:
    """The user's subsets plus stable/canary selecting these pod labels (order kept)."""
    wanted = {STABLE: dict(stable), CANARY: dict(canary)}
    out: list[Subset] = []
    for subset in subsets or []:
        name = subset.get("name")
        out.append(
            {**subset, "labels": wanted.pop(name)} if name in wanted else copy.deepcopy(subset)
        )
    out += [{"name": name, "labels": labels} for name, labels in wanted.items()]
    return out


def taken_subsets(subsets: Sequence[Subset] | None) -> list[str]:
    """Names the user already gave that rollout needs (stable, canary)."""
    return [str(s.get("name")) for s in subsets or [] if s.get("name") in (STABLE, CANARY)]


def restored_subsets(spec: Mapping[str, Any], original: Sequence[Subset] | None) -> dict[str, Any]:
    """The DestinationRule spec with its subsets as the user had them (absent if absent)."""
    out = copy.deepcopy(dict(spec))
    if original is None:
        out.pop("subsets", None)
    else:
        out["subsets"] = copy.deepcopy(list(original))
    return out
