"""``tradebrain`` command line: data, train, backtest, report, quickstart, walk-forward, tune and the live path.

Examples (the text of ``tradebrain --help``: :data:`EXAMPLES`)::

    tradebrain quickstart
    tradebrain quickstart --data my_bars.csv
    tradebrain train --config quickstart --set train.total_timesteps=20000 --set stack.tiers.tier1=false
    tradebrain backtest --run runs/quickstart-20260101-120000 --model best
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from agents.bundle import BundleError
from envs.data import DataError
from experiments import export, meta_train, paper, service, tune, walkforward
from experiments.config import ConfigError, RunConfig, load_config

logger = logging.getLogger("tradebrain")

DESCRIPTION = "tradebrain: a four-tier self-learning trading brain. Train, test against baselines, report."
EXAMPLES = """examples:
  tradebrain quickstart                        what `make run` runs: train, test, report, export
  tradebrain quickstart --data my_bars.csv     the same on your own CSV/Parquet bars (windows split automatically)
  tradebrain train --set train.total_timesteps=20000 --set stack.tiers.tier1=false
  tradebrain backtest --run runs/quickstart-20260101-120000 --model final
  tradebrain report --run runs/quickstart-20260101-120000
  tradebrain report --run R1 --run R2 --run R3 --out runs/spread   runs of one config by seed: their spread
  tradebrain meta-train --set meta.iterations=50   Tier 4: meta-train the specialists and the selector
  tradebrain data sp500                        describe a dataset: sp500, nasdaq, sp500+vix or a file

Every command has --help. Config keys are dotted (train.total_timesteps, stack.tiers.tier2_fit_bars); the
configs are YAML files under experiments/configs/."""


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("tradebrain").setLevel(logging.INFO)
    if not verbose:
        logging.getLogger("envs.risk").setLevel(logging.WARNING)


def _config(args: argparse.Namespace) -> RunConfig:
    """The config of --config, --data, --windows, --set and --timesteps (train() checks it against the data)."""
    overrides = list(args.set or [])
    if getattr(args, "timesteps", None):
        overrides.append(f"train.total_timesteps={args.timesteps}")
    return load_config(args.config, overrides=overrides, data=args.data, windows=args.windows)


def _run_config(run_dir: Path) -> RunConfig:
    path = run_dir / "config.yaml"
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml); give the folder `tradebrain train` printed")
    return load_config(path)


def _print_summary(run_dir: Path, results: dict, seconds: float | None = None) -> None:  # type: ignore[type-arg]
    from experiments.report import metrics_table, verdict_text

    print()
    print(metrics_table(results))
    print("\n" + verdict_text(results))
    print()
    print(f"run folder : {run_dir}")
    print(f"report     : {run_dir / 'report.md'}")
    print(f"TensorBoard: .venv/bin/tensorboard --logdir {run_dir / 'tb'}   (then open http://localhost:6006)")
    if seconds is not None:
        print(f"wall time  : {seconds:.0f} s")


def cmd_train(args: argparse.Namespace) -> int:
    from experiments.train import train

    result = train(_config(args))
    print(f"trained in {result.seconds:.0f} s ({result.steps_per_second:.0f} steps/s); run folder: {result.run_dir}")
    print(f"checkpoints scored on the validation window (trials for the DSR of the best model): {result.evaluations}")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from experiments.evaluate import evaluate, policy_name
    from experiments.train import model_path, show_progress

    run_dir = Path(args.run)
    if (run_dir / "tier4" / "tier4.json").is_file():  # a `tradebrain meta-train` run: Tier 4 online
        return _backtest_tier4(run_dir)
    cfg = _run_config(run_dir)
    model = model_path(run_dir, args.model)
    name = policy_name(run_dir, model)  # ppo (best) and ppo_final (final) are kept side by side
    print(f"backtest of {model} as {name!r} (results in {run_dir / 'backtest' / name})")
    results = evaluate(cfg, run_dir, model, progress=show_progress(), name=name)
    _print_summary(run_dir, results)
    return 0


def _backtest_tier4(run_dir: Path) -> int:
    """Backtest a meta-train run's Tier 4 (``meta.brain.Tier4Policy``) and the baselines on its test window."""
    from experiments.meta_train import backtest_tier4, load_meta
    from experiments.report import write_report
    from meta.brain import Tier4

    _, cfg = load_meta(run_dir / "config.yaml")
    print(f"backtest of Tier 4 ({run_dir / 'tier4'}) as 'tier4' (results in {run_dir / 'backtest' / 'tier4'})")
    results = backtest_tier4(cfg, Tier4.load(run_dir / "tier4"), run_dir)
    write_report(run_dir, results, title=f"Tier 4 backtest: {cfg.stack.data}", policy_name="tier4")
    _print_summary(run_dir, results)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from experiments.evaluate import rebuild_report

    runs = [Path(r) for r in args.run]
    if len(runs) > 1:  # one config, several seeds: the spread
        from experiments.seed_report import write_seed_report

        out = Path(args.out) if args.out else runs[0]
        path = write_seed_report(runs, out)
        print(f"seed report: {path}   (written to {'--out' if args.out else 'the first run folder'}: {out})")
        return 0
    run_dir = runs[0]
    if walkforward.is_walkforward_run(run_dir):
        return walkforward.cmd_report(run_dir)
    print(f"report: {rebuild_report(run_dir, _run_config(run_dir))}")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    from experiments.evaluate import evaluate
    from experiments.train import show_progress, train

    t0 = time.perf_counter()
    cfg = _config(args)
    print(
        f"[1/2] training PPO on the Tier 1+2 stack: {cfg.stack.data} {cfg.stack.train[0]} .. {cfg.stack.train[1]}, "
        f"{cfg.train.total_timesteps} steps"
    )
    result = train(cfg)
    print(f"      {result.seconds:.0f} s, {result.steps_per_second:.0f} steps/s")
    print(f"[2/2] backtest against the baselines on {cfg.stack.test[0]} .. {cfg.stack.test[1]}")
    model = result.best_model_path or result.model_path
    results = evaluate(cfg, result.run_dir, model, progress=show_progress())
    _print_summary(result.run_dir, results, time.perf_counter() - t0)
    bundle = result.run_dir / "bundle"
    export.export_bundle(result.run_dir, bundle, which="best" if result.best_model_path else "final")
    print(f"bundle     : {bundle}   (serve it: .venv/bin/tradebrain serve --bundle {bundle})")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from envs.data import load
    from envs.features import compute_features

    data = load(args.source)
    feats = compute_features(data)
    print(f"{data.name}: {len(data)} bars, {data.index[0].date()} .. {data.index[-1].date()}")
    print(f"components: {'from the data' if data.components is not None else 'computed from OHLCV (envs.features)'}")
    print(f"vix: {'yes' if data.vix is not None else 'no'}; first bar with all features: {feats.first_valid}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradebrain",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser, default: str) -> None:
        p.add_argument("--config", default=default, help="config name under experiments/configs/ or a YAML path")
        p.add_argument(
            "--data",
            metavar="FILE|NAME",
            help="bars to use (sets stack.data): a CSV/Parquet file (windows then default to auto) or a dataset",
        )
        p.add_argument(
            "--windows",
            choices=("auto",),
            help="auto: split the data's span 60/20/20 into train/val/test after the look-back (Tier 2 fit)",
        )
        p.add_argument(
            "--set",
            action="append",
            metavar="KEY=VALUE",
            help="override a dotted config key, e.g. train.total_timesteps=1e5 (repeatable)",
        )
        p.add_argument("--timesteps", type=int, metavar="N", help="shortcut for --set train.total_timesteps=N")

    p = sub.add_parser("quickstart", help="train, backtest against baselines, report (what `make run` runs)")
    with_config(p, "quickstart")
    p.set_defaults(func=cmd_quickstart)
    p = sub.add_parser("train", help="train PPO on the env stack; writes a run folder")
    with_config(p, "quickstart")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser(
        "backtest", help="evaluate a run's model (or a meta-train run's Tier 4) and the baselines on the test window"
    )
    p.add_argument("--run", required=True, help="run folder written by `tradebrain train` or `tradebrain meta-train`")
    p.add_argument(
        "--model",
        choices=("best", "final"),
        default="best",
        help="best: best/best_model.zip, results as 'ppo'; final: model.zip, results as 'ppo_final' beside them",
    )
    p.set_defaults(func=cmd_backtest)
    p = sub.add_parser(
        "report", help="rebuild report.md and plots from a run's backtest files; several --run: a seed spread"
    )
    p.add_argument(
        "--run",
        required=True,
        action="append",
        help="run folder; repeat it for runs of one config with different seeds (writes seeds.md)",
    )
    p.add_argument("--out", help="folder of the seed-spread report (default: the first run's folder)")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("data", help="describe a dataset or data file")
    p.add_argument(
        "source",
        help="sp500, nasdaq, sp500+vix / nasdaq+vix (joined with the bundled VIX, 2014-2018), "
        "synthetic:planted_edge[:seed], or a CSV/Parquet path",
    )
    p.set_defaults(func=cmd_data)
    walkforward.register(sub)
    tune.register(sub)
    meta_train.register(sub)
    for live in (export, service, paper):  # export, serve, paper: the live path (issue 10)
        live.register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tradebrain")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except (ConfigError, DataError, FileNotFoundError, BundleError) as exc:
        print(f"tradebrain {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (a library's multi-line text joined with ``"; "``)."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


if __name__ == "__main__":
    sys.exit(main())
