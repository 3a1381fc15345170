"""Every strategy end to end, on every cluster: a healthy v2 is promoted, a failing v3 is
rolled back, and a rollout waiting at a manual pause is promoted from another process.

The scenarios run concurrently (tests/e2e/runner.py); each test asserts on its own. A
strategy not registered in strategies.REGISTRY yet FAILS here (it does not skip): these
scenarios are the definition of done for it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.runner import Done
from tests.e2e.scenarios import (
    MANUAL,
    STRATEGIES,
    ManualRuns,
    Run,
    lease_names,
    record,
    scenario,
    wait_serving,
)

pytestmark = pytest.mark.e2e
Take = Callable[[str, str], Done]


@scenario("healthy")
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_healthy_version_is_promoted_and_served(take: Take, strategy: str) -> None:
    done = take("healthy", strategy)
    run, env = done.runs, done.env
    assert isinstance(run, Run)

    assert run.code == 0, run
    assert run.result["outcome"] == "promoted", run.result
    assert record(env.cluster, env.namespace)["phase"] == "Succeeded"
    assert wait_serving(env.cluster, env.namespace, frozenset({"v2"})) == {"v2"}
    assert lease_names(env.cluster, env.namespace) == []  # the lock was released


@scenario("failing")
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_failing_version_fails_analysis_and_is_rolled_back(take: Take, strategy: str) -> None:
    done = take("failing", strategy)
    run, env = done.runs, done.env
    assert isinstance(run, Run)

    assert run.code == 1, run
    assert run.result["outcome"] == "rolled-back", run.result
    rec = record(env.cluster, env.namespace)
    assert rec["phase"] == "Failed", rec["message"]
    failed = [m for s in rec["steps"] for m in s["measurements"] if m["outcome"] == "fail"]
    assert failed, f"rolled back without a failed measurement: {rec['message']}"
    assert wait_serving(env.cluster, env.namespace, frozenset({"v1"})) == {"v1"}
    assert lease_names(env.cluster, env.namespace) == []


@scenario("manual")
@pytest.mark.parametrize("strategy", MANUAL)
def test_manual_pause_waits_until_a_second_process_promotes(take: Take, strategy: str) -> None:
    done = take("manual", strategy)
    runs, env = done.runs, done.env
    assert isinstance(runs, ManualRuns)

    assert runs.status.code == 0, runs.status
    assert runs.status.result["phase"] == "Paused", runs.status.result
    if strategy == "recreate":  # its one step is the whole switch: v1 is gone by the pause
        assert runs.serving_while_paused == {"v2"}, runs.serving_while_paused
    else:
        assert "v1" in runs.serving_while_paused  # stable still serves while it waits
    assert runs.promotes, "the driver never paused"
    assert all(p.code == 0 for p in runs.promotes), runs.promotes
    assert runs.driver.code == 0, runs.driver  # the waiting process went on and finished
    assert runs.driver.result["outcome"] == "promoted", runs.driver.result
    assert record(env.cluster, env.namespace)["phase"] == "Succeeded"
    assert wait_serving(env.cluster, env.namespace, frozenset({"v2"})) == {"v2"}
    assert lease_names(env.cluster, env.namespace) == []
