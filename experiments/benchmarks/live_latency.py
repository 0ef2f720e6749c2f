"""Live path latency: decide p50/p99 in process and over HTTP on loopback, learn throughput, bundle load time.

Aims (issue 10): in-process decide p99 under 2 ms, HTTP decide p99 under 20 ms.

Usage::

    python -m experiments.benchmarks.live_latency --bundle runs/quickstart-.../bundle --out runs/bench/live.json
    python -m experiments.benchmarks.live_latency          # trains and exports a tiny run first (about 30 s)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.benchmarks import write_json

TOKEN = "bench-token-0123456789abcdef"


def _pct(times_s: list[float]) -> dict[str, float]:
    ms = np.asarray(times_s) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "n": len(ms)}


def tiny_bundle(folder: Path) -> Path:
    """Train a tiny run on sp500 and export it (for a benchmark without a bundle at hand)."""
    from experiments.config import load_config
    from experiments.live.export import export_bundle
    from experiments.training.train import train

    overrides = [
        "stack.train=['2005-01-01', '2007-01-01']",
        "stack.val=['2007-01-01', '2007-07-01']",
        "stack.test=['2007-07-01', '2008-07-01']",
        "stack.tiers.tier2_fit_bars=500",
        "ppo.n_steps=128",
        "ppo.batch_size=64",
        "train.total_timesteps=256",
        "train.n_envs=1",
        "train.eval_freq=0",
        "train.checkpoint_freq=0",
        f"runs_dir={folder}",
    ]
    run = train(load_config("quickstart", overrides=overrides), progress=False).run_dir
    return Path(export_bundle(run, run / "bundle", which="final", n_check=200)["source"]["run"]) / "bundle"


def in_process(bundle: Path, n: int) -> dict[str, Any]:
    """Load time, decide latency (no new bar / with a new bar) and learn throughput of a LiveBrain."""
    import pandas as pd

    from experiments.live.brain import LiveBrain

    loads = []
    for _ in range(3):
        t0 = time.perf_counter()
        brain = LiveBrain.from_bundle(bundle)
        loads.append(time.perf_counter() - t0)
    ticker = brain.spec["warmup"]["ticker"]
    brain.decide(ticker, portfolio_state={"equity": 1e5})
    plain = []
    for _ in range(n):
        t0 = time.perf_counter()
        brain.decide(ticker)
        plain.append(time.perf_counter() - t0)
    last = brain.tickers[ticker].bars[-1]
    with_bar, rng = [], np.random.default_rng(0)
    for i in range(min(n, 250)):
        c = last.close * float(np.exp(rng.normal(0, 0.01)))
        bar = {
            "time": (last.time + pd.Timedelta(days=i + 1)).isoformat(),
            "open": c,
            "high": c * 1.01,
            "low": c * 0.99,
            "close": c,
        }
        t0 = time.perf_counter()
        brain.decide(ticker, bar=bar, portfolio_state={"equity": 1e5})
        with_bar.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for i in range(n):
        brain.learn({"trade_id": f"b{i}", "net_return": 0.01 if i % 2 else -0.01, "components": {"theme": 0.3}})
    learn_s = time.perf_counter() - t0
    return {
        "bundle_load_ms": 1e3 * min(loads),
        "decide": _pct(plain),
        "decide_with_new_bar": _pct(with_bar),
        "learn_per_s": n / learn_s,
    }


def over_http(bundle: Path, n: int, store_dir: Path) -> dict[str, Any]:
    """Decide latency and learn throughput against ``tradebrain serve`` (``python -m experiments.cli serve``) on
    127.0.0.1, one client after the other (each write waits for its commit)."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TRADEBRAIN_TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "experiments.cli", "serve", "--bundle", str(bundle), "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--store", str(store_dir / "journal.sqlite")], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/learning"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}")
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        ticker = httpx.get(url + "/config").json()["warmup"]["ticker"]
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            c.post("/decide", json={"ticker": ticker})
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                r = c.post("/decide", json={"ticker": ticker})
                times.append(time.perf_counter() - t0)
                r.raise_for_status()
            t0 = time.perf_counter()
            for i in range(n):
                c.post("/learn", json={"trade_id": f"h{i}", "net_return": 0.01, "components": {"ai": 0.4}})
            learn_s = time.perf_counter() - t0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    return {"decide": _pct(times), "learn_per_s": n / learn_s, "store": "SQLite WAL, synchronous=FULL"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", help="bundle folder (default: train and export a tiny run)")
    parser.add_argument("--n", type=int, default=2000, help="decisions and trades per measurement")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(args.bundle) if args.bundle else tiny_bundle(Path(tmp))
        result = {
            "machine": {
                "python": platform.python_version(),
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "date": time.strftime("%Y-%m-%d"),
            },
            "settings": {"bundle": str(bundle), "n": args.n},
            "in_process": in_process(bundle, args.n),
            "http": over_http(bundle, min(args.n, 1000), Path(tmp)),
        }
    print(json.dumps(result, indent=1))
    write_json(args.out, result, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
