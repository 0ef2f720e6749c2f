"""``tradebrain tune`` on a walk-forward config: validation windows before the first test year only, and a best
config that ``walk-forward`` / ``ablate`` load with the same ``walkforward:`` section (issue 8)."""

from __future__ import annotations

import pandas as pd
import yaml

from experiments.cli import main
from experiments.config import load_config
from experiments.walkforward.plan import load_walkforward, make_folds


def test_a_walkforward_config_is_tuned_before_its_first_test_year_and_its_best_config_runs_walkforward(
    tiny_config, tmp_path, capsys
):
    import optuna

    out = tmp_path / "tune"
    args = ["tune", "--config", str(tiny_config), "--trials", "2", "--folds", "2", "--out", str(out)]
    assert main(args) == 0
    wf, base = load_walkforward(tiny_config)
    first_test = pd.Timestamp(f"{wf.first_test_year}-01-01")
    folds = sorted((out / "trials").glob("*/fold*"))
    assert folds, "no trial trained a fold"
    for fold in folds:  # no fold of the study reached a test year of the walk-forward
        cfg = load_config(fold / "config.yaml")
        assert pd.Timestamp(cfg.stack.val[1]) <= first_test, (fold, cfg.stack.val)
        assert pd.Timestamp(cfg.stack.train[1]) == pd.Timestamp(cfg.stack.val[0])
    vals = {load_config(f / "config.yaml").stack.val for f in folds if f.name == "fold0"}
    assert vals == {(f"{wf.first_test_year - wf.val_years}-01-01", f"{wf.first_test_year}-01-01")}

    study = optuna.load_study(study_name="tradebrain-wf", storage=f"sqlite:///{(out / 'study.db').resolve()}")
    best_wf, best = load_walkforward(out / "best-walkforward.yaml")
    assert best_wf == wf  # the same folds, seeds and tier sets as the config that was tuned
    assert best.ppo.learning_rate == study.best_trial.params["ppo.learning_rate"]
    assert best.stack.reward.kind == study.best_trial.params["stack.reward.kind"]
    assert best.stack.data == base.stack.data
    assert [f.test_year for f in make_folds(best_wf, best)] == [2004, 2005]
    tree = yaml.safe_load((out / "best.yaml").read_text())
    assert "walkforward" not in tree and load_config(out / "best.yaml").ppo == best.ppo  # `train` takes best.yaml
    assert "best-walkforward.yaml" in capsys.readouterr().out
