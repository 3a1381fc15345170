"""Command line: parse options into a spec, hand it to the engine, map the result to an
exit code (README "Exit codes"). No logic of its own; heavy modules (kubernetes, the
sandbox, Prometheus client) are imported inside commands so `rollout --help` stays fast.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rollout.engine import Engine
    from rollout.report import Result

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
OUTPUTS = click.Choice(["text", "json"])


def global_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """kubectl-style options every command takes, in any position."""
    options = [
        click.option("--kubeconfig", envvar="KUBECONFIG", help="Path to the kubeconfig file."),
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


def command(fn: Callable[..., Result | int]) -> Callable[..., None]:
    """Run a command body, printing RolloutErrors as one line with their exit code."""

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> None:
        from rollout import errors, report

        debug, output = kwargs.get("debug", False), kwargs.get("output", "text")
        report.configure_logging(
            log_format=_log_format(kwargs.get("log_format", "auto")),
            verbose=kwargs.get("verbose", 0),
        )
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # a cancelled CI job
        try:
            result = fn(**kwargs)
        except KeyboardInterrupt:
            click.echo("interrupted before the rollout started; nothing was changed", err=True)
            sys.exit(130)
        except errors.RolloutError as e:
            if debug:
                raise
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)
        except Exception as e:
            if debug:
                raise
            click.echo(
                f"error: unexpected {type(e).__name__}: {e} (--debug for a traceback)", err=True
            )
            sys.exit(5)
        click.get_current_context().close()  # stops the live view before the last word
        if isinstance(result, int):
            sys.exit(result)
        report.print_result(result, output=output)
        sys.exit(result.exit_code)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rollout")
def main() -> None:
    """Progressive delivery for plain Kubernetes Deployments, gated on Prometheus.

    Exit codes: 0 promoted, 1 rolled back, 2 bad input (nothing changed), 3 locked by
    another rollout, 4 paused for `rollout promote`, 5 API/Prometheus unreachable.
    """


OptionSpec = tuple[tuple[str, ...], dict[str, Any]]
STRATEGY_OPTIONS: dict[str, OptionSpec] = {}  # every strategy-specific option, by flag


def _opt(*decls: str, **kwargs: Any) -> OptionSpec:
    """A click option kept as data, so `run -f` can offer every strategy's options too."""
    return decls, kwargs


def _with_options(fn: Callable[..., Any], options: list[OptionSpec]) -> Callable[..., Any]:
    for decls, kwargs in reversed(options):
        fn = click.option(*decls, **kwargs)(fn)
    return fn


def _rollout_command(kind: str, help_text: str, extra: list[OptionSpec]) -> None:
    def body(name: str, **kw: Any) -> Result:
        from rollout import spec as specs

        engine, namespace = _engine(kw)
        overrides = _overrides(kw)
        return engine.start(
            specs.spec_from_flags(
                specs.StrategyKind(kind), name, namespace=namespace, overrides=overrides
            )
        )

    STRATEGY_OPTIONS.update({decls[0]: (decls, kwargs) for decls, kwargs in extra})
    fn = _with_options(command(body), extra)
    fn = rollout_options(global_options(fn))
    fn = click.argument("name")(fn)
    main.command(kind, help=help_text)(fn)


_rollout_command(
    "rolling",
    "Native rolling update, optionally paused at batch boundaries.",
    [
        _opt("--batches", help="Pause and analyse at these shares, e.g. 25%,50%,100%."),
        _opt("--max-surge", help="maxSurge for this rollout (int or %)."),
        _opt("--max-unavailable", help="maxUnavailable for this rollout (int or %)."),
    ],
)
_rollout_command("recreate", "Stop all old pods, then start the new version.", [])


def _step_options() -> list[OptionSpec]:
    return [
        _opt("--steps", help="Traffic shares to the new version, e.g. 10,25,50."),
        _opt("--pause", help="At each step: a duration (2m) or 'manual' (promote)."),
    ]


_rollout_command(
    "bluegreen",
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
)
_rollout_command(
    "canary",
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
)
_rollout_command(
    "istio-canary",
    "Canary by Istio VirtualService weights, in steps.",
    [
        *_step_options(),
        _opt("--virtual-service", help="VirtualService routing the host (else discovered)."),
        _opt("--destination-rule", help="DestinationRule for the host (else discovered)."),
        _opt("--match-header", help="Send requests with this header to the canary: NAME=VALUE."),
        _opt("--mirror", type=int, help="Mirror this percentage of traffic to the canary."),
        _opt(
            "--create-routing",
            is_flag=True,
            default=None,
            help="Create the VirtualService/DestinationRule if none exist (owned by rollout).",
        ),
    ],
)


@main.command("run")
@click.option(
    "-f",
    "--filename",
    required=True,
    type=click.Path(dir_okay=False),
    help="rollout.yaml describing target, strategy, image and checks.",
)
@rollout_options
@global_options
def run_file(filename: str, **kw: Any) -> None:
    """Run the rollout described in a YAML file (flags override its fields)."""
    _run_file(filename=filename, **kw)


def _run_file_body(filename: str, **kw: Any) -> Result:
    from rollout import spec as specs

    engine, namespace = _engine(kw)
    return engine.start(
        specs.spec_from_file(filename, namespace=namespace, overrides=_overrides(kw))
    )


_run_file = command(_run_file_body)
run_file = _with_options(run_file, list(STRATEGY_OPTIONS.values()))


@main.command("resume")
@click.argument("name")
@click.option("--wait", "wait_for_lock", is_flag=True, help="Wait for the lock.")
@global_options
@command
def resume(name: str, wait_for_lock: bool, **kw: Any) -> Result:
    """Continue a rollout from its record (after a pause, a crash, or kill -9)."""
    engine, namespace = _engine(kw)
    return engine.resume(_ref(namespace, name), wait_for_lock=wait_for_lock)


@main.command("abort")
@click.argument("name")
@global_options
@command
def abort(name: str, **kw: Any) -> Result:
    """Roll a rollout in progress back to stable (from any process)."""
    from rollout.state import Request

    engine, namespace = _engine(kw)
    return engine.request(_ref(namespace, name), Request.ABORT)


@main.command("promote")
@click.argument("name")
@click.option("--full", is_flag=True, help="No more pauses: run the remaining steps through.")
@global_options
@command
def promote(name: str, full: bool, **kw: Any) -> Result:
    """Let a paused rollout go past its pause (or to the end with --full)."""
    from rollout.state import Request

    engine, namespace = _engine(kw)
    return engine.request(_ref(namespace, name), Request.PROMOTE_FULL if full else Request.PROMOTE)


@main.command("history")
@click.argument("name")
@global_options
@command
def history(name: str, output: str, **kw: Any) -> int:
    """Revisions of the Deployment (ReplicaSets) with their images, newest first."""
    from rollout import status as show

    engine, namespace = _engine({**kw, "output": output})
    show.print_history(engine.history(_ref(namespace, name)), output=output)
    return 0


@main.command("status")
@click.argument("name")
@click.option("-w", "--watch", is_flag=True, help="Print again on every change until it ends.")
@global_options
@command
def status(name: str, output: str, watch: bool, **kw: Any) -> int:
    """Show the rollout record: strategy, phase, steps, traffic, analysis values."""
    from rollout import status as show

    engine, namespace = _engine({**kw, "output": output})
    target = _ref(namespace, name)
    for record in engine.watch_status(target) if watch else [engine.status(target)]:
        show.print_status(target, record, output=output)
        sys.stdout.flush()
    return 0


def run() -> None:
    """Console entry point: click usage errors become one line with exit code 2.

    Ends with os._exit after flushing: the work is done, and tearing down the imported
    kubernetes client costs 0.1-0.2 s per command for nothing (bench/engine_bench.py).
    """
    code = 0
    try:
        main.main(standalone_mode=False)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except click.UsageError as e:
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
        click.echo(f"error: {e.format_message()}{hint}", err=True)
        code = 2
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        code = e.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _log_format(choice: str) -> str:
    """Log line format; "auto" is key=value text (the TTY view is chosen separately)."""
    return "text" if choice == "auto" else choice


def _ref(namespace: str, name: str) -> Any:
    from rollout.spec import ObjectRef

    return ObjectRef(namespace, name)


def _engine(kw: dict[str, Any]) -> tuple[Engine, str]:
    """Connect to the cluster and build the engine the command needs."""
    from rollout import kube, report
    from rollout import settings as tunables
    from rollout.engine import Engine
    from strategies import REGISTRY

    settings = tunables.from_env()
    cluster = kube.Cluster.connect(
        kubeconfig=kw.get("kubeconfig"),
        context=kw.get("context"),
        namespace=kw.get("namespace"),
        settings=settings,
    )
    cluster.check_reachable()
    live = kw.get("log_format") == "auto" and sys.stderr.isatty() and kw.get("output") != "json"
    reporter = report.LiveReporter() if live else report.LogReporter()
    engine = Engine(
        cluster=cluster,
        settings=settings,
        strategies=dict(REGISTRY),
        metrics_for=functools.partial(_provider, settings=settings),
        reporter=reporter,
        interactive=sys.stdin.isatty() or bool(kw.get("wait_at_pause")),
    )
    click.get_current_context().call_on_close(engine.close)
    return engine, cluster.namespace


def _provider(prometheus: Any, *, settings: Any) -> Any:
    from rollout import metrics

    return metrics.PrometheusProvider(prometheus, settings=settings)


def _overrides(kw: dict[str, Any]) -> Any:
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
