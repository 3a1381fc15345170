"""Traffic routers, one module per provider (Flagger's `pkg/router`): `for_mesh` builds
the one a strategy names. Unknown names are refused, never defaulted.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from rollout import errors, kube
from rollout.routers.base import ALL_STABLE, Router, Routing, Weights
from rollout.routers.istio import IstioRouter

ROUTERS: dict[str, type[IstioRouter]] = {"istio": IstioRouter}
"""Provider name -> Router implementation (a Gateway API or NGINX router is one more)."""


def for_mesh(
    name: str, cluster: kube.Cluster, routing: Routing, saved: MutableMapping[str, Any]
) -> Router:
    """The router called `name` for `routing`; `saved` is its part of the rollout record."""
    try:
        router = ROUTERS[name]
    except KeyError:
        raise errors.SpecError(
            f'router "{name}": unknown; valid: {", ".join(sorted(ROUTERS))}'
        ) from None
    return router(cluster, routing, saved)


__all__ = ["ALL_STABLE", "ROUTERS", "IstioRouter", "Router", "Routing", "Weights", "for_mesh"]
