"""Bad input to the rollout CLI: exit code 2, one line on stderr, and no write reaches
the cluster (the sandbox's request log is the witness)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from rollout.sandbox import Sandbox
from rollout.sandbox.prometheus import free_port
from tests.sandbox.cli_runs import APP, rollout

BAD_YAML = "target: {name: link-manager\nstrategy: rolling\n"
UNKNOWN_STRATEGY = "target: {name: link-manager}\nstrategy: sideways\nimage: v2\n"
UNKNOWN_FIELD = "target: {name: link-manager}\nstrategy: rolling\nimage: v2\nspeed: 11\n"
MIN_OVER_MAX = (
    "target: {name: link-manager}\nstrategy: rolling\nimage: v2\n"
    "analysis: {checks: [{name: success-rate, min: 99, max: 90}]}\n"
)

# (id, args, files to write first {name: text}, a word the message must contain)
CASES: list[tuple[str, list[str], dict[str, str], str]] = [
    ("no-such-deployment", ["rolling", "nope", "--image", "v2"], {}, "not found"),
    ("no-such-namespace", ["rolling", APP, "--image", "v2", "-n", "nope"], {}, "not found"),
    ("no-such-context", ["rolling", APP, "--image", "v2", "--context", "nope"], {}, "nope"),
    (
        "missing-kubeconfig",
        ["rolling", APP, "--image", "v2", "--kubeconfig", "/nonexistent"],
        {},
        "/nonexistent",
    ),
    ("bad-image", ["rolling", APP, "--image", "Foo:Bar"], {}, "--image"),
    ("bad-digest", ["rolling", APP, "--image", "app@sha256:12"], {}, "--image"),
    ("unknown-container", ["rolling", APP, "--image", "other=app:v2"], {}, "other"),
    ("no-image", ["rolling", APP], {}, "image"),
    ("malformed-yaml", ["run", "-f", "{dir}/bad.yaml"], {"bad.yaml": BAD_YAML}, "YAML"),
    ("missing-file", ["run", "-f", "{dir}/none.yaml"], {}, "none.yaml"),
    ("unknown-strategy", ["run", "-f", "{dir}/s.yaml"], {"s.yaml": UNKNOWN_STRATEGY}, "sideways"),
    ("unknown-field", ["run", "-f", "{dir}/f.yaml"], {"f.yaml": UNKNOWN_FIELD}, "speed"),
    ("min-over-max", ["run", "-f", "{dir}/m.yaml"], {"m.yaml": MIN_OVER_MAX}, "min"),
    (
        "bad-check-syntax",
        ["rolling", APP, "--image", "v2", "--check", "success-rate=>99"],
        {},
        "success-rate",
    ),
    ("unknown-check", ["rolling", APP, "--image", "v2", "--check", "nosuch>=1"], {}, "nosuch"),
    (
        "wrong-check-unit",
        ["rolling", APP, "--image", "v2", "--check", "success-rate>=99ms"],
        {},
        "ms",
    ),
    ("negative-count", ["rolling", APP, "--image", "v2", "--count", "-1"], {}, "count"),
    ("bad-interval", ["rolling", APP, "--image", "v2", "--interval", "-1s"], {}, "interval"),
    ("bad-timeout", ["rolling", APP, "--image", "v2", "--timeout", "soon"], {}, "--timeout"),
    (
        "batches-not-increasing",
        ["rolling", APP, "--image", "v2", "--batches", "50,25"],
        {},
        "--batches",
    ),
    ("batches-over-100", ["rolling", APP, "--image", "v2", "--batches", "50,150"], {}, "--batches"),
    ("bad-max-surge", ["rolling", APP, "--image", "v2", "--max-surge", "lots"], {}, "--max-surge"),
    (
        "bad-on-interrupt",
        ["rolling", APP, "--image", "v2", "--on-interrupt", "maybe"],
        {},
        "--on-interrupt",
    ),
    (
        "option-of-other-strategy",
        ["recreate", APP, "--image", "v2", "--batches", "50"],
        {},
        "--batches",
    ),
    (
        "canary-steps-not-increasing",
        ["canary", APP, "--image", "v2", "--steps", "50,25"],
        {},
        "--steps",
    ),
    ("canary-step-zero", ["canary", APP, "--image", "v2", "--steps", "0,50"], {}, "--steps"),
    ("canary-step-over-100", ["canary", APP, "--image", "v2", "--steps", "50,101"], {}, "--steps"),
    ("canary-bad-pause", ["canary", APP, "--image", "v2", "--pause", "later"], {}, "--pause"),
    (
        "canary-step-unreachable",
        ["canary", APP, "--image", "v2", "--steps", "10,25,50"],
        {},
        "step 10% cannot be reached with 4 replicas",
    ),
    (
        "canary-above-half-without-shrink",
        ["canary", APP, "--image", "v2", "--steps", "50,75"],
        {},
        "--shrink-stable",
    ),
    (
        "bluegreen-preview-is-active",
        ["bluegreen", APP, "--image", "v2", "--preview-service", APP],
        {},
        "active Service",
    ),
    (
        "bluegreen-bad-preview-name",
        ["bluegreen", APP, "--image", "v2", "--preview-service", "Bad_Name"],
        {},
        "--preview-service",
    ),
    (
        "bluegreen-bad-scale-down-delay",
        ["bluegreen", APP, "--image", "v2", "--scale-down-delay", "soon"],
        {},
        "--scale-down-delay",
    ),
    (
        "bluegreen-unknown-pre-check",
        ["bluegreen", APP, "--image", "v2", "--pre-promotion-check", "nosuch>=1"],
        {},
        "nosuch",
    ),
    (
        "preview-on-canary",
        ["canary", APP, "--image", "v2", "--preview-service", "p"],
        {},
        "--preview-service",
    ),
    ("resume-nothing", ["resume", APP], {}, "no rollout in progress"),
    ("promote-nothing", ["promote", APP], {}, "no rollout in progress"),
    ("abort-nothing", ["abort", APP], {}, "no rollout in progress"),
]


@pytest.mark.parametrize(
    ("args", "files", "word"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_exits_2_with_one_line_and_no_writes(
    args: list[str],
    files: dict[str, str],
    word: str,
    app: str,
    kubeconfig: Path,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    sandbox.requests.clear()

    run = rollout(kubeconfig, app, *[a.replace("{dir}", str(tmp_path)) for a in args])

    lines = run.stderr.strip().splitlines()
    assert run.code == 2, run.stderr
    assert len(lines) == 1, lines
    assert word in lines[0], lines[0]
    assert sandbox.requests.count(writes=True) == 0


def test_unreachable_api_exits_2_without_hanging(tmp_path: Path, sandbox: Sandbox) -> None:
    kubeconfig = sandbox.write_kubeconfig(tmp_path / "kc")
    kubeconfig.write_text(
        kubeconfig.read_text().replace(sandbox.url, f"http://127.0.0.1:{free_port()}")
    )

    run = rollout(kubeconfig, "default", "rolling", APP, "--image", "v2", timeout=30)

    assert run.code == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert "unreachable" in run.stderr


def test_case_table_has_at_least_twenty_entries(api_client: client.ApiClient) -> None:
    assert len(CASES) >= 20
