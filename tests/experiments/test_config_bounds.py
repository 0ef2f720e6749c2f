"""Every config key is checked when the config loads: a bad value is one line naming the key, exit 2, no run folder.

Also: YAML that PyYAML cannot build (an impossible date) is the window check's error, and the evaluation and
checkpoint frequencies follow the step budget unless set, with a warning line when no evaluation will run.
"""

from __future__ import annotations

import argparse

import pytest

from experiments.cli import main
from experiments.cli.run import checked_config
from experiments.config import ConfigError, config_keys, load_config

BAD: dict[str, tuple[str, str]] = {
    "name": ("a/b", "name='a/b' must be a folder name"),
    "seed": ("-1", "seed=-1 must be in [0, "),
    "runs_dir": ("<file>", "is a file, not a folder"),
    "n_trials": ("0", "n_trials=0 must be >= 1"),
    "data_sha256": ("abc", "changed since this config was written"),
    "algo": ("dqn", "algo='dqn' is not one of"),
    "algo_kwargs": ("{learning_startz: 5}", "algo_kwargs.learning_startz: ppo takes no such keyword"),
    "stack.data": ("sp501", "unknown dataset 'sp501'"),
    "stack.train": ("[2018-13-01,2019-01-01]", "stack.train=['2018-13-01', '2019-01-01']: '2018-13-01' is not a date"),
    "stack.val": ("[2015-01-01,2013-01-01]", "stack.val=['2015-01-01', '2013-01-01'] is empty or reversed"),
    "stack.test": ("[2015-01-01,2021-01-01]", "stack.test=['2015-01-01', '2021-01-01'] ends after the data"),
    "stack.episode_bars": ("1", "stack.episode_bars=1 must be >= 2"),
    "stack.min_trade": ("0", "stack.min_trade=0.0 must be in (0, max_position=0.2]"),
    "stack.max_hold": ("0", "stack.max_hold=0 must be an integer >= 1"),
    "stack.initial_equity": ("0", "stack.initial_equity=0.0 must be > 0"),
    "stack.costs.commission_bps": ("-1", "stack.costs.commission_bps=-1.0 must be in [0, 1000)"),
    "stack.costs.slippage_bps": ("1000", "stack.costs.slippage_bps=1000.0 must be in [0, 1000)"),
    "stack.limits.max_position": ("0", "stack.limits.max_position=0.0 must be in (0, 1]"),
    "stack.limits.max_gross": ("0.1", "stack.limits.max_gross=0.1 must be >= max_position=0.2"),
    "stack.limits.daily_loss": ("2", "stack.limits.daily_loss=2.0 must be in (0, 1]"),
    "stack.limits.max_drawdown": ("0.08", "max_drawdown=0.08 must rise in that order"),
    "stack.limits.reduce_drawdown": ("0.5", "reduce_drawdown=0.5 and max_drawdown=0.15 must rise in that order"),
    "stack.limits.reduce_sharpe": (".inf", "stack.limits.reduce_sharpe=inf must be a finite number"),
    "stack.limits.recover_drawdown": ("0.12", "stack.limits.recover_drawdown=0.12, reduce_drawdown=0.1"),
    "stack.limits.recover_sharpe": (".nan", "stack.limits.recover_sharpe=nan must be a finite number"),
    "stack.limits.reduce_scale": ("0", "stack.limits.reduce_scale=0.0 must be in (0, 1]"),
    "stack.limits.sharpe_window": ("1", "stack.limits.sharpe_window=1 must be >= 2"),
    "stack.limits.crisis_threshold": ("0", "stack.limits.crisis_threshold=0.0 must be in (0, 1]"),
    "stack.reward.kind": ("sharpe", "stack.reward.kind='sharpe' is not one of"),
    "stack.reward.scale": ("0", "stack.reward.scale=0.0 must be > 0"),
    "stack.reward.eta": ("1", "stack.reward.eta=1.0 must be in (0, 1)"),
    "stack.reward.warmup_bars": ("-1", "stack.reward.warmup_bars=-1 must be >= 0"),
    "stack.reward.var_floor": ("0", "stack.reward.var_floor=0.0 must be > 0"),
    "stack.reward.drawdown_penalty": ("-1", "stack.reward.drawdown_penalty=-1.0 must be >= 0"),
    "stack.reward.clip_penalty": ("-1", "stack.reward.clip_penalty=-1.0 must be >= 0"),
    "stack.reward.bar_cost": ("-1", "stack.reward.bar_cost=-1.0 must be >= 0"),
    "stack.tiers.tier1": ("maybe", "stack.tiers.tier1='maybe' must be true or false"),
    "stack.tiers.tier2": ("2", "stack.tiers.tier2=2 must be true or false"),
    "stack.tiers.tier1_gamma": ("1.5", "stack.tiers.tier1_gamma=1.5 must be in (0, 1]"),
    "stack.tiers.tier1_per_regime": ("yes please", "stack.tiers.tier1_per_regime='yes please' must be true or false"),
    "stack.tiers.tier1_learns_from": ("bars", "stack.tiers.tier1_learns_from='bars' is not one of"),
    "stack.tiers.tier1_horizon": ("0", "stack.tiers.tier1_horizon=0 must be an integer >= 1"),
    "stack.tiers.tier2_states": ("1", "stack.tiers.tier2_states=1 must be >= 2"),
    "stack.tiers.tier2_restarts": ("0", "stack.tiers.tier2_restarts=0 must be >= 1"),
    "stack.tiers.tier2_fit_bars": ("50", "stack.tiers.tier2_fit_bars=50 is too small"),
    "ppo.learning_rate": ("0", "ppo.learning_rate=0.0 must be > 0"),
    "ppo.n_steps": ("0", "ppo.n_steps=0 must be >= 1"),
    "ppo.batch_size": ("1", "ppo.batch_size=1 must be >= 2"),
    "ppo.n_epochs": ("0", "ppo.n_epochs=0 must be >= 1"),
    "ppo.gamma": ("1.5", "ppo.gamma=1.5 must be in [0, 1]"),
    "ppo.gae_lambda": ("2", "ppo.gae_lambda=2.0 must be in [0, 1]"),
    "ppo.full_info": ("-1", "ppo.full_info=-1.0 must be >= 0"),
    "ppo.full_info_epochs": ("0", "ppo.full_info_epochs=0 must be >= 1"),
    "ppo.tier1_gate": ("maybe", "ppo.tier1_gate='maybe' must be true or false"),
    "ppo.menu_head": ("tree", "ppo.menu_head='tree' must be one of ['free', 'factored', 'pooled']"),
    "ppo.inputs": ("[prices]", "ppo.inputs=['prices'] must list observation groups out of"),
    "stack.action": ("grid", "stack.action='grid' is not one of ['box', 'menu']"),
    "stack.menu.holds": ("[0, 5]", "stack.menu.holds=(0, 5) must be positive integers"),
    "stack.menu.brackets": ("[[0.1, 1.5]]", "stack.menu.brackets=((0.1, 1.5),) must be (stop, target) pairs"),
    "stack.menu.size": ("2", "stack.menu.size=2.0 must be in (0, 1]"),
    "ppo.clip_range": ("0", "ppo.clip_range=0.0 must be > 0"),
    "ppo.ent_coef": ("-0.1", "ppo.ent_coef=-0.1 must be >= 0"),
    "ppo.vf_coef": ("-1", "ppo.vf_coef=-1.0 must be >= 0"),
    "ppo.max_grad_norm": ("0", "ppo.max_grad_norm=0.0 must be > 0"),
    "ppo.net_arch": ("[64, 0]", "ppo.net_arch=[64, 0] must list layer sizes >= 1"),
    "ppo.log_std_init": ("5", "ppo.log_std_init=5.0 must be in [-20, 2]"),
    "train.total_timesteps": ("0", "train.total_timesteps=0 must be >= 1"),
    "train.n_envs": ("0", "train.n_envs=0 must be >= 1"),
    "train.eval_freq": ("-1", "train.eval_freq=-1 must be >= 0 steps (0 = never) or auto"),
    "train.checkpoint_freq": ("-1", "train.checkpoint_freq=-1 must be >= 0 steps (0 = never) or auto"),
    "train.normalize_obs": ("sometimes", "train.normalize_obs='sometimes' must be true or false"),
    "train.norm_clip_obs": ("0", "train.norm_clip_obs=0.0 must be > 0"),
    "train.vec_env": ("threads", "train.vec_env='threads' is not one of"),
    "train.select_by": ("luck", "train.select_by='luck' is not one of"),
    "train.torch_threads": ("0", "train.torch_threads=0 must be >= 1"),
    "train.init_from": ("nowhere", "train.init_from='nowhere' must be '<tier4 folder>:<specialist>'"),
}
"""A bad value of every config key and the part of its one-line error that names the key, the value and the rule."""


def test_every_config_key_has_a_checked_bound():
    """A key added without a bad value here (and so possibly without a check) fails this test."""
    assert sorted(BAD) == sorted(config_keys())


@pytest.mark.parametrize("key", sorted(BAD))
def test_a_bad_value_of_any_key_is_one_line_exit_2_and_no_run_folder(key, tmp_path, sp500, capsys):
    value, expect = BAD[key]
    runs = tmp_path / "runs"
    args = ["train", "--set", f"runs_dir={runs}"]
    if key == "runs_dir":
        value = str(tmp_path / "a_file")
        (tmp_path / "a_file").write_text("not a folder")
    if key == "data_sha256":  # only a data file has a hash to check
        sp500.to_frame().to_csv(tmp_path / "bars.csv")
        args += ["--data", str(tmp_path / "bars.csv")]
    if key != "train.total_timesteps":  # a missing check would train: tiny, so the test fails fast
        args += ["--timesteps", "64"]
    code = main([*args, "--set", f"{key}={value}"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("tradebrain train: error: ")
    assert expect in err
    assert not runs.exists()


def test_the_two_values_of_issue_27_say_what_is_wrong_and_the_right_fix(tmp_path, capsys):
    runs = f"runs_dir={tmp_path / 'runs'}"
    assert main(["quickstart", "--set", "stack.test=[2018-13-01,2019-01-01]", "--set", runs]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'2018-13-01' is not a date (month must be in 1..12" in err
    assert main(["quickstart", "--set", "stack.tiers.tier2_fit_bars=50", "--set", runs, "--timesteps", "64"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "raise it to 100 or more" in err and "lower" not in err
    assert not (tmp_path / "runs").exists()


def test_a_config_file_with_an_impossible_date_or_broken_yaml_is_one_line(tmp_path, capsys):
    path = tmp_path / "mine.yaml"
    path.write_text("stack:\n  val: [2013-02-30, 2015-01-01]\n")
    with pytest.raises(ConfigError, match=r"stack.val=\['2013-02-30', '2015-01-01'\]: '2013-02-30' is not a date"):
        load_config(path)
    path.write_text("train:\n  total_timesteps: 100\n   n_envs: 2\n")
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "is not valid YAML at line 3" in err and str(path) in err


def test_evaluations_and_checkpoints_follow_the_budget_unless_set():
    from experiments.config import config_warnings, evaluations_planned

    short = load_config("quickstart", ["train.total_timesteps=20000"])
    assert (short.train.eval_freq, short.train.checkpoint_freq) == (2000, 5000)
    assert evaluations_planned(short) == 10 and config_warnings(short) == []
    full = load_config("quickstart", ["train.total_timesteps=400000"])  # the numbers the preset used to write out
    assert (full.train.eval_freq, full.train.checkpoint_freq, evaluations_planned(full)) == (40_000, 100_000, 10)
    tiny = load_config("quickstart", ["train.total_timesteps=128", "train.n_envs=1", "ppo.n_steps=64"])
    assert evaluations_planned(tiny) >= 1
    fixed = load_config("quickstart", ["train.total_timesteps=20000", "train.eval_freq=40000"])
    assert evaluations_planned(fixed) == 0
    (line,) = config_warnings(fixed)
    assert line.startswith("train.eval_freq=40000 is above the step budget (train.total_timesteps=20000)")
    assert "train.eval_freq=auto" in line
    assert load_config("quickstart", ["train.eval_freq=auto", "train.total_timesteps=1e5"]).train.eval_freq == 10_000


def test_the_cli_prints_the_warning_as_one_line_before_training(capsys):
    args = argparse.Namespace(
        command="train", config="quickstart", data=None, windows=None, timesteps=20000, set=["train.eval_freq=0"]
    )
    cfg = checked_config(args)
    err = capsys.readouterr().err
    assert cfg.train.eval_freq == 0
    assert err.count("\n") == 1
    assert err.startswith("tradebrain train: warning: train.eval_freq=0: no evaluation on the validation window")
