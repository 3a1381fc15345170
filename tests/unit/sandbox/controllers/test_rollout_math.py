"""Unit tests for the pure Deployment-controller decisions in rollout_math.

Includes a discrete-event simulation that replays a recording of a real
kube-controller-manager rollout and checks the same scale decisions come out.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rollout.sandbox.controllers import rollout_math as rm

RECORDING = (
    Path(__file__).resolve().parents[4].parent
    / "shared"
    / "data"
    / "upstream-rolling-10x-25pct-25pct.json"
)
TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "web", "image": "web:v1", "ports": [{"containerPort": 80}]}]},
}


def rolling(
    desired: int = 10, surge: rm.IntOrPercent = "25%", unavailable: rm.IntOrPercent = "25%"
) -> rm.DeploymentParams:
    return rm.DeploymentParams(desired, max_surge=surge, max_unavailable=unavailable)


@dataclass(frozen=True, slots=True)
class Timing:
    """When the ReplicaSet status reports what happened to pods (the simulated world).

    Pods are created and deleted the moment a ReplicaSet is scaled and become ready
    `ready_after` seconds after creation. The k-th new pod's readiness is reported no
    earlier than `ready_reports[k]`; the old ReplicaSet's status shows its i-th
    scale-down `old_status_lags[i]` seconds late. Empty tuples mean "immediately".
    """

    ready_after: float = 1.0
    ready_reports: tuple[float, ...] = ()
    old_status_lags: tuple[float, ...] = ()

    def report_at(self, index: int, created: float) -> float:
        floor = self.ready_reports[index] if index < len(self.ready_reports) else 0.0
        return max(created + self.ready_after, floor)

    def lag(self, index: int) -> float:
        return self.old_status_lags[index] if index < len(self.old_status_lags) else 0.0


@dataclass(slots=True)
class World:
    """Pods and observed ReplicaSet status of one old and one new ReplicaSet."""

    spec: rm.DeploymentParams
    timing: Timing
    sizes: dict[str, int] = field(default_factory=dict)
    old_pods: int = 0
    new_ready_at: list[float] = field(default_factory=list)
    old_seen: int = 0
    new_seen: int = 0
    scale_downs: int = 0
    decisions: list[tuple[int, int]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    max_pods: int = 0
    min_available: int = 10**9
    events: list[tuple[float, int, str, int]] = field(default_factory=list)
    seq: itertools.count[int] = field(default_factory=itertools.count)

    def schedule(self, at: float, kind: str, value: int = 0) -> None:
        heapq.heappush(self.events, (at, next(self.seq), kind, value))

    def check(self, now: float) -> None:
        ready = sum(1 for at in self.new_ready_at if at <= now)
        self.max_pods = max(self.max_pods, self.old_pods + len(self.new_ready_at))
        self.min_available = min(self.min_available, self.old_pods + ready)

    def apply(self, plan: rm.ScalePlan, now: float) -> None:
        for name, size in plan.items():
            before, self.sizes[name] = self.sizes[name], size
            if name == "new":
                assert size >= before, "the new ReplicaSet never shrinks in these scenarios"
                for _ in range(size - before):
                    self.schedule(self.timing.report_at(len(self.new_ready_at), now), "ready")
                    self.new_ready_at.append(now + self.timing.ready_after)
            else:
                self.old_pods -= before - size
                self.schedule(now + self.timing.lag(self.scale_downs), "old-status", size)
                self.scale_downs += 1
        self.decisions.append((self.sizes["old"], self.sizes["new"]))
        self.times.append(now)
        self.check(now)

    def reconcile(self, now: float) -> None:
        """The controller re-runs after every change until it has nothing to do."""
        while True:
            new = rm.RSState("new", self.sizes["new"], available=self.new_seen, created=1.0)
            old = rm.RSState("old", self.sizes["old"], available=self.old_seen, created=0.0)
            plan = rm.rolling_step(self.spec, new=new, olds=[old])
            if not plan:
                return
            self.apply(plan, now)


def simulate(spec: rm.DeploymentParams, timing: Timing) -> World:
    """Roll `spec.desired` ready old pods over to a new ReplicaSet, event by event."""
    world = World(spec, timing, sizes={"old": spec.desired, "new": 0}, old_pods=spec.desired)
    world.old_seen = spec.desired
    world.decisions.append((spec.desired, 0))
    world.times.append(0.0)
    world.check(0.0)
    world.reconcile(0.0)
    while world.events:
        now = world.events[0][0]
        while world.events and world.events[0][0] == now:  # one status update per instant
            _, _, kind, value = heapq.heappop(world.events)
            if kind == "ready":
                world.new_seen += 1
            else:
                world.old_seen = min(world.old_seen, value)
        world.check(now)
        world.reconcile(now)
    return world


@dataclass(frozen=True, slots=True)
class Recording:
    """The recorded upstream rollout (see /work/shared/data)."""

    spec: rm.DeploymentParams
    decisions: list[tuple[int, int]]
    max_pods: int
    min_available: int
    trace: list[dict[str, float]]


def load_recording() -> Recording:
    if not RECORDING.exists():
        pytest.skip(f"recording {RECORDING} not available")
    data = json.loads(RECORDING.read_text())
    return Recording(
        spec=rolling(data["replicas"], data["surge"], data["unavailable"]),
        decisions=[(old, new) for old, new in data["scale_decisions"]],
        max_pods=data["max_pods"],
        min_available=data["min_available"],
        trace=data["trace"],
    )


def recorded_timing(trace: list[dict[str, float]]) -> Timing:
    """Readiness report times and old-status lags measured in the recorded trace.

    In the recording two new pods are reported ready in one status update (2.491 s), and
    the old ReplicaSet's status shows a scale-down 15-20 ms late at first, ~0.4 s later on.
    """
    start, rows = trace[0], trace[1:]  # the first row is the state before the rollout
    reports: list[float] = []
    seen = start["new_avail"]
    for row in rows:
        reports += [row["t"]] * int(max(0, row["new_avail"] - seen))
        seen = max(seen, row["new_avail"])
    lags: list[float] = []
    spec = start["old_spec"]
    for index, row in enumerate(rows):
        if row["old_spec"] < spec:
            caught = next(r["t"] for r in rows[index + 1 :] if r["old_avail"] <= row["old_spec"])
            lags.append(caught - row["t"])
        spec = row["old_spec"]
    return Timing(ready_reports=tuple(reports), old_status_lags=tuple(lags))


def recorded_decision_times(trace: list[dict[str, float]]) -> list[float]:
    times = [0.0]
    for before, row in itertools.pairwise(trace):
        if (row["old_spec"], row["new_spec"]) != (before["old_spec"], before["new_spec"]):
            times.append(row["t"])
    return times


def test_rolling_step_makes_the_recorded_upstream_decisions_given_the_recorded_timing() -> None:
    recording = load_recording()

    world = simulate(recording.spec, recorded_timing(recording.trace))

    assert world.decisions == recording.decisions
    assert world.max_pods <= recording.max_pods == recording.spec.max_pods
    assert world.min_available >= recording.min_available == recording.spec.min_available
    for ours, theirs in zip(world.times, recorded_decision_times(recording.trace), strict=True):
        assert abs(ours - theirs) < 0.05  # upstream took 3-27 ms per API write


def test_instant_status_model_gives_different_decisions_than_the_recording() -> None:
    world = simulate(rolling(), Timing())

    assert world.decisions != load_recording().decisions  # the timing matters, not just the math
    assert world.decisions == [(10, 0), (10, 3), (8, 3), (8, 5), (3, 5), (3, 10), (0, 10)]


@pytest.mark.parametrize(
    ("desired", "surge", "unavailable"),
    [
        (10, "25%", "25%"),
        (10, 0, 1),
        (10, 1, 0),
        (3, "50%", "50%"),
        (5, "100%", 0),
        (1, 0, "1%"),
        (7, "30%", "10%"),
    ],
)
def test_rolling_update_stays_within_fenceposts_and_completes(
    desired: int, surge: rm.IntOrPercent, unavailable: rm.IntOrPercent
) -> None:
    spec = rolling(desired, surge, unavailable)

    world = simulate(spec, Timing())

    assert world.decisions[-1] == (0, desired)
    assert world.max_pods <= spec.max_pods
    assert world.min_available >= spec.min_available


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 10, (3, 2)),  # surge rounds up, unavailable rounds down
        ("25%", "25%", 4, (1, 1)),
        ("25%", "25%", 1, (1, 0)),
        (None, None, 10, (3, 2)),  # API defaults
        ("50%", "50%", 3, (2, 1)),
        ("1%", "1%", 2, (1, 0)),
        (0, "1%", 2, (0, 1)),  # both resolve to zero: unavailable becomes 1
        ("0%", "0%", 5, (0, 1)),
        (2, "10%", 10, (2, 1)),
        ("100%", 0, 5, (5, 0)),
        ("25%", "25%", 0, (0, 1)),
    ],
)
def test_resolve_fenceposts_rounds_like_upstream(
    surge: rm.IntOrPercent, unavailable: rm.IntOrPercent, desired: int, expected: tuple[int, int]
) -> None:
    assert rm.resolve_fenceposts(surge, unavailable, desired) == expected


def test_max_unavailable_is_capped_at_desired_and_zero_without_replicas() -> None:
    assert rolling(3, 0, 5).unavailable == 3
    assert rolling(0, "25%", "25%").unavailable == 0
    assert rolling(10).max_pods == 13
    assert rolling(10).min_available == 8


def test_recreate_has_no_surge_and_needs_every_replica_available() -> None:
    spec = rm.DeploymentParams(4, strategy=rm.Strategy.RECREATE, max_surge=2, max_unavailable=2)

    assert (spec.surge, spec.unavailable, spec.min_available) == (0, 0, 4)


def test_resolve_fenceposts_rejects_strings_that_are_not_percentages() -> None:
    with pytest.raises(ValueError, match="int-or-percent"):
        rm.resolve_fenceposts("3", "25%", 10)


def test_replica_annotations_record_desired_and_max_replicas() -> None:
    assert rm.replica_annotations(rolling(10)) == {
        rm.DESIRED_REPLICAS_ANNOTATION: "10",
        rm.MAX_REPLICAS_ANNOTATION: "13",
    }


def old_rs(
    name: str, replicas: int, available: int | None = None, created: float = 0.0
) -> rm.RSState:
    avail = replicas if available is None else available
    return rm.RSState(
        name, replicas, available=avail, ready=avail, actual=replicas, created=created
    )


@pytest.mark.parametrize(
    ("new", "olds", "expected"),
    [
        pytest.param(
            rm.RSState("new", 0), [old_rs("old", 10)], {"new": 3}, id="new-rs-within-surge"
        ),
        pytest.param(
            rm.RSState("new", 12, available=12), [old_rs("old", 0)], {"new": 10}, id="shrink-new"
        ),
        pytest.param(rm.RSState("new", 10, available=10), [old_rs("old", 0)], {}, id="complete"),
        pytest.param(
            rm.RSState("new", 3, available=3, created=2.0),
            [old_rs("older", 4, created=1.0), old_rs("oldest", 6)],
            {"oldest": 1},
            id="oldest-old-rs-first",
        ),
        pytest.param(  # 2 unhealthy old pods go; availability (7) forbids more
            rm.RSState("new", 3), [old_rs("old", 10, available=7)], {"old": 8}, id="unhealthy-first"
        ),
        pytest.param(  # old status still counts a removed pod: upstream's cleanup bails out
            rm.RSState("new", 8, available=4), [old_rs("old", 5, available=6)], {}, id="stale-old"
        ),
        pytest.param(rm.RSState("new", 8, available=4), [old_rs("old", 5)], {"old": 4}, id="fresh"),
    ],
)
def test_rolling_step_decides_like_upstream(
    new: rm.RSState, olds: list[rm.RSState], expected: rm.ScalePlan
) -> None:
    assert rm.rolling_step(rolling(10), new=new, olds=olds) == expected


def test_rolling_step_keeps_old_pods_while_new_pods_are_unavailable() -> None:
    # Upstream's "case 1": new pods crashloop and an old pod fails; 13 - 8 - 5 = 0.
    new = rm.RSState("new", 5, available=0)

    assert rm.rolling_step(rolling(10, 3, 2), new=new, olds=[old_rs("old", 8, available=7)]) == {}


def test_new_rs_replicas_never_exceeds_desired() -> None:
    new = rm.RSState("new", 9, available=9)

    assert rm.new_rs_replicas(rolling(10, 5, 0), new=new, olds=[old_rs("old", 1)]) == 10


def test_recreate_stops_every_old_pod_before_starting_new_ones() -> None:
    spec = rm.DeploymentParams(3, strategy=rm.Strategy.RECREATE)
    step = functools.partial(rm.recreate_step, spec, new=rm.RSState("new", 0))
    running = [old_rs("a", 3), old_rs("b", 1), old_rs("c", 0)]

    assert step(olds=running, old_pods=4) == {"a": 0, "b": 0}
    assert step(olds=[rm.RSState("a", 0)], old_pods=2) == {}  # old pods still terminating
    assert step(olds=[rm.RSState("a", 0, actual=2)], old_pods=0) == {}  # status not caught up
    assert step(olds=[rm.RSState("a", 0)], old_pods=0) == {"new": 3}
    done = rm.RSState("new", 3, available=3)
    assert rm.recreate_step(spec, new=done, olds=[], old_pods=0) == {}


def annotated(
    name: str, replicas: int, *, created: float, desired: int = 10, max_: int = 13
) -> rm.RSState:
    return rm.RSState(
        name, replicas, created=created, annotated_desired=desired, annotated_max=max_
    )


@pytest.mark.parametrize(
    ("desired", "new", "old", "expected"),
    [
        pytest.param(20, 5, 8, {"old": 15, "new": 10}, id="up-keeps-8:5-within-25"),
        pytest.param(5, 5, 8, {"old": 4, "new": 3}, id="down-keeps-8:5-within-7"),
        pytest.param(11, 5, 5, {"new": 9, "old": 5}, id="up-leftover-to-newer"),
        pytest.param(6, 5, 5, {"old": 3, "new": 5}, id="down-leftover-from-older"),
        pytest.param(10, 5, 8, {}, id="no-change"),
    ],
)
def test_scaling_mid_rollout_resizes_replica_sets_proportionally(
    desired: int, new: int, old: int, expected: rm.ScalePlan
) -> None:
    rss = {"new": annotated("new", new, created=1.0), "old": annotated("old", old, created=0.0)}

    plan = rm.proportional_scale(
        rolling(desired), new=rss["new"], olds=[rss["old"]], status_replicas=new + old
    )

    assert plan == expected  # also names unresized ReplicaSets whose annotations are stale


def test_scaling_event_detected_from_desired_replicas_annotation() -> None:
    rss = [annotated("new", 5, created=1.0), annotated("old", 8, created=0.0)]

    assert rm.is_scaling_event(rolling(20), replica_sets=rss)
    assert not rm.is_scaling_event(rolling(10), replica_sets=rss)


def test_scaling_a_settled_deployment_resizes_its_only_active_replica_set() -> None:
    new, old = annotated("new", 10, created=1.0), annotated("old", 0, created=0.0)

    assert rm.proportional_scale(rolling(4), new=new, olds=[old], status_replicas=10) == {"new": 4}


def test_scaling_with_a_saturated_new_replica_set_drops_old_ones() -> None:
    new = rm.RSState("new", 10, available=10, created=1.0, annotated_desired=10)
    old = annotated("old", 2, created=0.0)

    assert rm.proportional_scale(rolling(10), new=new, olds=[old], status_replicas=12) == {"old": 0}


def test_proportional_scale_refreshes_stale_annotations_without_resizing() -> None:
    new, old = annotated("new", 5, created=1.0), annotated("old", 8, created=0.0, desired=9)

    assert rm.proportional_scale(rolling(10), new=new, olds=[old], status_replicas=13) == {"old": 8}


def test_deployment_status_counts_like_calculate_status() -> None:
    new = rm.RSState("new", 5, available=2, ready=3, actual=4)
    old = rm.RSState("old", 8, available=8, ready=8, actual=9)

    status = rm.deployment_status(new, [old])

    assert status == rm.StatusCounts(
        replicas=13,
        updated_replicas=4,
        ready_replicas=11,
        available_replicas=10,
        unavailable_replicas=3,
    )


def test_available_condition_needs_desired_minus_max_unavailable() -> None:
    at_bar = rm.StatusCounts(available_replicas=8)
    below = rm.StatusCounts(available_replicas=7)

    ok = rm.available_condition(None, spec=rolling(10), status=at_bar, now=5.0)
    lost = rm.available_condition(ok, spec=rolling(10), status=below, now=9.0)

    assert (ok.status, ok.reason) == (rm.ConditionStatus.TRUE, rm.Reason.MIN_AVAILABLE)
    assert (lost.status, lost.reason, lost.last_transition) == (
        rm.ConditionStatus.FALSE,
        rm.Reason.MIN_UNAVAILABLE,
        9.0,
    )
    assert rm.available_condition(ok, spec=rolling(10), status=at_bar, now=20.0) is ok


STEADY = rm.StatusCounts(replicas=10, available_replicas=10)
MOVED = rm.StatusCounts(replicas=13, updated_replicas=3, available_replicas=10)
DONE = rm.StatusCounts(replicas=10, updated_replicas=10, available_replicas=10)
PROGRESS = functools.partial(
    rm.progressing_condition, desired=10, deployment="web", new_rs="web-abc"
)


def progressing(
    current: rm.Condition | None,
    *,
    now: float,
    previous: rm.StatusCounts = STEADY,
    status: rm.StatusCounts = STEADY,
    created: bool = False,
    paused: bool = False,
) -> rm.Condition:
    cond = PROGRESS(
        current,
        previous=previous,
        status=status,
        deadline_seconds=600,
        now=now,
        created_new_rs=created,
        paused=paused,
    )
    assert cond is not None
    return cond


def check_delay(cond: rm.Condition, status: rm.StatusCounts, now: float) -> float | None:
    return rm.progress_check_delay(cond, status=status, desired=10, deadline_seconds=600, now=now)


def test_progress_reports_new_replica_set_created_then_replica_set_updated() -> None:
    created = progressing(None, now=0.0, created=True)
    moved = progressing(created, now=30.0, status=MOVED)

    assert (created.reason, created.message) == (
        rm.Reason.NEW_RS_CREATED,
        'Created new replica set "web-abc"',
    )
    assert (moved.reason, moved.last_update, moved.last_transition) == (rm.Reason.RS_UPDATED, 30, 0)


def test_progress_deadline_exceeded_only_after_deadline_without_progress() -> None:
    start = progressing(None, now=0.0, created=True)
    late = progressing(start, now=600.5)

    assert progressing(start, now=600.0) is start
    assert (late.status, late.reason) == (rm.ConditionStatus.FALSE, rm.Reason.TIMED_OUT)
    assert late.message == 'ReplicaSet "web-abc" has timed out progressing.'


def test_paused_deployment_does_not_time_out() -> None:
    paused = progressing(progressing(None, now=0.0, created=True), now=5000.0, paused=True)
    resumed = progressing(paused, now=6000.0)

    assert (paused.status, paused.reason) == (rm.ConditionStatus.UNKNOWN, rm.Reason.PAUSED)
    assert progressing(paused, now=9000.0, paused=True) is paused
    assert resumed.reason is rm.Reason.RESUMED
    assert progressing(resumed, now=6600.0) is resumed  # the deadline restarts on resume
    assert progressing(resumed, now=6601.0).reason is rm.Reason.TIMED_OUT


def test_complete_rollout_reports_new_replica_set_available_and_stays_so() -> None:
    done = progressing(progressing(None, now=0.0, created=True), now=50.0, status=DONE)

    assert (done.status, done.reason) == (rm.ConditionStatus.TRUE, rm.Reason.NEW_RS_AVAILABLE)
    assert progressing(done, now=99999.0, previous=DONE, status=DONE) is done
    assert check_delay(done, DONE, now=60.0) is None


def test_progress_check_is_scheduled_for_when_the_deadline_passes() -> None:
    start = progressing(None, now=0.0, created=True)

    assert check_delay(start, MOVED, now=100.0) == 501.0
    assert check_delay(start, MOVED, now=599.5) == 0.0


def test_existing_new_replica_set_is_reported_found_and_no_deadline_means_no_condition() -> None:
    no_deadline = PROGRESS(None, previous=STEADY, status=STEADY, deadline_seconds=None, now=1.0)

    assert progressing(None, now=1.0).reason is rm.Reason.FOUND_NEW_RS
    assert no_deadline is None


def test_pod_template_hash_is_stable_and_shaped_like_upstream() -> None:
    reordered = json.loads(json.dumps(TEMPLATE, sort_keys=True))
    value = rm.pod_template_hash(TEMPLATE)

    assert value == rm.pod_template_hash(reordered)
    assert value == "f59746ff4"  # pinned: hash values must not drift between releases
    assert set(value) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_pod_template_hash_ignores_its_own_label_and_follows_changes() -> None:
    labelled = {**TEMPLATE, "metadata": {"labels": {"app": "web", rm.HASH_LABEL: "x"}}}
    changed = {**TEMPLATE, "spec": {"containers": [{"name": "web", "image": "web:v2"}]}}

    assert rm.pod_template_hash(labelled) == rm.pod_template_hash(TEMPLATE)
    assert rm.pod_template_hash(changed) != rm.pod_template_hash(TEMPLATE)
    assert rm.pod_template_hash(TEMPLATE, 1) != rm.pod_template_hash(TEMPLATE)


def test_equal_ignore_hash_ignores_hash_label_and_empty_fields() -> None:
    labelled = {**TEMPLATE, "metadata": {"labels": {"app": "web", rm.HASH_LABEL: "abc"}}}
    with_empty = {**TEMPLATE, "metadata": {"labels": {"app": "web"}, "annotations": {}}}
    other = {**TEMPLATE, "metadata": {"labels": {"app": "api"}}}

    assert rm.equal_ignore_hash(labelled, TEMPLATE)
    assert rm.equal_ignore_hash(with_empty, TEMPLATE)
    assert not rm.equal_ignore_hash(other, TEMPLATE)


def test_find_new_replica_set_picks_the_oldest_matching_template() -> None:
    v2 = {**TEMPLATE, "spec": {"containers": [{"name": "web", "image": "web:v2"}]}}
    rss = [
        (rm.RSState("b", 1, created=3.0), TEMPLATE),
        (rm.RSState("a", 1, created=1.0), TEMPLATE),
        (rm.RSState("c", 1, created=0.0), v2),
    ]

    assert rm.find_new_replica_set(TEMPLATE, rss) == rss[1][0]
    assert rm.find_new_replica_set({"spec": {}}, rss) is None


def test_new_replica_set_gets_max_old_revision_plus_one() -> None:
    olds = [rm.RSState("a", 0, revision=1), rm.RSState("b", 0, revision=3)]

    assert rm.sync_revision(rm.RSState("new", 0), olds) == rm.RevisionUpdate(4)
    assert rm.sync_revision(rm.RSState("new", 0, revision=4), olds) == rm.RevisionUpdate(4)


def test_rollback_reuses_old_replica_set_with_a_new_max_revision() -> None:
    v2 = {**TEMPLATE, "spec": {"containers": [{"name": "web", "image": "web:v2"}]}}
    v1_rs = rm.RSState("web-v1", 0, revision=1, created=0.0)
    v2_rs = rm.RSState("web-v2", 10, revision=2, created=1.0)

    reused = rm.find_new_replica_set(TEMPLATE, [(v1_rs, TEMPLATE), (v2_rs, v2)])
    assert reused == v1_rs
    assert rm.sync_revision(v1_rs, [v2_rs]) == rm.RevisionUpdate(3, history="1")
    again = rm.RSState("web-v1", 0, revision=3)
    assert rm.sync_revision(again, [rm.RSState("web-v2", 0, revision=4)], history="1") == (
        rm.RevisionUpdate(5, history="1,3")
    )


def test_history_cleanup_deletes_oldest_revisions_without_replicas() -> None:
    olds = [
        rm.RSState("r3", 0, revision=3),
        rm.RSState("r1", 0, revision=1),
        rm.RSState("r2", 2, revision=2, actual=2),
        rm.RSState("r4", 0, revision=4),
        rm.RSState("r5", 0, revision=5),
        rm.RSState("gone", 0, revision=0, deleting=True),
    ]

    assert rm.replica_sets_to_delete(olds, history_limit=2) == ["r1", "r3"]  # r2 still runs
    assert rm.replica_sets_to_delete(olds, history_limit=5) == []
    assert rm.replica_sets_to_delete(olds, history_limit=None) == []
    assert rm.replica_sets_to_delete(olds, history_limit=0) == ["r1", "r3", "r4", "r5"]
