"""Command line: parse options into a spec, hand it to the engine, map the result to an
exit code (README "Exit codes"). No logic of its own; heavy modules (kubernetes, the
sandbox, Prometheus client) are imported inside commands so `rollout --help` stays fast.
The options are in `cli_options`; `demo` and `sandbox up` are in `cli_sandbox`.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from rollout import cli_options

if TYPE_CHECKING:
    from rollout.engine import Engine
    from rollout.report import Result


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


def _rollout_command(kind: str, help_text: str, extra: list[cli_options.OptionSpec]) -> None:
    def body(name: str, **kw: Any) -> Result:
        from rollout import spec as specs

        engine, namespace = _engine(kw)
        overrides = cli_options.build_overrides(kw)
        return engine.start(
            specs.spec_from_flags(
                specs.StrategyKind(kind), name, namespace=namespace, overrides=overrides
            )
        )

    fn = cli_options.with_options(command(body), extra)
    fn = cli_options.rollout_options(cli_options.global_options(fn))
    fn = click.argument("name")(fn)
    main.command(kind, help=help_text)(fn)


for _kind, (_help_text, _extra) in cli_options.STRATEGY_COMMANDS.items():
    _rollout_command(_kind, _help_text, _extra)


@main.command("run")
@click.option(
    "-f",
    "--filename",
    required=True,
    type=click.Path(dir_okay=False),
    help="rollout.yaml describing target, strategy, image and checks.",
)
@cli_options.rollout_options
@cli_options.global_options
def run_file(filename: str, **kw: Any) -> None:
    """Run the rollout described in a YAML file (flags override its fields)."""
    _run_file(filename=filename, **kw)


def _run_file_body(filename: str, **kw: Any) -> Result:
    from rollout import spec as specs

    engine, namespace = _engine(kw)
    return engine.start(
        specs.spec_from_file(
            filename, namespace=namespace, overrides=cli_options.build_overrides(kw)
        )
    )


_run_file = command(_run_file_body)
run_file = cli_options.with_options(run_file, list(cli_options.STRATEGY_OPTIONS.values()))


@main.command("resume")
@click.argument("name")
@click.option("--wait", "wait_for_lock", is_flag=True, help="Wait for the lock.")
@cli_options.global_options
@command
def resume(name: str, wait_for_lock: bool, **kw: Any) -> Result:
    """Continue a rollout from its record (after a pause, a crash, or kill -9)."""
    engine, namespace = _engine(kw)
    return engine.resume(_ref(namespace, name), wait_for_lock=wait_for_lock)


@main.command("abort")
@click.argument("name")
@cli_options.global_options
@command
def abort(name: str, **kw: Any) -> Result:
    """Roll a rollout in progress back to stable (from any process)."""
    from rollout.state import Request

    engine, namespace = _engine(kw)
    return engine.request(_ref(namespace, name), Request.ABORT)


@main.command("promote")
@click.argument("name")
@click.option("--full", is_flag=True, help="No more pauses: run the remaining steps through.")
@cli_options.global_options
@command
def promote(name: str, full: bool, **kw: Any) -> Result:
    """Let a paused rollout go past its pause (or to the end with --full)."""
    from rollout.state import Request

    engine, namespace = _engine(kw)
    return engine.request(_ref(namespace, name), Request.PROMOTE_FULL if full else Request.PROMOTE)


@main.command("history")
@click.argument("name")
@cli_options.global_options
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
@cli_options.global_options
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


# Last, so that `main` and `command` exist: registers `demo` and `sandbox` on `main`.
from rollout import cli_sandbox  # noqa: E402, F401
