"""``tradebrain meta-train``: Tier 4's specialists and selector, and the rule adapter's prior (see
:mod:`experiments.training.meta`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _rules_line(ra: dict[str, Any], root: Path) -> str:
    return (
        f"rule adapter: {ra['file']} ({ra['method']} prior from {ra['tasks']} synthetic training tasks of "
        f"{ra['bars']} bars, {ra['seconds']:.0f} s); bundle it: tradebrain export --run {root} --tier4 rules"
    )


def _rules_only(args: argparse.Namespace) -> int:
    """Fit only the rule adapter; a run folder that has a config.yaml keeps it and is fitted with it."""
    from experiments.training.meta import fit_rule_adapter, load_meta, write_config

    kept = Path(args.run) / "config.yaml" if args.run else None
    kept = kept if kept is not None and kept.is_file() and args.config is None else None
    mc, cfg = load_meta(kept or args.config or "meta", args.set or [])
    root = Path(args.run) if args.run else Path(cfg.runs_dir) / cfg.name
    if kept is None:
        write_config(mc, cfg, root)
    print(_rules_line(fit_rule_adapter(mc, cfg, root), root))
    return 0


def _cmd(args: argparse.Namespace) -> int:
    from experiments.cli.run import tensorboard_command
    from experiments.training.meta import load_meta, run_meta_train, summary_table

    if args.rules_only:
        return _rules_only(args)
    mc, cfg = load_meta(args.config or "meta", args.set or [])
    root = Path(args.run) if args.run else Path(cfg.runs_dir) / cfg.name
    print(
        f"meta-training 3 specialists ({mc.maml.algorithm}, order {mc.maml.order}, {mc.maml.iterations} iterations "
        f"x {mc.maml.meta_batch} {mc.tasks} tasks) and the selector; "
        f"TensorBoard: {tensorboard_command(root / 'tb')}"
    )
    result = run_meta_train(mc, cfg, root)
    print("mean net return per decision on held-out tasks after K trades, basis points:")
    print(summary_table(result))
    if "backtest" in result:
        bt = result["backtest"]
        print(
            f"\nbacktest on {bt['window'][0]} .. {bt['window'][1]} (Tier 4 online: explore 6 round-robin decisions, "
            f"then the selector's pick, every 24 decisions; picks {bt['selector_picks']}):"
        )
        print(bt["table"])
    if "rule_adapter" in result:
        print(_rules_line(result["rule_adapter"], root))
    print(f"run folder: {root}   (Tier 4: {root / 'tier4'}; evaluation: {root / 'meta_eval.json'})")
    print(f"wall time : {result['seconds']:.0f} s")
    return 0


def register(sub: Any) -> None:
    """Add ``meta-train`` to the ``tradebrain`` subcommands."""
    p = sub.add_parser("meta-train", help="meta-train Tier 4: three specialists (MAML) and the selector network")
    p.add_argument("--config", help="config name under experiments/config/presets/ or a YAML path (default meta)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a key, e.g. meta.maml.iterations=50")
    p.add_argument("--run", help="run folder (default <runs_dir>/<name>)")
    p.add_argument(
        "--rules-only",
        action="store_true",
        help="fit only Tier 4's rule adapter into RUN/rule_adapter.json (seconds; a RUN/config.yaml is kept and used)",
    )
    p.set_defaults(func=_cmd)
