"""Tests for experiments.reporting.report: the markdown table's formatting and the files write_report produces."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from envs.layout import REGIMES
from envs.trading_env import TradingEnv
from experiments.evaluation.backtest import REGIME_COLUMNS, WEIGHT_COLUMNS, BacktestResult, run_backtest
from experiments.evaluation.baselines import FixedBracket, RandomPolicy, VolatilityTargeting, buy_and_hold_full
from experiments.evaluation.stats import SUMMARY_KEYS
from experiments.reporting.report import PLOTS, metrics_table, write_report

WINDOW = (3000, 3300)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(sp500) -> dict[str, BacktestResult]:
    env = TradingEnv(sp500, window=WINDOW)
    bench = buy_and_hold_full(env.data, env.window, env.costs, n_boot=50)
    ppo = RandomPolicy(5)
    ppo.name = "ppo"
    out = {"ppo": run_backtest(env, ppo, benchmark_returns=bench.returns, n_trials=7, n_boot=50)}
    for policy in (FixedBracket(env.action_map), VolatilityTargeting(env.action_map)):
        out[policy.name] = run_backtest(env, policy, benchmark_returns=bench.returns, n_boot=50)
    out[bench.name] = bench
    # regime information for the shading (as a Tier 2 run would have), given as strings as read back from CSV
    probs = np.eye(len(REGIMES))[(np.arange(len(out["ppo"].regimes)) // 10) % len(REGIMES)]
    regimes = pd.DataFrame(probs, columns=list(REGIME_COLUMNS))
    regimes.insert(0, "date", out["ppo"].regimes["date"].dt.strftime("%Y-%m-%d"))
    out["ppo"].regimes = regimes
    return out


def _hand_result(name: str, **metrics: float) -> BacktestResult:
    index = pd.bdate_range("2020-01-01", periods=3)
    m = dict.fromkeys(SUMMARY_KEYS, math.nan) | metrics
    empty = pd.DataFrame({"date": pd.DatetimeIndex([])})
    return BacktestResult(
        name=name,
        equity=pd.Series([100.0, 101.0, 102.0], index=index),
        trades=pd.DataFrame(),
        weights=empty.reindex(columns=["date", *WEIGHT_COLUMNS]),
        regimes=empty.reindex(columns=["date", *REGIME_COLUMNS]),
        breaker_events=[],
        halted=name == "halty",
        metrics=m,
    )


def test_metrics_table_formats_numbers() -> None:
    res = _hand_result(
        "mine",
        total_return_frac=0.1234,
        sharpe_annual=1.236,
        max_drawdown_frac=0.05,
        trade_count=12.0,
        profit_factor=math.inf,
        psr_prob=0.9531,
        sharpe_ci_low_annual=0.1,
        sharpe_ci_high_annual=2.0,
        sharpe_diff_annual=-0.3,
        sharpe_diff_ci_low_annual=-1.25,
        sharpe_diff_ci_high_annual=0.5,
    )
    table = metrics_table({"mine": res, "halty": _hand_result("halty")})
    header, rule, row, halted_row = table.splitlines()
    cells = [c.strip() for c in row.strip("|").split("|")]
    columns = [c.strip() for c in header.strip("|").split("|")]
    got = dict(zip(columns, cells, strict=True))
    assert got["Policy"] == "mine"
    assert got["Total return"] == "12.34%"
    assert got["Sharpe"] == "1.24"
    assert got["Max DD"] == "5.00%"
    assert got["Trades"] == "12"
    assert got["Profit factor"] == "inf"
    assert got["PSR"] == "0.953"
    assert got["CAGR"] == "n/a"
    assert got["Sharpe 95% CI"] == "[0.10, 2.00]"
    assert got["ΔSharpe vs buy_and_hold_full [95% CI]"] == "-0.30 [-1.25, 0.50]"
    assert halted_row.startswith("| halty (halted) |")
    assert rule.count("---") == len(columns)
    with pytest.raises(ValueError, match="empty"):
        metrics_table({})


def test_write_report_writes_markdown_and_four_pngs(results: dict[str, BacktestResult], tmp_path) -> None:
    path = write_report(tmp_path / "run", results, title="Test run", config_text="seed: 0\n", notes=["a caveat"])
    assert path == tmp_path / "run" / "report.md"
    text = path.read_text()
    for png in PLOTS:
        data = (tmp_path / "run" / png).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5000
        assert f"]({png})" in text  # embedded with a relative link
    table = text[text.index("| Policy") :]
    for name in results:
        assert f"| {name} |" in table
    assert table.index("| ppo |") < table.index("| fixed_bracket |")  # the policy's row comes first
    bench = results["buy_and_hold_full"].metrics["total_return_frac"]
    assert f"| buy_and_hold_full | {bench:.2%} |" in table
    dates = results["ppo"].equity.index
    assert f"{dates[0].date()} to {dates[-1].date()} (300 bars)" in text
    assert "commission 1 bps and slippage 2 bps" in text
    assert "Trials counted for the deflated Sharpe ratio (DSR): 7" in text
    assert "a caveat" in text and "seed: 0" in text


def test_missing_sharpe_difference_is_computed_against_the_benchmark(results: dict[str, BacktestResult]) -> None:
    env_run = results["fixed_bracket"]
    stripped = BacktestResult(**{**env_run.__dict__, "metrics": dict(env_run.metrics, sharpe_diff_annual=math.nan)})
    table = metrics_table({"fixed_bracket": stripped, "buy_and_hold_full": results["buy_and_hold_full"]})
    row = next(line for line in table.splitlines() if line.startswith("| fixed_bracket |"))
    diff = row.strip("|").split("|")[-1].strip()
    expected = env_run.metrics["sharpe_annual"] - results["buy_and_hold_full"].metrics["sharpe_annual"]
    assert diff.startswith(f"{expected:.2f} [")


def test_write_report_needs_the_policy(results: dict[str, BacktestResult], tmp_path) -> None:
    with pytest.raises(ValueError, match="policy_name='nope'"):
        write_report(tmp_path, results, title="x", policy_name="nope")
