from __future__ import annotations

import pytest
import yaml

from experiments.config import ConfigError, RunConfig, load_config, to_yaml


def test_unknown_key_suggests_the_nearest_valid_one():
    with pytest.raises(ConfigError, match=r"unknown config key 'ppo.learning_rat'; did you mean 'learning_rate'\?"):
        load_config({"ppo": {"learning_rat": 1e-4}})
    with pytest.raises(ConfigError, match=r"'stack.tiers.tier_1'; did you mean 'tier1'\?"):
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
