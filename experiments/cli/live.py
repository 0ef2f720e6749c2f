"""``tradebrain export | serve | paper``: the live path (see :mod:`experiments.live`); none of them imports torch
unless it exports a model."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add export, serve and paper to the subparsers."""
    _register_export(sub)
    _register_serve(sub)
    _register_paper(sub)


def cmd_export(args: argparse.Namespace) -> int:
    """``tradebrain export --run RUN_DIR [--model best|final] [--tier4 specialists|rules] [--out DIR]``."""
    from experiments.live.export import export_bundle, export_rules_run, export_tier4, is_tier4_run

    run_dir = Path(args.run)
    if not (run_dir / "config.yaml").exists():
        raise FileNotFoundError(
            f"{run_dir} is not a run folder (no config.yaml); give the folder `tradebrain train` printed"
        )
    out = Path(args.out) if args.out else run_dir / ("bundle-rules" if args.tier4 == "rules" else "bundle")
    if args.tier4 == "rules":
        spec = export_rules_run(run_dir, out, start=args.start)
        adapter = spec["meta"]["rule_adapter"]
        print(f"bundle     : {out}")
        print(
            f"policy     : Tier 4 adapting online -> tier4_rules ({len(adapter['rules'])} menu rules, prior from "
            f"{spec['meta']['source']}, dense {adapter['dense']}, lcb {adapter['lcb']:g}; no network)"
        )
    elif is_tier4_run(run_dir):
        spec = export_tier4(run_dir, out, start=args.start)
        names = ", ".join(s["name"] for s in spec["meta"]["specialists"])
        print(f"bundle     : {out}")
        print(
            f"policy     : Tier 4 -> specialist_*.onnx ({names}) + selector.onnx "
            f"(max abs diff vs torch {spec['policy']['check']['max_abs_diff']:.2g})"
        )
    else:
        spec = export_bundle(run_dir, out, which=args.model, start=args.start)
        print(f"bundle     : {out}")
        print(
            f"policy     : {spec['source']['algo']} -> policy.onnx "
            f"(max abs diff vs SB3 {spec['policy']['check']['max_abs_diff']:.2g})"
        )
    print(f"live start : {spec['warmup']['start']} ({spec['warmup']['ticker']} warmed up)")
    print(f"serve it   : tradebrain serve --bundle {out}")
    return 0


def _register_export(sub: Any) -> None:
    """Add the ``export`` subcommand to the CLI's subparsers."""
    p = sub.add_parser("export", help="export a run's model as a bundle (ONNX policy + bundle.json) for live use")
    p.add_argument(
        "--run", required=True, help="run folder written by `tradebrain train` or `tradebrain meta-train` (Tier 4)"
    )
    p.add_argument(
        "--model",
        choices=("best", "final"),
        default="best",
        help="best: the checkpoint picked on the validation window (default); final: the last one trained",
    )
    p.add_argument(
        "--tier4",
        choices=("specialists", "rules"),
        default="specialists",
        help="for a meta-train run: specialists (the ONNX specialists and selector, default) or rules (the rule "
        "adapter of RUN/rule_adapter.json, bundle kind tier4_rules, default out RUN/bundle-rules)",
    )
    p.add_argument("--out", help="bundle folder (default RUN/bundle)")
    p.add_argument("--start", help="live start date (default: the run's test window start)")
    p.set_defaults(func=cmd_export)


def cmd_serve(args: argparse.Namespace) -> int:
    """``tradebrain serve --bundle DIR [--host 127.0.0.1] [--port 8000] [--store FILE] [--token-file FILE]``."""
    import uvicorn

    from experiments.config import ConfigError
    from experiments.live.service import TOKEN_ENV, resolve_token
    from experiments.live.service.app import create_app

    bundle = Path(args.bundle)
    store = Path(args.store) if args.store else bundle.parent / "live" / "journal.sqlite"
    token, source = resolve_token(args.token_file, store.parent)
    if len(token) < 16:
        raise ConfigError(
            f"the bearer token from {source} has {len(token)} characters, at least 16 are needed; e.g. "
            f'export {TOKEN_ENV}=$(python -c "import secrets; print(secrets.token_urlsafe(24))")'
        )
    app = create_app(bundle, store, token, synchronous=args.synchronous)
    # Everything loaded so far (libraries, the bundle, the restored brain) lives as long as the process: keep it out
    # of the cyclic collector's full passes (measured with the tiny bundle and 32 tickers: a full collection took
    # 76 ms before, 8 ms after; those pauses made the tail of the latency).
    gc.collect()
    gc.freeze()
    log = logging.getLogger("tradebrain.service")
    log.setLevel(args.log_level.upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    print(f"tradebrain serve: bundle {bundle}, store {store}, token from {source}", file=sys.stderr, flush=True)
    print(f"dashboard: http://{args.host}:{args.port}/   API docs: http://{args.host}:{args.port}/docs", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def _register_serve(sub: Any) -> None:
    """Add the ``serve`` subcommand to the CLI's subparsers."""
    p = sub.add_parser("serve", help="serve a bundle over REST (FastAPI) with a dashboard; bound to 127.0.0.1")
    p.add_argument("--bundle", required=True, help="bundle folder written by `tradebrain export`")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--store", help="SQLite journal (default BUNDLE/../live/journal.sqlite)")
    p.add_argument("--token-file", help="file holding the bearer token (default $TRADEBRAIN_TOKEN, else a new one)")
    p.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL", help="SQLite durability")
    p.add_argument(
        "--log-level",
        choices=("warning", "info", "debug"),
        default="info",
        help="service log on stderr: info has breaker calls and refused commits, debug adds one line per request",
    )
    p.set_defaults(func=cmd_serve)


def cmd_paper(args: argparse.Namespace) -> int:
    """``tradebrain paper --bundle DIR --data FILE|NAME [--start --end --url --out]``."""
    from experiments.live.paper import paper_run
    from experiments.reporting.report import write_report

    brain = None
    if args.url:
        from experiments.live.service.client import ServiceBrain

        brain = ServiceBrain(args.url, token=os.environ.get("TRADEBRAIN_TOKEN"))
    result, policy = paper_run(args.bundle, args.data, start=args.start, end=args.end, ticker=args.ticker, brain=brain)
    out = Path(args.out or Path(args.bundle).parent / "paper")
    result.to_files(out / "paper")
    report = write_report(out, {"paper": result}, title=f"paper: {args.data}", policy_name="paper")
    m = result.metrics
    print(f"paper run  : {len(policy.decisions)} decisions, {m.get('trade_count', 0):.0f} trades")
    nan = float("nan")
    print(f"return     : {m.get('total_return_frac', nan):.2%}, Sharpe {m.get('sharpe_annual', nan):.2f}")
    print(f"obs check  : max |brain obs - env obs| = {policy.max_obs_diff:.2g}")
    print(f"report     : {report}")
    return 0


def _register_paper(sub: Any) -> None:
    """Add the ``paper`` subcommand to the CLI's subparsers."""
    p = sub.add_parser("paper", help="paper-trade a bundle bar by bar (fills by the env's rules); writes a report")
    p.add_argument("--bundle", required=True, help="bundle folder written by `tradebrain export`")
    p.add_argument("--data", required=True, help="dataset name (sp500, nasdaq) or a CSV/Parquet file")
    p.add_argument("--start", help="first bar traded (default: the bundle's live start)")
    p.add_argument("--end", help="end date, exclusive (default: the data's end)")
    p.add_argument("--ticker", help="name of the asset for the brain (default: the data's name)")
    p.add_argument("--url", help="use a running `tradebrain serve` at this URL (token from TRADEBRAIN_TOKEN)")
    p.add_argument("--out", help="output folder (default: BUNDLE/../paper)")
    p.set_defaults(func=cmd_paper)
