"""Folds, unit keys, atomic writes, the results page's statistics and the errors of the walk-forward config."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from experiments.cli import main
from experiments.config import ConfigError
from experiments.evaluation.backtest import encode_json
from experiments.files import write_json_atomic
from experiments.walkforward.plan import ABLATION, TIER_SETS, Unit, load_walkforward, make_folds, plan_units
from experiments.walkforward.results import median_ci, total_trials


def test_default_folds_on_sp500_roll_one_test_year_at_a_time_from_2007_to_2018():
    wf, cfg = load_walkforward("walkforward")
    folds = make_folds(wf, cfg)
    assert [f.test_year for f in folds] == list(range(2007, 2019))
    first, last = folds[0], folds[-1]
    assert first.train == ("1999-12-30", "2005-01-01")  # not before bar 250: the train detector needs bars
    assert first.val == ("2005-01-01", "2007-01-01") and first.test == ("2007-01-01", "2008-01-01")
    assert last.train == ("2010-01-01", "2016-01-01") and last.test == ("2018-01-01", "2019-01-01")
    for f in folds:
        assert f.train[1] == f.val[0] and f.val[1] == f.test[0] == f"{f.test_year}-01-01"
    assert wf.seeds == (0, 1, 2) and wf.tier_sets == ("tier1+2+3",)


def test_units_are_folds_x_seeds_x_tier_sets_with_keys_from_the_resolved_config():
    wf, cfg = load_walkforward("walkforward", ["walkforward.last_test_year=2008"])
    units = plan_units(replace(wf, tier_sets=ABLATION), cfg)
    assert len(units) == 2 * 3 * (len(ABLATION) + 1)
    assert len({u.key for u in units}) == len(units)
    u = units[0]
    assert u.key == Unit(u.fold, u.seed, u.tier_set, replace(cfg, name="other", runs_dir="elsewhere")).key
    bigger = replace(cfg, train=replace(cfg.train, total_timesteps=cfg.train.total_timesteps + 1))
    assert Unit(u.fold, u.seed, u.tier_set, bigger).key != u.key  # a changed budget is a new unit
    c = u.config()
    assert c.seed == u.seed and c.stack.test == u.fold.test and c.stack.train == u.fold.train


def test_atomic_write_replaces_the_file_keeps_it_on_bad_payloads_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a" / "unit.json"
    write_json_atomic(path, encode_json({"x": 1.0, "inf": math.inf}))
    assert json.loads(path.read_text()) == {"x": 1.0, "inf": "inf"}
    write_json_atomic(path, {"x": 2.0})
    assert json.loads(path.read_text()) == {"x": 2.0}
    assert [p.name for p in path.parent.iterdir()] == ["unit.json"]
    with pytest.raises(TypeError):
        write_json_atomic(path, {"x": object()})
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_json_atomic(path, {"x": math.nan})  # strict JSON: encode non-finite numbers first
    assert json.loads(path.read_text()) == {"x": 2.0} and len(list(path.parent.iterdir())) == 1


def test_median_ci_of_unit_values_keeps_inf_and_drops_nan():
    med, low, high = median_ci(np.array([1.0, 1.0, 1.0, math.nan]), n_seeds=2, n_boot=50)
    assert (med, low, high) == (1.0, 1.0, 1.0)
    med, low, high = median_ci(np.array([0.0, math.inf, math.inf, math.inf, 0.5]), n_seeds=1, n_boot=200)
    assert med == math.inf and high == math.inf and 0.0 <= low  # profit factors with no loss are best cases
    med, low, high = median_ci(np.arange(12.0), n_seeds=3, n_boot=200)
    assert med == 5.5 and low <= med <= high and low < high
    assert all(math.isnan(x) for x in median_ci(np.array([math.nan]), 1, 50))


def test_median_ci_resamples_blocks_of_neighbouring_units_in_the_order_given():
    # Each fold's three seeds spread the same way (-1, 0, +1): blocks of neighbours hold all three, so the bootstrap
    # medians stay at 0. Sorted first (the old code), blocks held equal values and the medians swung to -1 and +1.
    fold_major = np.tile([-1.0, 0.0, 1.0], 12)
    assert median_ci(fold_major, n_seeds=3, n_boot=1000) == (0.0, 0.0, 0.0)
    assert median_ci(np.sort(fold_major), n_seeds=3, n_boot=1000) == (0.0, -1.0, 1.0)


def test_a_test_year_without_a_position_counts_as_sharpe_0_and_the_page_says_how_many(tmp_path):
    from experiments.evaluation import metrics
    from experiments.walkforward.results import FLAT_YEAR, Record, _header, flat_year

    zero = np.zeros(251)
    assert math.isnan(metrics.sharpe(zero))  # undefined: zero volatility
    m = flat_year({"sharpe_annual": math.nan, "sortino_annual": math.nan, "max_drawdown_frac": 0.0}, zero)
    assert m == {"sharpe_annual": 0.0, "sortino_annual": 0.0, "max_drawdown_frac": 0.0, FLAT_YEAR: 1.0}
    traded = np.r_[zero[:-1], 0.001]  # one bar with a position: its metrics stay what they were
    assert flat_year({"sharpe_annual": 0.7}, traded) == {"sharpe_annual": 0.7}
    plan = {
        "walkforward": {"seeds": [0, 1], "train_years": 8, "val_years": 2, "tier_sets": ["tier3"], "baselines": 0},
        "folds": [{"test_year": 2008, "train": ["a", "b"], "val": ["b", "c"], "test": ["c", "d"]}],
        "units": [],
        "command": "walk-forward",
        "config": "train: {total_timesteps: 1000}",
    }
    recs = [Record("tier3", 2008, s, flat_year({"sharpe_annual": math.nan}, zero), zero, [], 1) for s in (0, 1)]
    recs.append(Record("tier3", 2009, 0, flat_year({"sharpe_annual": 0.4}, traded), traded, [], 1))
    lines = _header(tmp_path, plan, {"tier3": recs, "buy_and_hold_cap": recs[2:]}, [])
    assert any("without any position" in x and "tier3 2" in x and "buy_and_hold_cap" not in x for x in lines)
    assert not any("without any position" in x for x in _header(tmp_path, plan, {"tier3": recs[2:]}, []))


def test_every_configuration_counts_its_trials():
    class R:
        def __init__(self, trials):
            self.trials = trials

    records = {"tier1+2+3": [R(4), R(6), R(5)], "rules": [R(1)], "ma_trend": [R(1), R(1)]}
    assert total_trials(records) == 5 + 1 + 1


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("walkforward.tier_sets=[tier4]", "unknown tier set 'tier4'"),
        ("walkforward.val_years=8", "walkforward.val_years=8"),
        ("walkforward.seed=[1]", "did you mean 'walkforward.seeds'"),
        ("walkforward.last_test_year=2030", "walkforward test year 2019 is outside"),
    ],
)
def test_bad_walkforward_settings_exit_2_with_a_one_line_error(setting, message, capsys):
    assert main(["walk-forward", "--set", setting, "--run", "/nonexistent/never-written"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_tier_set_all_maml_is_the_old_tier4_and_its_settings_are_in_the_unit_key():
    wf, cfg = load_walkforward("walkforward", ["walkforward.tier_sets=[all_maml]", "walkforward.seeds=[0]"])
    units = [u for u in plan_units(wf, cfg) if u.tier_set == "all_maml"]
    assert len(units) == 12 and TIER_SETS["all_maml"].tier4 == "maml" and units[0].meta == (300, 120)
    other = plan_units(replace(wf, meta_iterations=50), cfg)[0]
    assert other.tier_set == "all_maml" and other.key != units[0].key
    with pytest.raises(ConfigError, match="unknown tier set 'tier4'"):
        load_walkforward("walkforward", ["walkforward.tier_sets=[tier4]"])


def test_the_budget_pick_is_the_smallest_past_which_more_training_gains_less_than_the_tolerance():
    from experiments.benchmarks.walkforward_budget import smallest_sufficient_budget

    assert smallest_sufficient_budget({25: 0.1, 50: 0.3, 100: 0.32, 200: 0.31}, tolerance=0.05) == 50
    assert smallest_sufficient_budget({25: 0.1, 50: 0.3, 100: 0.5}, tolerance=0.05) == 100
    assert smallest_sufficient_budget({25: 0.4, 50: 0.3}, tolerance=0.05) == 25


def test_the_budget_curve_reads_exactly_the_planned_units_and_pairs_them_by_fold_and_seed(tmp_path):
    from experiments.benchmarks.walkforward_budget import learning_curve, paired_gain
    from experiments.walkforward.units import unit_file

    sets = ["walkforward.first_test_year=2016", "walkforward.last_test_year=2017", "walkforward.seeds=[0, 1]"]
    traded, flat = [1.0, 1.01, 1.0, 1.02], [1.0, 1.0, 1.0, 1.0]

    def payload(unit, sharpe, equity):
        return {"policies": {unit.tier_set: {"metrics": {"sharpe_annual": sharpe}, "equity": equity}}}

    planned = {}
    for budget, sharpe in ((1000, 0.1), (2000, 0.5)):
        wf, cfg = load_walkforward("walkforward", [*sets, f"train.total_timesteps={budget}"])
        planned[budget] = plan_units(wf, cfg)
        for unit in planned[budget]:
            value = sharpe + 0.01 * unit.seed + (unit.fold.test_year - 2016)
            if budget == 1000 and unit.fold.test_year == 2017 and unit.seed == 1:  # no position all year
                write_json_atomic(unit_file(tmp_path, unit), payload(unit, "nan", flat))
            else:
                write_json_atomic(unit_file(tmp_path, unit), payload(unit, value, traded))
    wf, stale = load_walkforward("walkforward", [*sets, "train.total_timesteps=2000", "ppo.gamma=0.5"])
    for unit in plan_units(wf, stale):  # an older config version at the same budget, in the same folder
        write_json_atomic(unit_file(tmp_path, unit), payload(unit, 9.0, traded))
    curve = learning_curve(tmp_path, planned, "tier1+2+3")
    assert sorted(curve) == [1000, 2000]
    assert curve[2000] == {"2016/seed0": 0.5, "2016/seed1": 0.51, "2017/seed0": 1.5, "2017/seed1": 1.51}
    assert learning_curve(tmp_path, planned, "tier3") == {}  # not in the plan: nothing
    assert curve[1000]["2017/seed1"] == 0.0  # Sharpe undefined without a position: counted as 0, not left out
    med, low, high = paired_gain(curve[1000], curve[2000])
    assert med == pytest.approx(0.4) and low == pytest.approx(0.4) and 0.5 < high <= 1.51  # the flat pair: +1.51
    med, low, high = paired_gain({"a": 0.0, "b": 0.0, "c": 0.0}, {"a": -1.0, "b": 1.0, "c": 2.0, "d": 5.0})
    assert med == 1.0 and low == -1.0 and high == 2.0  # 'd' has no partner at the lower budget: left out


def test_the_all_maml_tier_sets_tier4_trains_on_synthetic_tasks_only_and_once_per_seed(tmp_path, monkeypatch):
    import meta.brain
    from experiments.walkforward.units import tier4_brain
    from meta.tasks import TaskDistribution

    seen, real = [], meta.brain.train_tier4

    def spy(dist, config, seed, **kwargs):
        seen.append((dist, seed))
        sample = dist.sample(2, seed=0)  # what it would train on: generated markets, never the fold's bars
        assert all(t.market_data().name != "sp500" and t.stack_config().data.startswith("synthetic:") for t in sample)
        return real(dist, dataclasses.replace(config, iterations=1, meta_batch=1), seed, **kwargs)

    monkeypatch.setattr(meta.brain, "train_tier4", spy)
    wf, cfg = load_walkforward("walkforward", ["walkforward.tier_sets=[all_maml]", "walkforward.seeds=[0]",
                                               "walkforward.meta_selector_tasks=2"])  # fmt: skip
    units = [u for u in plan_units(wf, cfg) if u.tier_set == "all_maml"][:2]  # two folds, one seed
    for unit in units:
        tier4_brain(unit, unit.config(), tmp_path / "tier4")
    assert len(seen) == 1 and isinstance(seen[0][0], TaskDistribution) and seen[0][1] == 0  # trained once
    assert len(list((tmp_path / "tier4").iterdir())) == 1


def test_regime_sharpes_pool_each_regimes_bars_over_folds_and_seeds():
    from experiments.evaluation import metrics
    from experiments.walkforward.results import Record, regime_sharpes, regime_table

    rng = np.random.default_rng(0)
    r1, r2 = rng.normal(0.001, 0.01, 300), rng.normal(-0.001, 0.01, 200)
    l1 = ["choppy"] * 100 + ["crisis"] * 200
    l2 = ["choppy"] * 200
    recs = {
        "tier1+2+3": [
            Record("tier1+2+3", 2010, 0, {}, r1, [*l1, "choppy"], 1),
            Record("tier1+2+3", 2011, 0, {}, r2, l2, 1),
        ]
    }
    per = regime_sharpes(recs)["tier1+2+3"]
    assert set(per) == {"choppy", "crisis"}  # no bar in the other regimes: left out
    choppy = np.concatenate([r1[:100], r2])
    assert per["choppy"] == pytest.approx((metrics.sharpe(choppy), 300 / 500))
    assert per["crisis"] == pytest.approx((metrics.sharpe(r1[100:]), 200 / 500))
    row = next(line for line in regime_table(recs) if line.startswith("| tier1+2+3"))
    assert f"{per['crisis'][0]:.2f} (40%)" in row and row.count("| - ") == 3


def test_compare_runs_pairs_only_the_same_test_year_and_seed_in_fold_major_order(capsys):
    from experiments.benchmarks.compare_runs import main as compare_main
    from experiments.benchmarks.compare_runs import paired_sharpes
    from experiments.walkforward.results import Record

    def rec(name, fold, seed, sharpe):
        return Record(name, fold, seed, {"sharpe_annual": sharpe}, np.zeros(3), ["choppy"] * 3, 1)

    a = {"tier3": [rec("tier3", f, s, 0.1 * f + s) for f in (2008, 2007) for s in (0, 1)], "only_a": []}
    b = {"tier3": [rec("tier3", 2007, 0, 1.0), rec("tier3", 2008, 1, 2.0), rec("tier3", 2009, 0, 9.0)]}
    pairs = paired_sharpes(a, b)
    assert list(pairs) == ["tier3"]  # a configuration in one run only is not compared
    assert pairs["tier3"]["keys"] == [(2007, 0), (2008, 1)]  # only pairs both runs have, fold-major
    assert pairs["tier3"]["a"] == pytest.approx([200.7, 201.8]) and pairs["tier3"]["b"] == [1.0, 2.0]
    assert compare_main(["/nonexistent/a", "/nonexistent/b"]) == 2
    assert "is not a walk-forward run" in capsys.readouterr().err


def test_compare_runs_pairs_two_tier_sets_of_one_run(monkeypatch, capsys):
    from experiments.benchmarks import compare_runs
    from experiments.walkforward.results import Record

    def rec(name, fold, seed, sharpe):
        return Record(name, fold, seed, {"sharpe_annual": sharpe}, np.zeros(3), ["choppy"] * 3, 1)

    records = {
        "tier1+2+3": [rec("tier1+2+3", f, s, 0.5) for f in (2007, 2008) for s in (0, 1)],
        "all": [rec("all", f, s, 0.5 + 0.1 * s) for f in (2007, 2008) for s in (0, 1)],
    }
    plan = {"walkforward": {"seeds": [0, 1]}}
    monkeypatch.setattr(compare_runs, "load_records", lambda root: (plan, records, []))
    rows = compare_runs.compare(Path("run"), Path("run"), n_boot=50, pair=("tier1+2+3", "all"))
    (row,) = rows.values()
    assert list(rows) == ["all - tier1+2+3"] and row["pairs"] == 4 and row["b_higher"] == 2
    assert row["median_b"] - row["median_a"] == pytest.approx(0.05)
    with pytest.raises(FileNotFoundError, match="has no configuration 'all_maml'"):
        compare_runs.compare(Path("run"), Path("run"), pair=("tier1+2+3", "all_maml"))
    assert compare_runs.main(["run", "run", "--pair", "tier1+2+3", "nope"]) == 2
    assert "has no configuration 'nope'" in capsys.readouterr().err
