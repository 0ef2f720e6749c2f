"""Replay parity: the test window replayed bar by bar through LiveBrain gives the backtest's decisions."""

from __future__ import annotations

import numpy as np

from agents.stack import make_env
from experiments.config import load_config
from experiments.evaluation.backtest import run_backtest
from experiments.evaluation.policies import load_policy
from experiments.live.paper import paper_run

DECISION_COLUMNS = ["decision_bar", "entry_bar", "exit_bar", "hold", "exit_reason", "regime"]


def test_live_brain_replays_the_backtest(tiny_run, tiny_bundle):
    cfg = load_config(tiny_run / "config.yaml")
    backtest = run_backtest(make_env(cfg.stack, "test"), load_policy(tiny_run / "model.zip"))
    paper, policy = paper_run(tiny_bundle, cfg.stack.data, end=cfg.stack.test[1])
    assert len(backtest.trades) >= 5
    assert backtest.trades[DECISION_COLUMNS].equals(paper.trades[DECISION_COLUMNS])
    for col in ("size", "stop", "target", "net_return"):
        np.testing.assert_allclose(paper.trades[col], backtest.trades[col], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(paper.equity.to_numpy(), backtest.equity.to_numpy(), rtol=1e-6)
    # the brain built every observation itself (features, regime filter, bandit, risk): equal to the env stack's
    assert policy.max_obs_diff <= 1e-6
    assert len(policy.decisions) == len(backtest.weights)
    np.testing.assert_allclose(
        [list(d["weights"].values()) for d in policy.decisions], backtest.weights.iloc[:, 1:].to_numpy(), atol=1e-6
    )


def test_live_brain_replays_the_backtest_with_tier1_learning_from_the_market(tiny_market_run, tmp_path):
    """Tier 1 learning from every bar (``tier1_learns_from: market``): the bundle carries the learner's state after
    the warm-up bars and the brain steps it with each bar, so its weights and decisions are the backtest's."""
    from experiments.live.brain import LiveBrain
    from experiments.live.export import export_bundle

    cfg = load_config(tiny_market_run / "config.yaml")
    bundle = tmp_path / "bundle"
    spec = export_bundle(tiny_market_run, bundle, which="final", n_check=200)
    assert spec["tier1"]["learns_from"] == "market" and spec["tier1"]["market_state"]["pending"]
    backtest = run_backtest(make_env(cfg.stack, "test"), load_policy(tiny_market_run / "model.zip"))
    paper, policy = paper_run(bundle, cfg.stack.data, end=cfg.stack.test[1])
    assert len(backtest.trades) >= 5
    assert backtest.trades[DECISION_COLUMNS].equals(paper.trades[DECISION_COLUMNS])
    np.testing.assert_allclose(paper.equity.to_numpy(), backtest.equity.to_numpy(), rtol=1e-6)
    assert policy.max_obs_diff <= 1e-6
    weights = np.array([list(d["weights"].values()) for d in policy.decisions])
    np.testing.assert_allclose(weights, backtest.weights.iloc[:, 1:].to_numpy(), atol=1e-6)
    assert np.ptp(weights, axis=0).max() > 0.05  # the weights move with the bars, with no trade reported
    # a reported trade teaches a market-learning Tier 1 nothing; the state survives a save and load
    brain = LiveBrain.from_bundle(bundle)
    ticker = brain.spec["warmup"]["ticker"]
    before = brain.current_weights(ticker)
    brain.learn({"trade_id": "t1", "net_return": 0.05, "components": {"theme": 0.9, "technical": 0.9}})
    assert brain.current_weights(ticker) == before
    again = LiveBrain.from_bundle(bundle).load_state(brain.state_dict())
    assert again.tickers[ticker].tier1.to_json() == brain.tickers[ticker].tier1.to_json()


def test_decisions_only_see_the_past(tiny_bundle):
    """A bar at or before the last one is refused: the brain cannot be fed the future out of order."""
    import pytest

    from experiments.live.brain import LiveBrain
    from experiments.live.state import LiveInputError

    brain = LiveBrain.from_bundle(tiny_bundle)
    ticker = brain.spec["warmup"]["ticker"]
    last = brain.tickers[ticker].bars[-1]
    with pytest.raises(LiveInputError, match="is not after the last bar"):
        brain.observe_bar(ticker, {**last.to_json()})


def test_paper_through_the_service_trades_as_in_process(tiny_run, tiny_bundle, tmp_path):
    """`tradebrain paper --url`: the same replay through a real server gives the in-process replay's trades."""
    from experiments.live.service.client import ServiceBrain
    from tests.live.server import TOKEN, Server

    cfg = load_config(tiny_run / "config.yaml")
    local, _ = paper_run(tiny_bundle, cfg.stack.data, end=cfg.stack.test[1])
    server = Server(tiny_bundle, tmp_path / "journal.sqlite", tmp_path / "server.log")
    try:
        brain = ServiceBrain(server.url, token=TOKEN)
        remote, policy = paper_run(tiny_bundle, cfg.stack.data, end=cfg.stack.test[1], brain=brain)
    finally:
        server.stop()
    assert len(local.trades) >= 5
    assert remote.trades[DECISION_COLUMNS].equals(local.trades[DECISION_COLUMNS])
    np.testing.assert_allclose(remote.equity.to_numpy(), local.equity.to_numpy(), rtol=1e-9)
    assert policy.max_obs_diff <= 1e-6
