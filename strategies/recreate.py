"""Recreate: all old pods stop, then all new pods start — for changes the two versions
cannot serve side by side.

Steps: switch the Deployment to Recreate and set the image in one write, wait until
the new pods are available, analyse; `--pause` then waits (a duration, or for
`rollout promote`). Afterwards the original strategy is put back (a strategy change
alone starts no rollout). Rollback restores the previous template the same way, then
the original strategy.
"""

from __future__ import annotations

from typing import Any

from rollout import analysis, kube
from rollout.spec import StrategyKind
from strategies import native
from strategies.base import Gate, Step, Strategy

Object = dict[str, Any]


class RecreateStrategy(Strategy):
    """Stop everything, start the new version, analyse."""

    kind = StrategyKind.RECREATE

    def steps(self) -> list[Step]:
        gates = (self.ready_gate(), self._analysis())
        return [Step("recreate", self._recreate, gates, weight=100, pause=self.spec.pause)]

    def begin(self, deployment: Object) -> None:
        self.record.saved["strategy"] = deployment["spec"].get("strategy") or {}

    def rollback(self) -> analysis.Verdict:
        native.restore_template(
            self.cluster, self.target, self.record.previous_template, strategy=None
        )
        verdict = self.ready_gate()()
        self.complete()
        return verdict

    def complete(self) -> None:
        native.restore_strategy(self.cluster, self.target, self.record.saved.get("strategy"))

    def validate_writes(self, deployment: Object) -> None:
        self.cluster.patch(
            kube.Resource.DEPLOYMENT,
            self.target,
            self._patch(),
            type=kube.PatchType.STRATEGIC,
            dry_run=True,
        )

    def _recreate(self) -> None:
        self.cluster.patch(
            kube.Resource.DEPLOYMENT, self.target, self._patch(), type=kube.PatchType.STRATEGIC
        )

    def _patch(self) -> Object:
        containers = [{"name": n, "image": i} for n, i in self.record.target_images.items()]
        return {
            "spec": {
                "paused": False,
                "strategy": {"type": "Recreate", "rollingUpdate": None},
                "template": {"spec": {"containers": containers}},
            }
        }

    def _analysis(self) -> Gate:
        return self.analysis_gate(
            lambda: native.new_pods_variables(self.cluster, self.spec, self.record)
        )
