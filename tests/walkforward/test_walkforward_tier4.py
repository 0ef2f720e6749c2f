"""The tier set ``all``: the Tier 1+2 stack traded by Tier 4's online rule adapter (its prior fitted once per seed on
synthetic tasks, cached under the run's ``tier4/``), causal on the fold's data; ``all_maml`` keeps the old Tier 4."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from agents.stack import fit_detector, make_env
from envs.data import MarketData, load
from envs.registration import ENV_ID, STACK_ENV_ID
from envs.synthetic import SyntheticMarket
from experiments.config import ConfigError, to_yaml
from experiments.evaluation.backtest import run_backtest
from experiments.files import package_version
from experiments.training.meta import MetaTrainConfig, rule_env_kwargs
from experiments.walkforward.plan import ABLATION, TIER_SETS, load_walkforward, plan_units
from experiments.walkforward.units import HISTORY_BARS, run_unit
from meta.rule_adapter import RuleAdapter, RuleAdapterPolicy


def _changed_after(data: MarketData, cut: int) -> MarketData:
    """``data`` with every bar from ``cut`` on replaced by another market's (prices rescaled to join at ``cut``)."""
    frame = data.to_frame()
    other = SyntheticMarket.three_regime(student_df=5.0).generate(n_bars=len(frame), seed=99).data.to_frame()
    other.index = frame.index
    tail = other.iloc[cut:].copy()
    scale = frame["close"].iloc[cut - 1] / other["close"].iloc[cut - 1]
    for col in ("open", "high", "low", "close"):
        tail[col] *= scale
    return MarketData.from_frame(pd.concat([frame.iloc[:cut], tail]), name="changed")


def test_all_units_trade_the_rule_adapter_fitted_once_per_seed_and_causally(tiny_config, tmp_path, monkeypatch):
    import meta.rule_prior

    calls, real = [], meta.rule_prior.fit_synthetic

    def spy(n_tasks, n_bars, seed, **env_kwargs):  # type: ignore[no-untyped-def]
        calls.append((n_tasks, n_bars, seed, env_kwargs))
        return real(n_tasks, n_bars, seed, **env_kwargs)

    monkeypatch.setattr(meta.rule_prior, "fit_synthetic", spy)
    wf, cfg = load_walkforward(
        tiny_config, ["walkforward.tier_sets=[all]", "walkforward.seeds=[0]", "walkforward.baselines=false"]
    )
    units = plan_units(wf, cfg)
    assert [(u.fold.test_year, u.tier_set, u.rules) for u in units] == [(y, "all", (4, 300)) for y in (2004, 2005)]
    payloads = [run_unit(u, tmp_path) for u in units]
    assert len(calls) == 1 and calls[0][:3] == (4, 300, 0)  # fitted once for the seed, read by the other fold
    assert calls[0][3] == rule_env_kwargs(units[0].config())  # with the fold's costs, limits, action map, min_trade
    (prior,) = (tmp_path / "tier4").iterdir()
    assert prior.name.startswith("rules-seed0-") and prior.suffix == ".json"
    for payload in payloads:
        info = json.loads((tmp_path / "units" / payload["key"] / "backtest" / "all" / "metrics.json").read_text())
        choices = info["run_info"]["rule_choices"]
        assert info["name"] == "all" and len(choices) >= 10
        assert payload["policies"]["all"]["rules"] == dict(Counter(name for _, name, _ in choices))

    # The unit's backtest is RuleAdapterPolicy with the cached prior on the fold's Tier 1+2 test env, and its choice
    # at a bar uses no bar after it: every bar after `cut` replaced, the choices before `cut` stay.
    unit, payload = units[0], payloads[0]
    info = json.loads((tmp_path / "units" / payload["key"] / "backtest" / "all" / "metrics.json").read_text())
    stack = unit.config().stack
    data = load(stack.data)
    detector = fit_detector(stack, data, "test")
    adapter = RuleAdapter.from_json(json.loads(prior.read_text()))

    def replay(market: MarketData) -> tuple[list[list], np.ndarray, int]:
        env = make_env(stack, "test", data=market, detector=detector)
        policy = RuleAdapterPolicy(adapter, env, HISTORY_BARS)
        equity = run_backtest(env, policy).equity.to_numpy()
        return [list(c) for c in policy.choices], equity, env.unwrapped.window[0]

    choices, equity, lo = replay(data)
    assert choices == info["run_info"]["rule_choices"]
    np.testing.assert_allclose(equity, payload["policies"]["all"]["equity"], rtol=1e-12)
    assert lo >= HISTORY_BARS  # the first decision has its full history: bars before the test year
    cut = lo + 120
    changed, _, _ = replay(_changed_after(data, cut))
    before = [c for c in info["run_info"]["rule_choices"] if c[0] < cut]
    assert before and [c for c in changed if c[0] < cut] == before
    assert changed != info["run_info"]["rule_choices"]  # the test can see a leak: later choices do depend on the tail


def test_all_is_the_rule_adapter_and_never_reads_a_unit_of_the_old_all():
    wf, cfg = load_walkforward(
        "walkforward", ["walkforward.tier_sets=[all, all_maml, rules]", "walkforward.seeds=[0]",
                        "walkforward.last_test_year=2007"],
    )  # fmt: skip
    new, maml, rules, _ = plan_units(wf, cfg)
    assert (new.tier_set, maml.tier_set, rules.tier_set) == ("all", "all_maml", "rules")
    assert TIER_SETS["all"].tier4 == "rules" and TIER_SETS["all_maml"].tier4 == "maml" and not TIER_SETS["rules"].tier4
    meta_defaults = MetaTrainConfig()
    assert new.rules == (meta_defaults.rule_tasks, meta_defaults.rule_bars) == (64, 1500)
    assert "all" in ABLATION and "all_maml" not in ABLATION

    def previous_key(unit, extra):  # type: ignore[no-untyped-def]
        """The key as the release before the rule adapter computed it (``extra``: the MAML settings of ``all``)."""
        text = (
            f"{to_yaml(replace(unit.config(), name='', runs_dir=''))}|{unit.tier_set}|{unit.n_boot}{extra}"
            f"|{ENV_ID}|{STACK_ENV_ID}|tradebrain {package_version()}"
        )
        return f"2007/{unit.tier_set}/seed0-{hashlib.sha256(text.encode()).hexdigest()[:10]}"

    assert new.key != previous_key(new, f"|{new.meta}")  # the new `all` never reads an old `all` unit
    assert rules.key == previous_key(rules, "")  # other tier sets keep their keys: old run folders are reused
    assert replace(new, rules=(32, 1500)).key != new.key and replace(new, meta=(50, 120)).key == new.key
    assert replace(maml, meta=(50, 120)).key != maml.key


def test_history_bars_are_the_live_brains_and_bad_rule_settings_are_config_errors():
    from experiments.live.export import HISTORY_BARS as LIVE_HISTORY_BARS

    assert HISTORY_BARS == LIVE_HISTORY_BARS
    with pytest.raises(ConfigError, match=r"walkforward.rule_tasks=1 must be an integer >= 2"):
        load_walkforward("walkforward", ["walkforward.rule_tasks=1"])
    with pytest.raises(ConfigError, match=r"walkforward.rule_bars=100 must be an integer >= 300"):
        load_walkforward("walkforward", ["walkforward.rule_bars=100"])


def test_the_results_page_names_the_rules_tier4_traded_and_what_each_tier_set_meant():
    from experiments.walkforward.results import Record, rule_table, tier_set_descriptions

    def rec(fold: int, rules: dict[str, int] | None) -> Record:
        return Record("all", fold, 0, {}, np.zeros(3), [], 1, rules)

    records = {"all": [rec(2017, {"flat": 6, "trend/h10": 2}), rec(2018, {"flat": 2})], "rules": [rec(2017, None)]}
    table = rule_table(records)
    assert len(table) == 3 and table[2] == "| all | 10 | 2 | flat 80%, trend/h10 20% |"  # `rules` has no choices
    assert rule_table({"rules": [rec(2017, None)]}) == []
    plan = {"walkforward": {"tier_sets": ["all", "rules"]}}
    old = tier_set_descriptions(plan)  # a plan from before the rule adapter: its `all` was the MAML specialists
    assert "now `all_maml`" in old["all"] and old["rules"] == TIER_SETS["rules"].description
    assert tier_set_descriptions({**plan, "tier_sets": {"all": "x"}}) == {"all": "x"}


def test_all_past_fits_tier4s_prior_on_the_folds_past_only(tiny_config, tmp_path, monkeypatch):
    import meta.rule_prior

    seen = []
    real = meta.rule_prior.fit_past

    def spy(data, segment_bars, **env_kwargs):  # type: ignore[no-untyped-def]
        seen.append((data.index[0], data.index[-1], segment_bars))
        return real(data, 60, **env_kwargs)  # the tiny fold's past holds too few years for 252-bar tasks

    monkeypatch.setattr(meta.rule_prior, "fit_past", spy)
    wf, cfg = load_walkforward(
        tiny_config, ["walkforward.tier_sets=[all_past]", "walkforward.seeds=[0]", "walkforward.baselines=false"]
    )
    assert "all_past" in TIER_SETS and "all_past" not in ABLATION
    units = plan_units(wf, cfg)
    payloads = [run_unit(u, tmp_path) for u in units]
    assert len(seen) == len(units) == 2 and not (tmp_path / "tier4").exists()  # fitted per unit, nothing cached
    for unit, (first, last, _), payload in zip(units, seen, payloads, strict=True):
        fold_cfg = unit.config()
        assert first >= pd.Timestamp(fold_cfg.stack.train[0])  # from the fold's training window on
        assert last < pd.Timestamp(fold_cfg.stack.test[0])  # and nothing of its test window
        assert sum(payload["policies"]["all_past"]["rules"].values()) > 0  # decisions of the adapter


def test_fit_past_scores_each_segment_of_the_past_and_refuses_too_little():
    from meta.fullinfo import menu_rules
    from meta.rule_prior import fit_past

    data = SyntheticMarket.three_regime(student_df=5.0).generate(n_bars=700, seed=3).data
    adapter = fit_past(data, 120)
    prior = adapter.to_json()["prior"]
    assert len(prior["mean"]) == len(menu_rules()) and np.all(np.isfinite(prior["mean"]))
    assert prior["var"][0] == 0 and np.all(np.asarray(prior["var"][1:]) > 0)  # flat earns 0 in every segment
    with pytest.raises(ValueError, match="fewer than two segments of 400"):
        fit_past(data, 400)
    with pytest.raises(ValueError, match="segment_bars=5 must be an integer >= 20"):
        fit_past(data, 5)
