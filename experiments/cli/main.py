"""``tradebrain``: the parser, the dispatch table and the one-line errors.

Examples (the text of ``tradebrain --help``: :data:`EXAMPLES`)::

    tradebrain quickstart
    tradebrain quickstart --data my_bars.csv
    tradebrain train --config quickstart --set train.total_timesteps=20000 --set stack.tiers.tier1=false
    tradebrain backtest --run runs/quickstart-sp500-20260101-120000 --model best
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib import import_module

DESCRIPTION = "tradebrain: a four-tier self-learning trading brain. Train, test against baselines, report."
EXAMPLES = """examples:
  tradebrain quickstart                        what `make run` runs: train, test, report, export
  tradebrain quickstart --data my_bars.csv     the same on your own CSV/Parquet bars (windows split automatically)
  tradebrain train --set train.total_timesteps=20000 --set stack.tiers.tier1=false
  tradebrain backtest --run runs/quickstart-sp500-20260101-120000 --model final
  tradebrain report --run runs/quickstart-sp500-20260101-120000
  tradebrain report --run R1 --run R2 --run R3 --out runs/spread   runs of one config by seed: their spread
  tradebrain meta-train --set meta.maml.iterations=50   Tier 4: meta-train the specialists and the selector
  tradebrain data sp500                        describe a dataset: sp500, nasdaq, sp500+vix or a file

Every command has --help. Config keys are dotted (train.total_timesteps, stack.tiers.tier2_fit_bars); the
configs are YAML files under experiments/config/presets/."""

COMMAND_MODULES: tuple[str, ...] = (
    "experiments.cli.run",  # quickstart, train, backtest, report, data
    "experiments.cli.walkforward",  # walk-forward, ablate
    "experiments.cli.tune",  # tune
    "experiments.cli.meta",  # meta-train
    "experiments.cli.live",  # export, serve, paper
)
"""Modules whose ``register(subparsers)`` adds their commands; each imports only argparse at the top."""


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("tradebrain").setLevel(logging.INFO)
    if not verbose:
        logging.getLogger("envs.risk").setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    """The ``tradebrain`` parser with every command (their handlers are not imported)."""
    parser = argparse.ArgumentParser(
        prog="tradebrain",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        import_module(name).register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tradebrain")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown (not installed)"


def user_errors() -> tuple[type[BaseException], ...]:
    """The errors a user's input causes: printed as one line with exit code 2 (imported once a command ran)."""
    from envs.market import DataError
    from experiments.config.errors import ConfigError
    from experiments.live.bundle import BundleError

    return (ConfigError, DataError, FileNotFoundError, BundleError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except Exception as exc:
        if not isinstance(exc, user_errors()):
            raise
        print(f"tradebrain {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (a library's multi-line text joined with ``"; "``)."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


if __name__ == "__main__":
    sys.exit(main())
