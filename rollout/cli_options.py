"""Command-line options: the flags every command takes, the flags that start a rollout,
and each strategy's own flags, kept as data so `run -f` can offer them all. Also maps
given flags to `spec.SpecOverrides`. Imports only click at module level (`--help` stays
fast); registers no commands (that is `cli.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

_FC = TypeVar("_FC", bound="Callable[..., Any] | click.Command")

OUTPUTS = click.Choice(["text", "json"])

OptionSpec = tuple[tuple[str, ...], dict[str, Any]]


def global_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """kubectl-style options every command takes, in any position."""
    options = [
        # not envvar="KUBECONFIG": that may list several files, which kube_config merges
        click.option(
            "--kubeconfig",
            help="Path to the kubeconfig file (default: the files in KUBECONFIG, merged, "
            "else ~/.kube/config).",
        ),
        click.option("--context", help="The kubeconfig context to use."),
        click.option("-n", "--namespace", help="Namespace of the Deployment."),
        click.option(
            "-o",
            "--output",
            type=OUTPUTS,
            default="text",
            show_default=True,
            help="Final result as text or one JSON object (stdout).",
        ),
        click.option(
            "--log-format",
            type=click.Choice(["auto", "text", "json"]),
            default="auto",
            show_default=True,
            help="Progress: live view on a TTY (auto), key=value lines, or JSON lines.",
        ),
        click.option("-v", "--verbose", count=True, help="More detail (repeatable)."),
        click.option("--debug", is_flag=True, help="Show tracebacks."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def rollout_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by the commands that start a rollout."""
    options = [
        click.option(
            "--image",
            "images",
            multiple=True,
            help="New image: REF, a bare TAG (keeps the repository), or NAME=REF.",
        ),
        click.option("--timeout", help="Readiness wait per step, e.g. 5m (default 10m)."),
        click.option(
            "--check",
            "checks",
            multiple=True,
            help="Analysis check, e.g. 'success-rate>=99', 'latency-p99<=300ms'.",
        ),
        click.option("--interval", help="Time between measurements (default 10s)."),
        click.option("--count", type=int, help="Measurements per gate (default 3)."),
        click.option("--initial-delay", help="Wait before the first measurement."),
        click.option("--failure-limit", type=int, help="Failed measurements tolerated."),
        click.option("--inconclusive-limit", type=int, help="No-data measurements tolerated."),
        click.option(
            "--consecutive-error-limit", type=int, help="Query errors in a row tolerated."
        ),
        click.option(
            "--prometheus-url",
            envvar="ROLLOUT_PROMETHEUS_URL",
            help="Prometheus base URL (or ROLLOUT_PROMETHEUS_URL).",
        ),
        click.option("--prometheus-token-file", help="File holding a bearer token."),
        click.option("--prometheus-ca-file", help="CA bundle for Prometheus TLS."),
        click.option(
            "--prometheus-insecure",
            is_flag=True,
            default=None,
            help="Skip Prometheus TLS verification.",
        ),
        click.option(
            "--on-interrupt",
            type=click.Choice(["abort", "leave"]),
            help="On SIGINT/SIGTERM: roll back (default) or leave as is.",
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            default=None,
            help="Print the plan; the server validates the writes, nothing persists.",
        ),
        click.option(
            "--force",
            is_flag=True,
            default=None,
            help="Roll out even if the image is already running.",
        ),
        click.option(
            "--wait",
            "wait_for_lock",
            is_flag=True,
            default=None,
            help="Wait for another rollout of this Deployment to finish.",
        ),
        click.option(
            "--wait-at-pause",
            is_flag=True,
            help="At a manual pause, wait for `rollout promote`/`abort` even without a TTY "
            "(default there: exit 4).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def with_options(fn: _FC, options: list[OptionSpec]) -> _FC:
    """Apply options kept as data to a function (or to a click command, appending)."""
    for decls, kwargs in reversed(options):
        fn = click.option(*decls, **kwargs)(fn)
    return fn


def _opt(*decls: str, **kwargs: Any) -> OptionSpec:
    """A click option kept as data, so `run -f` can offer every strategy's options too."""
    return decls, kwargs


def _pause_option() -> OptionSpec:
    return _opt(
        "--pause", help="After each step passes: wait this long (2m), or 'manual' (for promote)."
    )


def _step_options() -> list[OptionSpec]:
    return [
        _opt("--steps", help="Traffic shares to the new version, e.g. 10,25,50."),
        _pause_option(),
    ]


# One command per strategy: name -> (help text, its own options), in registration order.
STRATEGY_COMMANDS: dict[str, tuple[str, list[OptionSpec]]] = {
    "rolling": (
        "Native rolling update, optionally paused at batch boundaries.",
        [
            _opt("--batches", help="Pause and analyse at these shares, e.g. 25%,50%,100%."),
            _opt("--max-surge", help="maxSurge for this rollout (int or %)."),
            _opt("--max-unavailable", help="maxUnavailable for this rollout (int or %)."),
            _pause_option(),
        ],
    ),
    "recreate": ("Stop all old pods, then start the new version.", [_pause_option()]),
    "bluegreen": (
        "A second Deployment comes up; the Service swaps in one write.",
        [
            _opt("--preview-service", help="Service pointed at the new colour before the swap."),
            _opt(
                "--pre-promotion-check",
                "pre_promotion_checks",
                multiple=True,
                help="Check on the new colour before the swap (same syntax as --check).",
            ),
            _opt(
                "--post-promotion-check",
                "post_promotion_checks",
                multiple=True,
                help="Check after the swap, while the old colour is kept up.",
            ),
            _opt(
                "--auto-promote/--no-auto-promote",
                default=None,
                help="Swap without waiting for `rollout promote` (default: auto).",
            ),
            _opt("--scale-down-delay", help="Keep the old colour up this long (default 30s)."),
        ],
    ),
    "canary": (
        "A <name>-canary Deployment takes a share of the pods, in steps.",
        [
            *_step_options(),
            _opt(
                "--shrink-stable",
                is_flag=True,
                default=None,
                help="Shrink stable as the canary grows (total pods constant).",
            ),
        ],
    ),
    "istio-canary": (
        "Canary by Istio VirtualService weights, in steps.",
        [
            *_step_options(),
            _opt("--virtual-service", help="VirtualService routing the host (else discovered)."),
            _opt("--destination-rule", help="DestinationRule for the host (else discovered)."),
            _opt(
                "--match-header", help="Send requests with this header to the canary: NAME=VALUE."
            ),
            _opt("--mirror", type=int, help="Mirror this percentage of traffic to the canary."),
            _opt(
                "--create-routing",
                is_flag=True,
                default=None,
                help="Create the VirtualService/DestinationRule if none exist (owned by rollout).",
            ),
        ],
    ),
}

# Every strategy-specific option, by flag (first seen keeps its place), for `run -f`.
STRATEGY_OPTIONS: dict[str, OptionSpec] = {
    decls[0]: (decls, kwargs)
    for _help, extra in STRATEGY_COMMANDS.values()
    for decls, kwargs in extra
}


def build_overrides(kw: dict[str, Any]) -> Any:
    """Every option that names a SpecOverrides field, as given (None: not given)."""
    import dataclasses

    from rollout import analysis, spec

    given = {
        f.name: kw[f.name]
        for f in dataclasses.fields(spec.SpecOverrides)
        if kw.get(f.name) not in (None, ())
    }
    for name in ("checks", "pre_promotion_checks", "post_promotion_checks"):
        given[name] = tuple(analysis.parse_check(c) for c in kw.get(name) or ())
    if kw.get("wait_for_lock"):
        given["wait"] = True
    return spec.SpecOverrides(**given)
