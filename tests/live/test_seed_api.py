"""The seed system's Python usage on top of LiveBrain, with and without a trained policy."""

from __future__ import annotations

import pytest

from envs.synthetic import SyntheticMarket
from experiments.live.seed import ComponentWeights, LearningConfig, SelfLearningBrain, get_learning_brain


def _bars(n: int = 700) -> list[dict]:
    data = SyntheticMarket.three_regime().generate(n_bars=n, seed=3).data
    return [
        {
            "time": data.index[t].isoformat(),
            "open": float(data.open[t]),
            "high": float(data.high[t]),
            "low": float(data.low[t]),
            "close": float(data.close[t]),
            "volume": float(data.volume[t]),
        }
        for t in range(n)
    ]


def test_tiers_1_and_2_work_without_a_trained_policy():
    brain = SelfLearningBrain(LearningConfig(use_tier1=True, use_tier2=True, tier2_fit_bars=400))
    bars = _bars()
    d = brain.get_trading_decision(
        ticker="SYN",
        component_scores={"theme": 0.9, "technical": 0.8, "ai": 0.7, "sentiment": 0.6},
        market_context={"bars": bars[:-1], "bar": bars[-1]},
        portfolio_state={"equity": 100_000.0},
    )
    assert d["regime"] is not None and abs(sum(d["regime_probs"].values()) - 1) < 1e-9  # detector fitted on its bars
    assert d["action"] in ("buy", "hold") and d["components"]["theme"] == 0.9
    if d["action"] == "buy":
        assert 0.01 <= d["size"] <= 0.2 and d["stop"] == pytest.approx(0.03) and d["target"] == pytest.approx(0.06)
    for i in range(30):
        brain.learn_from_trade({"trade_id": f"t{i}", "net_return": 0.01, "components": {"theme": 0.5, "ai": -0.5}})
    w = brain.current_weights
    assert isinstance(w, ComponentWeights) and w.theme > w.ai and abs(sum(w) - 1) < 1e-9
    assert brain.learn_from_trade({"trade_id": "t0", "net_return": -0.5, "components": {"ai": 0.5}})["duplicate"]
    assert brain.get_statistics()["trades"] == 30


def test_print_report_and_the_process_wide_brain(capsys, tiny_bundle):
    brain = SelfLearningBrain(LearningConfig(bundle=str(tiny_bundle)))
    brain.print_report()
    assert "tradebrain live brain" in capsys.readouterr().out
    shared = get_learning_brain(LearningConfig(use_tier2=False))
    assert get_learning_brain() is shared
    with pytest.raises(ValueError, match="already made a brain"):
        get_learning_brain(LearningConfig(use_tier1=False))


def test_bad_input_names_the_field():
    from experiments.live.state import LiveInputError

    brain = SelfLearningBrain(LearningConfig(use_tier2=False))
    with pytest.raises(LiveInputError, match="ticker: 'NONE' has no bar history"):
        brain.get_trading_decision(ticker="NONE")
    with pytest.raises(LiveInputError, match=r"bar.high: 1.0 is below low=2.0"):
        brain.get_trading_decision(
            ticker="X",
            market_context={"bar": {"time": "2020-01-01", "open": 1.5, "high": 1.0, "low": 2.0, "close": 1.5}},
        )
    with pytest.raises(LiveInputError, match=r"component_scores\.theme: 3\.0 is outside"):
        brain.brain.observe_bars("X", _bars(200))
        brain.get_trading_decision(ticker="X", component_scores={"theme": 3.0})
