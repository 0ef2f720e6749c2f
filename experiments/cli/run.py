"""``tradebrain quickstart | train | backtest | report | data``: one run, from training to its report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any


def with_config(p: argparse.ArgumentParser, default: str) -> None:
    """The options every command that takes a run config has: --config, --data, --windows, --set, --timesteps."""
    p.add_argument("--config", default=default, help="config name under experiments/config/presets/ or a YAML path")
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


def load_run_config(args: argparse.Namespace) -> Any:
    """The config of --config, --data, --windows, --set and --timesteps (train() checks it against the data)."""
    from experiments.config import load_config

    overrides = list(args.set or [])
    if getattr(args, "timesteps", None):
        overrides.append(f"train.total_timesteps={args.timesteps}")
    return load_config(args.config, overrides=overrides, data=args.data, windows=args.windows)


def checked_config(args: argparse.Namespace) -> Any:
    """:func:`load_run_config`, checked against its data (windows, look-back, env settings) before any work;
    what the run will go without (e.g. no evaluation) as one warning line each on stderr."""
    from experiments.config import check_data_fit, config_warnings

    cfg = load_run_config(args)
    check_data_fit(cfg.stack)
    for line in config_warnings(cfg):
        print(f"tradebrain {args.command}: warning: {line}", file=sys.stderr)
    return cfg


def run_folder_config(run_dir: Path) -> Any:
    """The resolved config a run folder holds; ConfigError when the folder is not a run's."""
    from experiments.config import ConfigError, load_config

    path = run_dir / "config.yaml"
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml); give the folder `tradebrain train` printed")
    return load_config(path)


def tensorboard_command(logdir: Path) -> str:
    """The command that opens ``logdir`` in TensorBoard, with the path of this environment's ``tensorboard`` as the
    user can type it from where they are (``.venv/bin/tensorboard`` in the checkout, an absolute path elsewhere)."""
    exe = Path(sys.executable).with_name("tensorboard")
    try:
        shown = exe.relative_to(Path.cwd())
    except ValueError:
        shown = exe
    return f"{shown} --logdir {logdir}"


def print_summary(run_dir: Path, results: dict, seconds: float | None = None) -> None:  # type: ignore[type-arg]
    """The metrics table, the verdict and where the run's files are."""
    from experiments.reporting.report import metrics_table, verdict_text

    print()
    print(metrics_table(results))
    print("\n" + verdict_text(results))
    print()
    print(f"run folder : {run_dir}")
    print(f"report     : {run_dir / 'report.md'}")
    print(f"TensorBoard: {tensorboard_command(run_dir / 'tb')}   (then open http://localhost:6006)")
    if seconds is not None:
        print(f"wall time  : {seconds:.0f} s")


def cmd_train(args: argparse.Namespace) -> int:
    cfg = checked_config(args)
    from experiments.training.train import train

    result = train(cfg)
    print(f"trained in {result.seconds:.0f} s ({result.steps_per_second:.0f} steps/s); run folder: {result.run_dir}")
    print(f"checkpoints scored on the validation window (trials for the DSR of the best model): {result.evaluations}")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from experiments.evaluation.backtest import show_progress
    from experiments.evaluation.runfiles import model_path
    from experiments.reporting.evaluate import evaluate, policy_name

    run_dir = Path(args.run)
    if (run_dir / "tier4" / "tier4.json").is_file():  # a `tradebrain meta-train` run: Tier 4 online
        return _backtest_tier4(run_dir)
    cfg = run_folder_config(run_dir)
    model = model_path(run_dir, args.model)
    name = policy_name(run_dir, model)  # ppo (best) and ppo_final (final) are kept side by side
    print(f"backtest of {model} as {name!r} (results in {run_dir / 'backtest' / name})")
    results = evaluate(cfg, run_dir, model, progress=show_progress(), name=name)
    print_summary(run_dir, results)
    return 0


def _backtest_tier4(run_dir: Path) -> int:
    """Backtest a meta-train run's Tier 4 (``meta.brain.Tier4Policy``) and the baselines on its test window."""
    from experiments.reporting.report import write_report
    from experiments.training.meta import backtest_tier4, load_meta
    from meta.brain import Tier4

    _, cfg = load_meta(run_dir / "config.yaml")
    print(f"backtest of Tier 4 ({run_dir / 'tier4'}) as 'tier4' (results in {run_dir / 'backtest' / 'tier4'})")
    results = backtest_tier4(cfg, Tier4.load(run_dir / "tier4"), run_dir)
    write_report(run_dir, results, title=f"Tier 4 backtest: {cfg.stack.data}", policy_name="tier4")
    print_summary(run_dir, results)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from experiments.reporting.evaluate import rebuild_report
    from experiments.walkforward.runner import is_walkforward_run

    runs = [Path(r) for r in args.run]
    if len(runs) > 1:  # one config, several seeds: the spread
        from experiments.reporting.seeds import write_seed_report

        out = Path(args.out) if args.out else runs[0]
        path = write_seed_report(runs, out)
        print(f"seed report: {path}   (written to {'--out' if args.out else 'the first run folder'}: {out})")
        return 0
    run_dir = runs[0]
    if is_walkforward_run(run_dir):
        from experiments.walkforward.results import write_results

        print(f"results: {write_results(run_dir)}")
        return 0
    print(f"report: {rebuild_report(run_dir, run_folder_config(run_dir))}")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    cfg = checked_config(args)  # a config error answers before torch loads
    from experiments.evaluation.backtest import show_progress
    from experiments.live.export import export_bundle
    from experiments.reporting.evaluate import evaluate
    from experiments.training.train import train

    print(
        f"[1/2] training PPO on the Tier 1+2 stack: {cfg.stack.data} {cfg.stack.train[0]} .. {cfg.stack.train[1]}, "
        f"{cfg.train.total_timesteps} steps"
    )
    result = train(cfg)
    print(f"      {result.seconds:.0f} s, {result.steps_per_second:.0f} steps/s")
    print(f"[2/2] backtest against the baselines on {cfg.stack.test[0]} .. {cfg.stack.test[1]}")
    model = result.best_model_path or result.model_path
    results = evaluate(cfg, result.run_dir, model, progress=show_progress())
    print_summary(result.run_dir, results, time.perf_counter() - t0)
    bundle = result.run_dir / "bundle"
    export_bundle(result.run_dir, bundle, which="best" if result.best_model_path else "final")
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


def register(sub: Any) -> None:
    """Add quickstart, train, backtest, report and data to the subparsers."""
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
