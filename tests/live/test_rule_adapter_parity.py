"""Tier 4 adapting online: the backtest's RuleAdapterPolicy and the live brain (bundle policy kind "tier4_rules")
run one numpy implementation and make the same decisions on a replay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from envs.features import LOOKBACK
from experiments.config import load_config
from experiments.evaluation.backtest import run_backtest
from experiments.live.brain import LiveBrain
from experiments.live.export import build_spec
from experiments.live.paper import InProcess, LiveBrainPolicy, broker_env
from meta.rule_adapter import RuleAdapter, RuleAdapterPolicy, market_slice
from meta.tasks import RegimeParams

DECISION_COLUMNS = ["decision_bar", "entry_bar", "exit_bar", "hold", "exit_reason"]


@pytest.fixture(scope="module")
def adapter() -> RuleAdapter:
    train = [
        RegimeParams(drift=d, vol=0.01, hit_rates=(0.5, h, 0.5, 0.5)).market().generate(700, seed=i).data
        for i, (d, h) in enumerate([(0.0008, 0.5), (-0.0004, 0.56), (0.0004, 0.6), (0.0, 0.52)])
    ]
    return RuleAdapter.fit(train, temper=16.0, lcb=0.0)  # the mean: it trades often, so parity has trades to check


@pytest.fixture(scope="module")
def market():  # type: ignore[no-untyped-def]
    """A falling market where technical has an edge: the adapter moves away from its prior's rule."""
    return RegimeParams(drift=-0.0015, vol=0.01, hit_rates=(0.5, 0.63, 0.5, 0.5)).market().generate(1100, seed=5).data


def _spec(adapter: RuleAdapter) -> dict:
    cfg = load_config("quickstart")
    spec = build_spec(cfg, Path("none"), None, None)
    spec["tier1"], spec["tier2"] = {"enabled": False}, {"enabled": False}
    spec["policy"] = {"kind": "tier4_rules"}
    spec["meta"] = {"rule_adapter": adapter.to_json()}
    spec["warmup"] = None
    return spec


def test_backtest_and_live_brain_make_the_same_decisions(adapter, market):  # type: ignore[no-untyped-def]
    spec = _spec(adapter)
    window = (str(market.index[700].date()), None)
    env = broker_env(spec, market, window)
    policy = RuleAdapterPolicy(adapter, env, history_bars=spec["features"]["history_bars"])
    backtest = run_backtest(env, policy)
    live_env = broker_env(spec, market, window)
    live = LiveBrainPolicy(InProcess(LiveBrain(spec)), live_env, market.name)
    paper = run_backtest(live_env, live)
    assert len(backtest.trades) >= 5 and len({c[1] for c in policy.choices}) >= 2  # it trades and it adapts
    assert backtest.trades[DECISION_COLUMNS].equals(paper.trades[DECISION_COLUMNS])
    np.testing.assert_allclose(paper.equity.to_numpy(), backtest.equity.to_numpy(), rtol=1e-9)
    assert [d["specialist"] for d in live.decisions] == [c[1] for c in policy.choices]
    assert all(d["mode"] == "tier4" for d in live.decisions)


def test_the_choice_uses_no_outcome_of_the_decision_bar(adapter, market):  # type: ignore[no-untyped-def]
    """Changing the decision bar's prices leaves every rule's posterior unchanged (only the item may change)."""
    data = market_slice(market, 300, 900)
    moved = market_slice(market, 300, 900)
    object.__setattr__(moved, "high", moved.high.copy())
    object.__setattr__(moved, "low", moved.low.copy())
    object.__setattr__(moved, "close", moved.close.copy())
    moved.close[-1] *= 0.9
    moved.low[-1] = min(moved.low[-1], moved.close[-1])
    a, _ = adapter.scores(data)
    b, _ = adapter.scores(moved)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, adapter.posterior.score(*(np.zeros(len(a)),) * 4))  # the evidence moved the posterior


def test_rule_adapter_round_trips_and_checks(adapter, market):  # type: ignore[no-untyped-def]
    again = RuleAdapter.from_json(adapter.to_json())
    data = market_slice(market, 0, LOOKBACK + 200)
    assert again.choose(data) == adapter.choose(data)
    with pytest.raises(ValueError, match="format_version"):
        RuleAdapter.from_json({**adapter.to_json(), "format_version": 9})
    with pytest.raises(ValueError, match="unknown rules"):
        RuleAdapter(adapter.prior, ["nope"] * len(adapter.rules))
    with pytest.raises(ValueError, match="bars"):
        adapter.choose(market_slice(market, 0, LOOKBACK))


def test_exported_bundle_replays_the_backtest_on_sp500(adapter, tmp_path):  # type: ignore[no-untyped-def]
    """Through the bundle (Tier 1 and Tier 2 as the config has them, warm-up bars): paper equals backtest."""
    from experiments.live.bundle import read_bundle
    from experiments.live.export import export_rule_adapter

    from .conftest import TINY

    cfg = load_config("quickstart", overrides=TINY)
    export_rule_adapter(cfg, adapter, tmp_path / "bundle")
    assert read_bundle(tmp_path / "bundle")["meta"]["rule_adapter"] == adapter.to_json()
    assert len(assert_paper_replays_backtest(tmp_path / "bundle", adapter, cfg.stack.data, cfg.stack.test[1])) >= 3


def assert_paper_replays_backtest(bundle: Path, adapter: RuleAdapter, data: str, end: str):  # type: ignore[no-untyped-def]
    """Paper-trade ``bundle`` on ``data`` from its live start to ``end`` and backtest :class:`RuleAdapterPolicy`
    with ``adapter`` on the same bars and settings: the same decisions, trades and equity. Returns the trades."""
    from envs.data import load
    from experiments.live.bundle import read_bundle
    from experiments.live.paper import paper_run

    spec = read_bundle(bundle)
    paper, live = paper_run(bundle, data, end=end)
    env = broker_env(spec, load(data), (spec["warmup"]["start"], end))
    policy = RuleAdapterPolicy(adapter, env, history_bars=spec["features"]["history_bars"])
    backtest = run_backtest(env, policy)
    assert backtest.trades[DECISION_COLUMNS].equals(paper.trades[DECISION_COLUMNS])
    np.testing.assert_allclose(paper.equity.to_numpy(), backtest.equity.to_numpy(), rtol=1e-9)
    assert [d["specialist"] for d in live.decisions] == [c[1] for c in policy.choices]
    return backtest.trades
