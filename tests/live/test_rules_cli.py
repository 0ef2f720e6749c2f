"""The command path to a tier4_rules bundle: `tradebrain meta-train` fits the rule adapter, `tradebrain export --tier4
rules` bundles it, `tradebrain paper` replays it as the backtest's RuleAdapterPolicy trades."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments.cli import main
from meta.rule_adapter import RuleAdapter

from .conftest import TINY
from .test_rule_adapter_parity import assert_paper_replays_backtest

RULES = ["meta.rule_tasks=4", "meta.rule_bars=300"]
"""A prior fitted in about a second (the default: 64 tasks of 1,500 bars)."""


def _sets(overrides: list[str]) -> list[str]:
    return [x for s in overrides for x in ("--set", s)]


@pytest.fixture(scope="module")
def rules_run(tmp_path_factory) -> Path:
    """A run folder with config.yaml and rule_adapter.json, written by `tradebrain meta-train --rules-only`."""
    run = tmp_path_factory.mktemp("rules") / "meta"
    assert main(["meta-train", "--rules-only", "--run", str(run), *_sets([*TINY[:6], *RULES])]) == 0
    return run


def test_meta_train_rules_only_fits_the_benchmark_default(rules_run, capsys):
    from experiments.training.meta import load_meta, rule_env_kwargs
    from meta.rule_prior import fit_synthetic

    adapter = RuleAdapter.from_json(json.loads((rules_run / "rule_adapter.json").read_text()))
    assert (adapter.dense, adapter.posterior.lcb, len(adapter.rules)) == (True, 1.0, 51)
    mc, cfg = load_meta(rules_run / "config.yaml")  # the config the run was fitted with
    assert (mc.rule_tasks, mc.rule_bars, cfg.stack.train[0]) == (4, 300, "2005-01-01")
    again = fit_synthetic(4, 300, cfg.seed, **rule_env_kwargs(cfg))  # the same function, the same seed
    np.testing.assert_array_equal(again.prior.mean, adapter.prior.mean)
    # a second call on the run keeps its config.yaml and writes the same file
    before = (rules_run / "config.yaml").read_text()
    assert main(["meta-train", "--rules-only", "--run", str(rules_run)]) == 0
    out = capsys.readouterr().out
    assert "posterior_dense_t16_lcb prior from 4 synthetic training tasks of 300 bars" in out
    assert f"tradebrain export --run {rules_run} --tier4 rules" in out
    assert (rules_run / "config.yaml").read_text() == before
    assert RuleAdapter.from_json(json.loads((rules_run / "rule_adapter.json").read_text())).to_json() == (
        adapter.to_json()
    )


def test_export_tier4_rules_then_paper_replays_the_backtest(rules_run, tmp_path, capsys):
    from experiments.live.bundle import read_bundle
    from experiments.training.meta import load_meta

    out = tmp_path / "bundle-rules"
    assert main(["export", "--run", str(rules_run), "--tier4", "rules", "--out", str(out)]) == 0
    assert "tier4_rules (51 menu rules" in capsys.readouterr().out
    spec = read_bundle(out)
    adapter = RuleAdapter.from_json(json.loads((rules_run / "rule_adapter.json").read_text()))
    assert spec["policy"]["kind"] == "tier4_rules" and spec["meta"]["rule_adapter"] == adapter.to_json()
    _, cfg = load_meta(rules_run / "config.yaml")
    assert spec["warmup"]["start"] == "2007-07-02"  # the run's test window start (2007-07-01 is a Sunday)
    trades = assert_paper_replays_backtest(out, adapter, cfg.stack.data, "2008-01-01")  # about 125 bars
    assert len(trades) >= 3
    assert main(["paper", "--bundle", str(out), "--data", "sp500", "--end", "2008-01-01"]) == 0
    assert "paper run  :" in capsys.readouterr().out


def test_export_tier4_rules_without_the_file_names_the_fix(rules_run, tmp_path, capsys):
    run = tmp_path / "old"
    run.mkdir()
    (run / "config.yaml").write_text((rules_run / "config.yaml").read_text())
    assert main(["export", "--run", str(run), "--tier4", "rules"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no rule_adapter.json" in err
    assert f"tradebrain meta-train --rules-only --run {run}" in err
    (run / "rule_adapter.json").write_text('{"format_version": 9}')
    assert main(["export", "--run", str(run), "--tier4", "rules"]) == 2
    assert "format_version 9" in capsys.readouterr().err


def test_rule_settings_are_checked_when_the_config_loads() -> None:
    from experiments.config import ConfigError
    from experiments.training.meta import load_meta

    with pytest.raises(ConfigError, match=r"meta.rule_tasks=1 must be an integer >= 2; e.g. meta.rule_tasks=64"):
        load_meta("meta", ["meta.rule_tasks=1"])
    mc, _ = load_meta("meta", ["meta.rule_adapter=false"])
    assert (mc.rule_adapter, mc.rule_tasks, mc.rule_bars) == (False, 64, 1500)
