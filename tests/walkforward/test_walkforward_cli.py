"""A two-fold, two-seed walk-forward on a short synthetic series through the CLI, run three times in this process.

1. A unit raises midway (an injected error in its training): the run reports it and finishes the others.
2. The same command again finishes only that unit.
3. The same command a third time retrains nothing: every unit is read from its file.

Spies on the real fitting code record what each fitted part was given: every Tier 2 detector fit (the dates of
the closes it saw), every PPO ``learn`` (the windows of its training envs) and every env built during training
(the validation window of model selection). The tests assert that nothing saw a bar of its fold's test year.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from stable_baselines3 import PPO

from agents.tier2 import RegimeDetector
from envs.data import load
from envs.trading_env import TradingEnv
from experiments.cli import main
from experiments.training import train as train_mod
from experiments.walkforward import plan as wf_plan
from experiments.walkforward import units


class Spy:
    """Records the unit being run, detector fits, PPO training windows and envs built while training."""

    def __init__(self, close: np.ndarray, index: pd.DatetimeIndex) -> None:
        self.close, self.index = close, index
        self.unit: wf_plan.Unit | None = None
        self.in_training = False
        self.fits: list[tuple[str, bool, pd.Timestamp, pd.Timestamp]] = []  # unit key, in training, first, last
        self.learn_windows: list[tuple[str, pd.Timestamp, pd.Timestamp]] = []
        self.train_envs: list[tuple[str, pd.Timestamp, pd.Timestamp]] = []
        self.train_calls: list[str] = []
        self.fail_on_call: int | None = None
        self.failures: dict[str, str] = {}
        self.done: list[str] = []

    def date_of(self, value: float) -> pd.Timestamp:
        (bar,) = np.flatnonzero(self.close == value)
        return self.index[bar]

    def install(self, mp: pytest.MonkeyPatch) -> None:
        spy = self
        real_run_unit, real_fit, real_learn = units.run_unit, RegimeDetector.fit, PPO.learn
        real_train, real_env_init = train_mod.train, TradingEnv.__init__

        def run_unit(unit, root):
            spy.unit = unit
            return real_run_unit(unit, root)

        def fit(self, close, vix=None):
            close = np.asarray(close)
            spy.fits.append((spy.unit.key, spy.in_training, spy.date_of(close[0]), spy.date_of(close[-1])))
            return real_fit(self, close, vix)

        def learn(self, *args, **kwargs):
            for start, stop in self.get_env().get_attr("window"):
                spy.learn_windows.append((spy.unit.key, spy.index[start], spy.index[stop - 1]))
            return real_learn(self, *args, **kwargs)

        def env_init(self, *args, **kwargs):
            real_env_init(self, *args, **kwargs)
            if spy.in_training:
                start, stop = self.window
                spy.train_envs.append((spy.unit.key, spy.index[start], spy.index[stop - 1]))

        def train(cfg, **kwargs):
            spy.train_calls.append(spy.unit.key)
            if spy.fail_on_call == len(spy.train_calls):
                raise RuntimeError("injected failure midway through the run")
            spy.in_training = True
            try:
                return real_train(cfg, **kwargs)
            finally:
                spy.in_training = False

        mp.setattr(units, "run_unit", run_unit)
        mp.setattr(RegimeDetector, "fit", fit)
        mp.setattr(PPO, "learn", learn)
        mp.setattr(TradingEnv, "__init__", env_init)
        mp.setattr(train_mod, "train", train)


def _invoke(tiny_config: Path, market_csv: Path, root: Path) -> list[dict]:
    """Three invocations of the same walk-forward command; what each returned, printed and the spies saw."""
    data = load(str(market_csv))
    argv = ["walk-forward", "--config", str(tiny_config), "--run", str(root), "--jobs", "1"]
    out = []
    for fail_on in (2, None, None):
        spy = Spy(np.asarray(data.close), data.index)
        spy.fail_on_call = fail_on
        buf = io.StringIO()
        with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buf):
            spy.install(mp)
            code = main(argv)
        units = root / "units"
        out.append(
            {
                "code": code,
                "out": buf.getvalue(),
                "train_calls": spy.train_calls,
                "fits": [(k, t, str(a.date()), str(b.date())) for k, t, a, b in spy.fits],
                "learn_windows": [(k, str(a.date()), str(b.date())) for k, a, b in spy.learn_windows],
                "train_envs": [(k, str(a.date()), str(b.date())) for k, a, b in spy.train_envs],
                "failures": json.loads((root / "failures.json").read_text()),
                "done": sorted(str(p.relative_to(units).with_suffix("")) for p in units.glob("*/*/*.json")),
            }
        )
    return out


@pytest.fixture(scope="module")
def runs(tiny_config, market_csv, shared) -> tuple[Path, list[dict]]:
    return shared("walkforward-cli", lambda root: _invoke(tiny_config, market_csv, root))


def _units(root: Path) -> dict[str, dict]:
    plan = json.loads((root / wf_plan.PLAN).read_text())
    return {u["key"]: u for u in plan["units"]}


def test_a_unit_raising_midway_is_reported_and_the_others_finish(runs):
    root, [first, *_] = runs
    units = _units(root)
    assert len(units) == 2 * 2 * 2  # 2 folds x 2 seeds x (tier1+2+3, baselines)
    assert first["code"] == 1
    failing = first["train_calls"][1]
    assert list(first["failures"]) == [failing] and "injected failure" in first["failures"][failing]
    assert first["done"] == sorted(k for k in units if k != failing)
    assert len(first["train_calls"]) == 4  # the PPO units after the failing one still trained
    assert "1 of 8 units failed" in first["out"] and "run the same command again" in first["out"]


def test_rerunning_finishes_only_the_failed_unit(runs):
    root, [first, second, _] = runs
    assert second["code"] == 0
    assert second["train_calls"] == [first["train_calls"][1]]
    assert "7 of 8 units already done: reused" in second["out"]
    assert second["failures"] == {} and second["done"] == sorted(_units(root))


def test_a_third_invocation_retrains_nothing(runs):
    _, [*_, third] = runs
    assert third["code"] == 0
    assert third["train_calls"] == [] and third["fits"] == [] and third["learn_windows"] == []
    assert "8 of 8 units already done: reused" in third["out"]
    assert "units/min" in third["out"] and "wall time" in third["out"]


def test_no_fitted_part_saw_its_folds_test_year(runs):
    root, invocations = runs
    units = _units(root)
    plan = json.loads((root / wf_plan.PLAN).read_text())
    folds = {f["test_year"]: {k: [pd.Timestamp(d) for d in w] for k, w in f.items() if k != "test_year"}
             for f in plan["folds"]}  # fmt: skip
    fits = [f for run in invocations for f in run["fits"]]
    learns = [x for run in invocations for x in run["learn_windows"]]
    envs = [x for run in invocations for x in run["train_envs"]]
    assert fits and learns and envs
    for key, in_training, _first, last in fits:
        fold = folds[units[key]["fold"]]
        assert pd.Timestamp(last) < fold["test"][0], (key, last)  # the test year's detector: bars before it only
        if in_training:  # the train and val split detectors: bars before the validation window
            assert pd.Timestamp(last) < fold["val"][0], (key, last)
    for key, first, last in learns:  # PPO's training envs: exactly the fold's training window
        fold = folds[units[key]["fold"]]
        assert fold["train"][0] <= pd.Timestamp(first) and pd.Timestamp(last) < fold["train"][1], (key, first, last)
    for key, _, last in envs:  # every env built during training (training and validation): before the test year
        assert pd.Timestamp(last) < folds[units[key]["fold"]]["test"][0], (key, last)
    seen = {(units[k]["fold"], units[k]["tier_set"]) for k, *_ in fits}
    assert {(y, t) for y in folds for t in ("tier1+2+3", "baselines")} <= seen


def test_the_results_page_holds_the_tier_set_the_baselines_and_the_promise(runs):
    root, _ = runs
    page = (root / "results.md").read_text()
    for name in (
        "tier1+2+3",
        "buy_and_hold_full",
        "buy_and_hold_cap",
        "ma_trend",
        "vol_target",
        "fixed_bracket",
        "random",
        "composite_score",
        "composite_fixed",
    ):
        assert f"| {name} | 4 |" in page, name  # 2 folds x 2 seeds
    assert "## Promised vs measured" in page and "| Sharpe | 0.8 |" in page and "1.5-2.0" in page
    assert "vs buy_and_hold_cap: concatenated" in page and "vs ma_trend: over folds" in page
    assert "## Per-regime breakdown" in page and "| 2004 | 2005 |" in page
    assert (root / "fold_sharpe.png").stat().st_size > 0 and (root / "oos_equity.png").stat().st_size > 0
    assert (root / "regime_sharpe.png").stat().st_size > 0 and "![Sharpe per regime](regime_sharpe.png)" in page


def test_each_unit_file_holds_metrics_bars_regimes_and_trials(runs):
    root, _ = runs
    key, unit = next((k, u) for k, u in _units(root).items() if u["tier_set"] == "tier1+2+3")
    payload = json.loads((root / "units" / f"{key}.json").read_text())
    pol = payload["policies"]["tier1+2+3"]
    assert len(pol["equity"]) == len(pol["dates"]) == len(payload["regimes"])
    assert pol["dates"][0] >= f"{unit['fold']}-01-01" and pol["dates"][-1] < f"{unit['fold'] + 1}-01-01"
    assert pol["trials"] >= 1 and "sharpe_annual" in pol["metrics"]
    assert set(payload["regimes"]) <= {"bull_momentum", "bear_defensive", "choppy", "crisis", "theme_driven"}
    assert not list((root / "units").rglob("*.tmp"))  # atomic writes leave no temporary file behind
