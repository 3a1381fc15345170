"""Commands that run on the local sandbox: `rollout demo` and `rollout sandbox up`.

Registered on `cli.main` when `rollout.cli` is imported (it imports this module last).
The sandbox and the demo are imported inside the commands, never at module level, so
`rollout --help` stays fast and `sandbox` stays apart from the rest of `rollout`.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click

from rollout.cli import command, main  # names, not `cli.`: mypy then checks cli first

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@main.command("demo")
@click.argument("strategy", default="rolling")
@click.option(
    "--metrics",
    type=click.Choice(["auto", "prometheus", "counters"]),
    default="auto",
    show_default=True,
    help="Gate on a real Prometheus, on the sandbox's own counters, or Prometheus if installed.",
)
@click.option("--speed", type=float, default=5.0, show_default=True, help="Sandbox clock factor.")
@click.option("--interval", default="2s", show_default=True, help="Between measurements.")
@click.option("--count", type=int, default=3, show_default=True, help="Measurements per gate.")
@click.option(
    "--log-format",
    type=click.Choice(["auto", "text", "json"]),
    default="auto",
    show_default=True,
    help="Progress: live view on a TTY (auto), key=value lines, or JSON lines.",
)
@click.option("-v", "--verbose", count=True, help="More detail (repeatable).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@command
def demo(strategy: str, metrics: str, speed: float, interval: str, count: int, **kw: Any) -> int:
    """Try STRATEGY (default rolling) on a local sandbox: link-manager v1 -> v2 (promoted),
    then -> the failing v3 (rolled back). Exit 0 when both end as expected."""
    from rollout import demo as demos

    live = kw["log_format"] == "auto" and sys.stderr.isatty()
    options = demos.DemoOptions(
        strategy=strategy,
        metrics=demos.MetricsSource(metrics),
        speed=speed,
        interval=interval,
        count=count,
        live=live,
        verbose=kw["verbose"],
    )
    return demos.run_demo(options, echo=click.echo)


@main.group()
def sandbox() -> None:
    """A local Kubernetes API (with controllers and traffic metrics) to try rollout on."""


@sandbox.command("up")
@click.option(
    "--port",
    type=int,
    default=0,
    show_default="a free port",
    help="Port on 127.0.0.1 to serve the API (and /metrics) on.",
)
@click.option(
    "--kubeconfig",
    "kubeconfig_path",
    type=click.Path(dir_okay=False),
    default="./sandbox.kubeconfig",
    show_default=True,
    help="Where to write a kubeconfig for kubectl and rollout.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Sandbox config: per-image behaviour and traffic (YAML).",
)
@click.option(
    "--example",
    is_flag=True,
    help="Deploy the link-manager example (Deployment, Service, VirtualService).",
)
def sandbox_up(port: int, kubeconfig_path: str, config_path: str | None, example: bool) -> None:
    """Run the sandbox in the foreground until Ctrl-C."""
    from rollout.sandbox import ConfigError, Sandbox, SandboxConfig

    try:
        if config_path:
            config = SandboxConfig.from_yaml(config_path)
        else:
            config = SandboxConfig.from_yaml(EXAMPLES / "sandbox.yaml")
    except ConfigError as e:
        raise click.UsageError(str(e)) from e
    try:
        box = Sandbox(config, port=port)
    except OSError as e:
        raise click.UsageError(f"cannot listen on 127.0.0.1:{port}: {e.strerror}") from e
    # SIGINT/SIGTERM are blocked in every thread (the sandbox's inherit the mask) and taken
    # synchronously below: a Python-level handler can miss a signal that lands just as the
    # main thread blocks, and one that sets an Event can deadlock inside Event.wait.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    box.start()
    try:
        if example:
            box.apply_file(EXAMPLES / "manifests" / "link-manager.yaml")
        path = box.write_kubeconfig(kubeconfig_path)
        click.echo(f"sandbox API on {box.url} (metrics: {box.url}/metrics)")
        click.echo(f"kubeconfig written to {path}; try:")
        click.echo(f"  kubectl --kubeconfig {path} get deploy,rs,po,svc,ep")
        click.echo("Ctrl-C stops it.")
        signal.sigwait(stop_signals)
    finally:
        box.stop()
        click.echo("sandbox stopped")
    sys.exit(0)
