"""Tier 4 in the bundle: specialists and selector as ONNX; LiveBrain replays the backtest of Tier4Policy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.stack import make_env
from experiments.evaluation.backtest import run_backtest
from experiments.live.brain import LiveBrain
from experiments.live.paper import paper_run
from experiments.live.state import LiveInputError
from experiments.training.meta import load_meta
from meta.brain import Tier4, Tier4Policy

DECISION_COLUMNS = ["decision_bar", "entry_bar", "exit_bar", "hold", "exit_reason", "regime"]


def test_tier4_bundle_holds_each_network_as_onnx(tier4_bundle):
    spec = json.loads((tier4_bundle / "bundle.json").read_text())
    meta = spec["meta"]
    assert spec["policy"]["kind"] == "tier4" and spec["obs_norm"] is None
    assert [s["name"] for s in meta["specialists"]] == ["conservative", "balanced", "aggressive"]
    assert [s["size_fraction"] for s in meta["specialists"]] == [0.5, 0.75, 1.0]
    assert (meta["explore"], meta["repick_every"]) == (6, 24)
    for name in [s["file"] for s in meta["specialists"]] + ["selector.onnx", "warmup.json"]:
        assert name in spec["files"] and (tier4_bundle / name).is_file()
    assert max(s["max_abs_diff"] for s in meta["specialists"]) <= 1e-5 and meta["selector"]["max_abs_diff"] <= 1e-5


def test_tier4_bundle_replays_the_backtest(tier4_run, tier4_bundle):
    _, cfg = load_meta(tier4_run / "config.yaml")
    tier4 = Tier4Policy(Tier4.load(tier4_run / "tier4"))
    backtest = run_backtest(make_env(cfg.stack, "test"), tier4)
    paper, policy = paper_run(tier4_bundle, cfg.stack.data, end=cfg.stack.test[1])
    assert len(backtest.trades) >= 5 and len(tier4.choices) >= 3
    assert backtest.trades[DECISION_COLUMNS].equals(paper.trades[DECISION_COLUMNS])
    for col in ("size", "stop", "target", "net_return"):
        np.testing.assert_allclose(paper.trades[col], backtest.trades[col], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(paper.equity.to_numpy(), backtest.equity.to_numpy(), rtol=1e-6)
    assert policy.max_obs_diff <= 1e-6
    # the same specialist decided every decision: round robin in exploration, the selector's pick after it
    names = tier4.brain.names
    assert [d["specialist"] for d in policy.decisions[:-1]] == [names[d.arm] for d in tier4.decisions]
    assert len(set(d["specialist"] for d in policy.decisions)) >= 2


def test_tier4_live_state_survives_a_restart_and_needs_the_equity(tier4_bundle):
    brain = LiveBrain.from_bundle(tier4_bundle)
    ticker = brain.spec["warmup"]["ticker"]
    with pytest.raises(LiveInputError, match=r"portfolio_state\.equity"):
        brain.decide(ticker)
    last = brain.tickers[ticker].bars[-1]
    equity = 1e5
    bars = []
    for i in range(1, 40):
        t = last.time + np.timedelta64(i, "D")
        px = last.close * (1 + 0.003 * np.sin(i))
        bars.append({"time": t.isoformat(), "open": px, "high": px * 1.01, "low": px * 0.99, "close": px})
    out_a, out_b = [], []
    for i, bar in enumerate(bars):
        equity *= 1 + 0.001 * np.cos(i)
        out_a.append(brain.decide(ticker, bar=bar, portfolio_state={"equity": equity}))
        if i == 14:  # a restart: a fresh brain from the bundle and the stored state
            restarted = LiveBrain.from_bundle(tier4_bundle).load_state(json.loads(json.dumps(brain.state_dict())))
            out_b = [restarted]
    # replay the rest through the restarted brain: every decision equals the uninterrupted one
    restarted, equity = out_b[0], 1e5
    for i, bar in enumerate(bars):
        equity *= 1 + 0.001 * np.cos(i)
        if i > 14:
            d = restarted.decide(ticker, bar=bar, portfolio_state={"equity": equity})
            assert (d.specialist, d.raw_action, d.action) == (
                out_a[i].specialist,
                out_a[i].raw_action,
                out_a[i].action,
            )
    assert [d.specialist for d in out_a[:6]] == ["conservative", "balanced", "aggressive"] * 2
    assert all("tier4: " in " ".join(d.reasons) for d in out_a)


def test_paper_cli_prints_the_runs_return_and_sharpe(tier4_run, tier4_bundle, tmp_path, capsys):
    from experiments.cli import main

    _, cfg = load_meta(tier4_run / "config.yaml")
    assert (
        main(["paper", "--bundle", str(tier4_bundle), "--data", "sp500", "--end", "2008-07-01", "--out", str(tmp_path)])
        == 0
    )
    out = capsys.readouterr().out
    paper, _ = paper_run(tier4_bundle, cfg.stack.data, end="2008-07-01")
    m = paper.metrics
    assert f"return     : {m['total_return_frac']:.2%}, Sharpe {m['sharpe_annual']:.2f}" in out
    assert (tmp_path / "report.md").is_file()


def test_tier4_bundle_served_over_http_trades_as_in_process(tier4_bundle, tmp_path):
    """`tradebrain serve` with a Tier 4 bundle: the replay through the real server (SQLite store) is the local one."""
    from experiments.live.service.client import ServiceBrain
    from tests.live.server import TOKEN, Server

    local, local_policy = paper_run(tier4_bundle, "sp500", end="2008-07-01")
    server = Server(tier4_bundle, tmp_path / "journal.sqlite", tmp_path / "server.log")
    try:
        remote, policy = paper_run(tier4_bundle, "sp500", end="2008-07-01", brain=ServiceBrain(server.url, token=TOKEN))
    finally:
        server.stop()
    assert len(local.trades) >= 5
    assert remote.trades[DECISION_COLUMNS].equals(local.trades[DECISION_COLUMNS])
    assert [d["specialist"] for d in policy.decisions] == [d["specialist"] for d in local_policy.decisions]


def test_backtest_cli_backtests_a_meta_train_runs_tier4(tier4_run, capsys):
    from experiments.cli import main

    _, cfg = load_meta(tier4_run / "config.yaml")
    assert main(["backtest", "--run", str(tier4_run)]) == 0
    assert "| tier4 |" in capsys.readouterr().out
    metrics = json.loads((tier4_run / "metrics.json").read_text())
    expected = run_backtest(make_env(cfg.stack, "test"), Tier4Policy(Tier4.load(tier4_run / "tier4")))
    assert metrics["tier4"]["trade_count"] == len(expected.trades) >= 5
    assert metrics["tier4"]["sharpe_annual"] == pytest.approx(expected.metrics["sharpe_annual"], rel=1e-9)
    assert {"buy_and_hold_cap", "random", "buy_and_hold_full"} <= set(metrics)
    assert (tier4_run / "report.md").is_file()
