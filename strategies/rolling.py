"""Rolling: the Deployment's native RollingUpdate, optionally held at batch boundaries.

Steps: for each batch (e.g. 25%, 50%, 100%) let the update run until that share of
the desired replicas is available on the new version, pause the Deployment, analyse;
after 100% wait for completion and analyse. `--pause` waits after each batch (the
Deployment stays paused at its boundary) and after the last. Rollback restores the
previous pod template (what `kubectl rollout undo` does) and waits for it.
"""

from __future__ import annotations

import math
from typing import Any

from rollout import analysis, deployments, kube
from rollout.spec import ObjectRef, StrategyKind
from strategies import native
from strategies.base import Gate, Step, Strategy

Object = dict[str, Any]


class RollingStrategy(Strategy):
    """Native rolling update with batch pauses and analysis gates."""

    kind = StrategyKind.ROLLING

    def steps(self) -> list[Step]:
        batches = list(self.spec.batches) or [100]
        if batches[-1] != 100:
            batches.append(100)
        steps = []
        for pct in batches:
            ready = self.ready_gate() if pct == 100 else self._batch_gate(pct)
            gates = (ready, self._analysis())
            steps.append(
                Step(f"batch {pct}%", self._roll, gates, weight=pct, pause=self.spec.pause)
            )
        return steps

    def begin(self, deployment: Object) -> None:
        self.record.saved["strategy"] = deployment["spec"].get("strategy") or {}

    def rollback(self) -> analysis.Verdict:
        native.restore_template(
            self.cluster,
            self.target,
            self.record.previous_template,
            strategy=self.record.saved.get("strategy"),
        )
        return self.ready_gate()()

    def complete(self) -> None:
        if self.spec.max_surge is not None or self.spec.max_unavailable is not None:
            native.restore_strategy(self.cluster, self.target, self.record.saved.get("strategy"))

    def validate_writes(self, deployment: Object) -> None:
        self.cluster.patch(
            kube.Resource.DEPLOYMENT,
            self.target,
            self._roll_patch(),
            type=kube.PatchType.STRATEGIC,
            dry_run=True,
        )

    # -- actions and gates --------------------------------------------------

    def _roll(self) -> None:
        """Target template in place and the Deployment running (idempotent)."""
        self.cluster.patch(
            kube.Resource.DEPLOYMENT, self.target, self._roll_patch(), type=kube.PatchType.STRATEGIC
        )

    def _roll_patch(self) -> Object:
        spec: Object = {
            "paused": False,
            "template": {
                "spec": {
                    "containers": [
                        {"name": n, "image": i} for n, i in self.record.target_images.items()
                    ]
                }
            },
        }
        if self.spec.max_surge is not None or self.spec.max_unavailable is not None:
            ru = {
                k: v
                for k, v in (
                    ("maxSurge", self.spec.max_surge),
                    ("maxUnavailable", self.spec.max_unavailable),
                )
                if v is not None
            }
            spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": ru}
        return {"spec": spec}

    def _batch_gate(self, pct: int) -> Gate:
        """Wait until `pct`% of desired replicas are available on the new ReplicaSet, then
        pause the Deployment there."""

        def gate() -> analysis.Verdict:
            d = self.cluster.get(kube.Resource.DEPLOYMENT, self.target)
            want = math.ceil(deployments.desired_replicas(d) * pct / 100)
            rs = self.cluster.wait_for(
                kube.Resource.REPLICASET,
                ObjectRef(
                    self.target.namespace,
                    native.new_replicaset(self.cluster, self.target, self.record.target_images),
                ),
                lambda r: (
                    r is not None and (r.get("status") or {}).get("availableReplicas", 0) >= want
                ),
                timeout=self.spec.timeout,
                describe=f"{want} new replicas available",
            )
            self.cluster.patch(kube.Resource.DEPLOYMENT, self.target, {"spec": {"paused": True}})
            got = (rs or {}).get("status", {}).get("availableReplicas", 0)
            return analysis.passed(f"paused at {got}/{deployments.desired_replicas(d)} new")

        return gate

    def _analysis(self) -> Gate:
        return self.analysis_gate(
            lambda: native.new_pods_variables(self.cluster, self.spec, self.record)
        )
