"""Every strategy end to end, on every cluster: a healthy v2 is promoted, a failing v3 is
rolled back, and a rollout stopped for a human is promoted from another process.

A strategy not registered in strategies.REGISTRY yet FAILS here (it does not skip): these
scenarios are the definition of done for it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.scenarios import (
    MANUAL,
    STRATEGIES,
    Env,
    drive_failing,
    drive_healthy,
    drive_manual,
    is_registered,
    lease_names,
    not_registered_message,
    record,
    wait_serving,
)

pytestmark = pytest.mark.e2e
MakeEnv = Callable[..., Env]


def _env(make_env: MakeEnv, scenario: str, strategy: str) -> Env:
    assert is_registered(strategy), not_registered_message(strategy)
    return make_env(f"{scenario}/{strategy}", istio=strategy == "istio-canary")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_healthy_version_is_promoted_and_served(make_env: MakeEnv, strategy: str) -> None:
    env = _env(make_env, "healthy", strategy)

    run = drive_healthy(env, strategy)

    assert run.code == 0, run
    assert run.result["outcome"] == "promoted", run.result
    assert record(env.cluster, env.namespace)["phase"] == "Succeeded"
    assert wait_serving(env.cluster, env.namespace, frozenset({"v2"})) == {"v2"}
    assert lease_names(env.cluster, env.namespace) == []  # the lock was released


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_failing_version_fails_analysis_and_is_rolled_back(
    make_env: MakeEnv, strategy: str
) -> None:
    env = _env(make_env, "failing", strategy)

    run = drive_failing(env, strategy)

    assert run.code == 1, run
    assert run.result["outcome"] == "rolled-back", run.result
    rec = record(env.cluster, env.namespace)
    assert rec["phase"] == "Failed", rec["message"]
    failed = [m for s in rec["steps"] for m in s["measurements"] if m["outcome"] == "fail"]
    assert failed, f"rolled back without a failed measurement: {rec['message']}"
    assert wait_serving(env.cluster, env.namespace, frozenset({"v1"})) == {"v1"}
    assert lease_names(env.cluster, env.namespace) == []


@pytest.mark.parametrize("strategy", MANUAL)
def test_manual_pause_waits_and_a_second_process_promotes(
    make_env: MakeEnv, strategy: str
) -> None:
    env = _env(make_env, "manual", strategy)

    runs = drive_manual(env, strategy)

    assert runs.paused.code == 4, runs.paused
    assert runs.paused.result["outcome"] == "paused"
    assert runs.status.code == 0 and runs.status.result["phase"] == "Paused", runs.status
    assert "v1" in runs.serving_while_paused  # stable still serves while it waits
    assert runs.promotes and all(p.code == 0 for p in runs.promotes), runs.promotes[-1]
    final = runs.resumes[-1]
    assert final.code == 0, final
    assert final.result["outcome"] == "promoted"
    assert record(env.cluster, env.namespace)["phase"] == "Succeeded"
    assert wait_serving(env.cluster, env.namespace, frozenset({"v2"})) == {"v2"}
    assert lease_names(env.cluster, env.namespace) == []
