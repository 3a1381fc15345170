"""The strategies, one module each; REGISTRY maps a StrategyKind to its class."""

from __future__ import annotations

from rollout.spec import StrategyKind
from strategies.base import Strategy
from strategies.bluegreen import BlueGreenStrategy
from strategies.canary import CanaryStrategy
from strategies.istio import IstioCanaryStrategy
from strategies.recreate import RecreateStrategy
from strategies.rolling import RollingStrategy

REGISTRY: dict[StrategyKind, type[Strategy]] = {
    StrategyKind.ROLLING: RollingStrategy,
    StrategyKind.RECREATE: RecreateStrategy,
    StrategyKind.BLUEGREEN: BlueGreenStrategy,
    StrategyKind.CANARY: CanaryStrategy,
    StrategyKind.ISTIO_CANARY: IstioCanaryStrategy,
}

__all__ = ["REGISTRY", "CanaryStrategy", "RecreateStrategy", "RollingStrategy", "Strategy"]
