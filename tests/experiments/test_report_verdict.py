"""The report's verdict (computed from the numbers, never written by hand) and its new plots and sections."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest

from agents.config import TierConfig
from envs.trading_env import TradingEnv
from experiments.evaluation.backtest import REGIME_COLUMNS, WEIGHT_COLUMNS, BacktestResult, run_backtest
from experiments.evaluation.baselines import FixedBracket, RandomPolicy, buy_and_hold_full
from experiments.evaluation.stats import paired_sharpe_difference, summarize
from experiments.reporting.plots import position_series
from experiments.reporting.report import LEARNING_CURVE, PLOTS, compare, verdict, verdict_text, write_report

N = 500


def _result(name: str, returns: np.ndarray, *, bench: np.ndarray | None = None, seed: int = 0) -> BacktestResult:
    """A run with the given per-bar returns (one trade over the window), metrics by experiments.evaluation.metrics."""
    equity = 100_000.0 * np.cumprod(np.r_[1.0, 1.0 + returns])
    index = pd.bdate_range("2015-01-01", periods=len(equity))
    trades = pd.DataFrame(
        {"entry_bar": [1], "exit_bar": [len(equity) - 1], "size": [0.2], "net_return": [equity[-1] / equity[0] - 1]}
    ).assign(pnl=lambda t: t["net_return"] * 1e5)
    empty = pd.DataFrame({"date": pd.DatetimeIndex([])})
    return BacktestResult(
        name=name,
        equity=pd.Series(equity, index=index, name="equity"),
        trades=trades,
        weights=empty.reindex(columns=["date", *WEIGHT_COLUMNS]),
        regimes=empty.reindex(columns=["date", *REGIME_COLUMNS]),
        breaker_events=[],
        halted=False,
        metrics=summarize(equity, trades, benchmark_returns=bench, seed=seed, n_boot=200),
        run_info={"seed": seed},
    )


@pytest.fixture(scope="module")
def market() -> np.ndarray:
    return np.random.default_rng(7).normal(0.0003, 0.01, N)


def _runs(policy: np.ndarray, market: np.ndarray, **others: np.ndarray) -> dict[str, BacktestResult]:
    out = {"ppo": _result("ppo", policy, bench=market)}
    out.update({name: _result(name, r, bench=market) for name, r in others.items()})
    out["buy_and_hold_full"] = _result("buy_and_hold_full", market)
    return out


def test_the_verdict_flips_with_the_numbers(market):
    rng = np.random.default_rng(1)
    base = rng.normal(0.0, 0.002, N)
    winner = _runs(rng.normal(0.002, 0.002, N), market, ma_trend=base)
    loser = _runs(rng.normal(-0.002, 0.002, N), market, ma_trend=base)
    twin = _runs(base[::-1].copy(), market, ma_trend=base)  # the same returns in reverse order: equal Sharpe
    assert [c.outcome for c in verdict(winner, n_boot=200)["ppo"]] == ["beat", "beat"]
    assert [c.outcome for c in verdict(loser, n_boot=200)["ppo"]] == ["lost", "lost"]
    assert verdict(twin, n_boot=200)["ppo"][0].outcome == "none"
    assert "ppo beat all 2 baselines, lost to none" in verdict_text(winner, n_boot=200)
    assert "ppo beat none of the 2 baselines, lost to all 2" in verdict_text(loser, n_boot=200)
    text = verdict_text(twin, n_boot=200)
    assert "lost to none, no evidence either way against all 2." in text and "vs ma_trend" in text


def test_a_trivial_baseline_ahead_of_the_policy_raises_a_warning(market, tmp_path):
    rng = np.random.default_rng(2)
    weak, strong = rng.normal(0.0001, 0.003, N), rng.normal(0.0015, 0.003, N)
    behind = _runs(weak, market, random=strong, ma_trend=strong)
    ahead = _runs(strong, market, random=weak, ma_trend=weak)
    text = verdict_text(behind, n_boot=200)
    assert "WARNING: the trivial baseline random (uniform random actions) had a higher Sharpe than ppo" in text
    assert "WARNING" not in verdict_text(ahead, n_boot=200)
    assert "trivial baseline ma_trend" not in text  # a real strategy ahead is a verdict, not a warning
    report = write_report(tmp_path, behind, title="t", n_boot=200).read_text()
    verdict_section = report[: report.index("## Run")]
    assert "> **WARNING: the trivial baseline `random`" in verdict_section
    assert report.index("## Verdict") < report.index("## Metrics")


def test_the_verdict_uses_the_tables_benchmark_difference_and_the_runs_seed(market):
    rng = np.random.default_rng(3)
    runs = _runs(rng.normal(0.0005, 0.004, N), market, vol_target=rng.normal(0.0002, 0.004, N))
    ppo = runs["ppo"]
    bench = compare(ppo, runs["buy_and_hold_full"])
    m = ppo.metrics
    assert (bench.diff_annual, bench.ci_low_annual, bench.ci_high_annual) == (
        m["sharpe_diff_annual"],
        m["sharpe_diff_ci_low_annual"],
        m["sharpe_diff_ci_high_annual"],
    )
    ppo.run_info["seed"] = 5
    other = compare(ppo, runs["vol_target"], n_boot=300)
    direct = paired_sharpe_difference(ppo.returns, runs["vol_target"].returns, n_boot=300, rng=5)
    assert (other.ci_low_annual, other.ci_high_annual) == (direct.ci_low_annual, direct.ci_high_annual)
    ppo.run_info["seed"] = 6
    assert compare(ppo, runs["vol_target"], n_boot=300).ci_low_annual != direct.ci_low_annual


@pytest.fixture(scope="module")
def env_results(sp500) -> dict[str, BacktestResult]:
    env = TradingEnv(sp500, window=(3000, 3300))
    bench = buy_and_hold_full(env.data, env.window, env.costs, n_boot=50)
    ppo = RandomPolicy(3)
    ppo.name = "ppo"
    out = {"ppo": run_backtest(env, ppo, benchmark_returns=bench.returns, n_boot=50)}
    out["fixed_bracket"] = run_backtest(env, FixedBracket(env.action_map), benchmark_returns=bench.returns, n_boot=50)
    out[bench.name] = bench
    return out


def _png_height(path) -> int:
    return struct.unpack(">II", path.read_bytes()[16:24])[1]


def test_capped_runs_get_their_own_panel_when_the_full_benchmark_is_drawn(env_results, tmp_path):
    with_bench = write_report(tmp_path / "a", env_results, title="t", n_boot=50).read_text()
    capped = {k: v for k, v in env_results.items() if k != "buy_and_hold_full"}
    without = write_report(tmp_path / "b", capped, title="t", n_boot=50).read_text()
    assert _png_height(tmp_path / "a" / "equity.png") > 1.5 * _png_height(tmp_path / "b" / "equity.png")
    assert (
        "Upper panel: every run except `buy_and_hold_full` on its own scale (position <= 20% of equity)" in with_bench
    )
    assert "Upper panel" not in without and "Equity of every run." in without


def test_positions_follow_the_trades_and_match_the_exposure(env_results):
    for name in ("ppo", "fixed_bracket"):
        result = env_results[name]
        pos = position_series(result)
        assert pos.index.equals(result.equity.index)
        assert float(np.mean(pos.to_numpy() > 0)) == pytest.approx(result.metrics["exposure_frac"])
        assert 0.0 < pos.max() <= 0.20 + 1e-12
        first = result.trades.iloc[0]
        assert pos.iloc[int(first["entry_bar"])] == pytest.approx(first["size"])
        assert pos.iloc[: int(first["entry_bar"])].eq(0).all()


def test_every_plot_is_written_when_the_tiers_are_unknown(env_results, tmp_path):
    text = write_report(tmp_path, env_results, title="t", n_boot=50).read_text()
    for png in PLOTS:
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG" and f"]({png})" in text
    assert not (tmp_path / LEARNING_CURVE).exists() and "learning curve" not in text.lower()


def test_a_tier_that_was_off_gets_a_sentence_not_a_chart(env_results, tmp_path):
    (tmp_path / "weights.png").write_bytes(b"old")
    text = write_report(tmp_path, env_results, title="t", tiers=TierConfig(tier1=False), n_boot=50).read_text()
    assert "Tier 1 was off" in text and not (tmp_path / "weights.png").exists() and "](weights.png)" not in text
    assert "Tier 2 was off" not in text and (tmp_path / "regimes.png").exists() and "](regimes.png)" in text
    text = write_report(tmp_path, env_results, title="t", tiers=TierConfig(tier2=False), n_boot=50).read_text()
    assert "Tier 2 was off" in text and not (tmp_path / "regimes.png").exists()
    assert (tmp_path / "weights.png").exists()


def test_the_learning_curve_is_plotted_from_the_csv_or_its_absence_said(env_results, tmp_path):
    csv = tmp_path / "best" / "val_curve.csv"
    text = write_report(tmp_path, env_results, title="t", val_curve=csv, n_boot=50).read_text()
    assert "No learning curve: this run has no `val_curve.csv`" in text and not (tmp_path / LEARNING_CURVE).exists()
    csv.parent.mkdir()
    pd.DataFrame(
        {
            "timesteps": [100, 200, 300],
            "eval_reward": [0.1, 0.5, 0.3],
            "val_sharpe": [0.2, 0.9, 0.4],
            "val_total_return": [0.01, 0.03, 0.02],
            "val_max_drawdown": [0.02, 0.01, 0.02],
            "trade_count": [5, 9, 7],
        }
    ).to_csv(csv, index=False)
    text = write_report(tmp_path, env_results, title="t", val_curve=csv, n_boot=50).read_text()
    assert (tmp_path / LEARNING_CURVE).read_bytes()[:4] == b"\x89PNG" and "each of the 3 evaluations" in text
