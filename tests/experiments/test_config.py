from __future__ import annotations

import pytest
import yaml

from experiments.config import ConfigError, RunConfig, load_config, to_yaml


def test_unknown_key_suggests_the_nearest_valid_one():
    with pytest.raises(ConfigError, match=r"unknown config key 'ppo.learning_rat'; did you mean 'ppo.learning_rate'\?"):
        load_config({"ppo": {"learning_rat": 1e-4}})
    with pytest.raises(ConfigError, match=r"'stack.tiers.tier_1'; did you mean 'stack.tiers.tier1'\?"):
        load_config({"stack": {"tiers": {"tier_1": False}}})
    with pytest.raises(ConfigError, match=r"unknown config key 'trian'; did you mean 'train'\?"):
        load_config({"trian": {}})


def test_wrong_types_and_bad_values_name_the_key():
    with pytest.raises(ConfigError, match=r"train.n_envs='four' must be an integer"):
        load_config({"train": {"n_envs": "four"}})
    with pytest.raises(ConfigError, match=r"stack.train=.*must have 2 items"):
        load_config({"stack": {"train": ["2002-01-01"]}})
    with pytest.raises(ConfigError, match=r"max_position=1.5"):
        load_config({"stack": {"limits": {"max_position": 1.5}}})
    with pytest.raises(ConfigError, match=r"no config named 'quickstrat'; did you mean 'quickstart'"):
        load_config("quickstrat")


def test_quickstart_resolves_and_overrides_apply():
    cfg = load_config("quickstart", overrides=["ppo.learning_rate=1e-4", "stack.tiers.tier1=false", "seed=7"])
    assert isinstance(cfg, RunConfig) and cfg.name == "quickstart"
    assert cfg.ppo.learning_rate == 1e-4 and cfg.stack.tiers.tier1 is False and cfg.seed == 7
    assert cfg.stack.tiers.tier2 is True and cfg.stack.test == ("2015-01-01", "2019-01-01")
    with pytest.raises(ConfigError, match=r"key\.sub=value"):
        load_config("quickstart", overrides=["ppo.learning_rate"])


def test_resolved_yaml_loads_back_to_an_equal_config():
    cfg = load_config("quickstart", overrides=["ppo.net_arch=[32, 32]"])
    assert cfg.ppo.net_arch == (32, 32)
    assert load_config(yaml.safe_load(to_yaml(cfg))) == cfg


def _windows(**windows: list[str]) -> dict:
    return {"stack": {k: list(v) for k, v in windows.items()}}


@pytest.mark.parametrize(
    ("windows", "match"),
    [
        (
            {"val": ["2012-06-01", "2015-01-01"]},
            r"stack.train=\['2002-01-01', '2013-01-01'\] overlaps stack.val=\['2012-06-01', '2015-01-01'\].*"
            r"end stack.train on or before '2012-06-01'",
        ),
        (
            {"test": ["2014-01-01", "2019-01-01"]},
            r"stack.val=\['2013-01-01', '2015-01-01'\] overlaps stack.test=\['2014-01-01', '2019-01-01'\]",
        ),
        (
            {"train": ["2016-01-01", "2017-01-01"]},
            r"stack.train=\['2016-01-01', '2017-01-01'\] comes after stack.val=.*train < val < test",
        ),
        (
            {"test": ["2019-01-01", "2015-01-01"]},
            r"stack.test=\['2019-01-01', '2015-01-01'\] is empty or reversed.*"
            r"e.g. stack.test=\['2015-01-01', '2019-01-01'\]",
        ),
        ({"val": ["2013-01-01", "2013-01-01"]}, r"stack.val=\['2013-01-01', '2013-01-01'\] is empty or reversed"),
        (
            {"val": ["2015-13-01", "2016-01-01"]},
            r"stack.val=\['2015-13-01', '2016-01-01'\]: '2015-13-01' is not a date.*'YYYY-MM-DD'",
        ),
        ({"test": ["soon", "2019-01-01"]}, r"stack.test=\['soon', '2019-01-01'\]: 'soon' is not a date"),
        ({"test": ["2015-01-01", "now"]}, r"'now' is not a date"),
    ],
)
def test_bad_windows_name_the_key_the_value_and_the_fix(windows, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_windows(**windows))
    overrides = [f"stack.{k}={v!r}" for k, v in windows.items()]
    with pytest.raises(ConfigError, match=match):
        load_config("quickstart", overrides=overrides)


def test_windows_are_checked_when_a_run_config_is_built():
    from agents.config import StackConfig

    with pytest.raises(ConfigError, match=r"stack.val=.* overlaps stack.test="):
        RunConfig(stack=StackConfig(val=("2013-01-01", "2016-01-01")))
    with pytest.raises(ConfigError, match=r"n_trials=0 must be >= 1"):
        RunConfig(n_trials=0)


def test_touching_windows_and_unquoted_yaml_dates_are_fine():
    cfg = load_config(yaml.safe_load("stack: {train: [2002-01-01, 2013-01-01], val: [2013-01-01, 2015-01-01]}"))
    assert cfg.stack.train == ("2002-01-01", "2013-01-01") and cfg.stack.val == ("2013-01-01", "2015-01-01")


def test_every_bundled_config_loads():
    from experiments.config import CONFIG_DIR
    from experiments.training.meta import MetaTrainConfig, load_meta
    from experiments.walkforward.plan import load_walkforward

    names = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    assert {"quickstart", "planted_edge", "walkforward"} <= set(names)
    for name in names:
        text = (CONFIG_DIR / f"{name}.yaml").read_text()
        if "walkforward:" in text:
            assert isinstance(load_walkforward(name)[1], RunConfig)  # a walk-forward section plus a run config
        elif "\nmeta:" in text:
            mc, cfg = load_meta(name)  # tradebrain meta-train's config: a meta section plus a run config
            assert isinstance(mc, MetaTrainConfig) and isinstance(cfg, RunConfig)
        else:
            assert isinstance(load_config(name), RunConfig)


def test_a_config_of_another_command_is_refused_with_the_command_to_use(capsys):
    from experiments.cli import main

    assert main(["train", "--config", "meta"]) == 2
    assert "it is for `tradebrain meta-train --config ...`" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"walkforward: section, so it is for `tradebrain walk-forward"):
        load_config("walkforward")
