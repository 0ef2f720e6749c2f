"""Results written to a run folder read back exactly: every metric (inf and nan included), the equity curve, and
the report rebuilt from the files shows what the backtest computed."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from envs.synthetic import bars_from_closes
from envs.trading_env import TradingEnv
from experiments.cli import main
from experiments.config import RunConfig, to_yaml
from experiments.evaluation.backtest import NON_FINITE, BacktestResult, decode_metrics, run_backtest
from experiments.evaluation.baselines import FixedBracket
from experiments.reporting.evaluate import load_metrics, load_results, save_results
from experiments.reporting.report import metrics_table


@pytest.fixture(scope="module")
def winner() -> BacktestResult:
    """A bracket rule on a market that rises 0.5% a day: every trade wins, so the profit factor is inf."""
    data = bars_from_closes(100 * 1.005 ** np.arange(260))
    env = TradingEnv(data, window=(130, None))
    policy = FixedBracket(env.action_map)
    policy.name = "ppo"
    result = run_backtest(env, policy, n_trials=3, n_boot=50)
    assert len(result.trades) > 5 and (result.trades["pnl"] > 0).all()
    assert result.metrics["profit_factor"] == math.inf
    assert math.isnan(result.metrics["sharpe_diff_annual"])  # no benchmark: nan round-trips too
    return result


def _same(a: float, b: float) -> bool:
    """Bit-for-bit equal floats (nan equals nan; repr is exact for a double)."""
    return repr(float(a)) == repr(float(b))


def _cell(table: str, policy: str, column: str) -> str:
    header, _, *rows = table.splitlines()
    columns = [c.strip() for c in header.strip("|").split("|")]
    row = next(r for r in rows if r.startswith(f"| {policy} |"))
    return dict(zip(columns, (c.strip() for c in row.strip("|").split("|")), strict=True))[column]


def test_every_metric_round_trips_bit_for_bit_inf_and_nan_included(winner, tmp_path):
    back = BacktestResult.from_files(winner.to_files(tmp_path / "ppo"))
    assert list(back.metrics) == list(winner.metrics)
    bad = {k: (v, back.metrics[k]) for k, v in winner.metrics.items() if not _same(v, back.metrics[k])}
    assert not bad, f"metrics changed on the round trip: {bad}"
    assert back.metrics["profit_factor"] == math.inf and back.metrics["n_trials"] == 3
    pd.testing.assert_series_equal(back.equity, winner.equity, check_freq=False, check_names=False)
    assert back.price is not None and np.array_equal(back.price.to_numpy(), winner.price.to_numpy())
    assert back.run_info == winner.run_info and back.name == "ppo" and back.halted is winner.halted


def test_metrics_json_is_strict_and_spells_non_finite_values(winner, tmp_path):
    def refuse(token: str) -> float:
        raise AssertionError(f"metrics.json holds {token}: not strict JSON")

    out = winner.to_files(tmp_path / "ppo")
    metrics = json.loads((out / "metrics.json").read_text(), parse_constant=refuse)["metrics"]
    assert metrics["profit_factor"] == "inf" and metrics["sharpe_diff_annual"] == "nan"
    assert set(NON_FINITE) == {"inf", "-inf", "nan"}


def test_run_folder_metrics_and_results_read_back(winner, tmp_path):
    save_results(tmp_path, {"ppo": winner})
    top = load_metrics(tmp_path)
    assert top["ppo"]["profit_factor"] == math.inf
    assert all(_same(v, top["ppo"][k]) for k, v in winner.metrics.items())
    loaded = load_results(tmp_path)
    assert _cell(metrics_table(loaded), "ppo", "Profit factor") == "inf"


def test_report_command_shows_inf_not_na(winner, tmp_path):
    save_results(tmp_path, {"ppo": winner})
    (tmp_path / "config.yaml").write_text(to_yaml(RunConfig(name="winner")))
    assert main(["report", "--run", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    table = report[report.index("| Policy") :]
    assert _cell(table, "ppo", "Profit factor") == "inf"
    assert "Trials counted for the deflated Sharpe ratio (DSR): 3" in report


def test_decoding_accepts_old_null_files_and_refuses_other_strings():
    assert decode_metrics({"a": None, "b": "-inf", "c": 1.5, "d": 2}) == pytest.approx(
        {"a": math.nan, "b": -math.inf, "c": 1.5, "d": 2.0}, nan_ok=True
    )
    with pytest.raises(ValueError, match=r"metric 'a' = 'Infinity' is not a number.*'inf'"):
        decode_metrics({"a": "Infinity"})
