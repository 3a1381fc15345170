"""Command line: parse options, hand them to the engine or the sandbox, map results to exit codes.

No logic of its own; heavy modules (kubernetes, the sandbox) are imported inside
commands so `rollout --help` stays fast.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rollout")
def main() -> None:
    """Progressive delivery for plain Kubernetes Deployments, gated on Prometheus."""


@main.group()
def sandbox() -> None:
    """A local Kubernetes API (with controllers and traffic metrics) to try rollout on."""


@sandbox.command("up")
@click.option("--port", type=int, default=0, show_default="a free port",
              help="Port on 127.0.0.1 to serve the API (and /metrics) on.")
@click.option("--kubeconfig", "kubeconfig_path", type=click.Path(dir_okay=False),
              default="./sandbox.kubeconfig", show_default=True,
              help="Where to write a kubeconfig for kubectl and rollout.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Sandbox config: per-image behaviour and traffic (YAML).")
@click.option("--example", is_flag=True,
              help="Deploy the link-manager example (Deployment, Service, VirtualService).")
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
    box.start()
    if example:
        box.apply_file(EXAMPLES / "manifests" / "link-manager.yaml")
    path = box.write_kubeconfig(kubeconfig_path)
    click.echo(f"sandbox API on {box.url} (metrics: {box.url}/metrics)")
    click.echo(f"kubeconfig written to {path}; try:")
    click.echo(f"  kubectl --kubeconfig {path} get deploy,rs,po,svc,ep")
    click.echo("Ctrl-C stops it.")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        box.stop()
        click.echo("sandbox stopped")
    sys.exit(0)
