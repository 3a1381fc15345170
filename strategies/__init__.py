"""The strategies, one module each; REGISTRY maps a StrategyKind to its class."""

from __future__ import annotations

from rollout.spec import StrategyKind
from strategies.base import Strategy
from strategies.recreate import RecreateStrategy
from strategies.rolling import RollingStrategy

REGISTRY: dict[StrategyKind, type[Strategy]] = {
    StrategyKind.ROLLING: RollingStrategy,
    StrategyKind.RECREATE: RecreateStrategy,
}

__all__ = ["REGISTRY", "RecreateStrategy", "RollingStrategy", "Strategy"]
