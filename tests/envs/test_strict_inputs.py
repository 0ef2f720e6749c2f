"""Strict inputs: a bad argument raises at once, naming the argument, the value and the fix."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import flat_then

from envs.data import DataError
from envs.reward import RewardConfig
from envs.risk import RiskLimits
from envs.trading_env import Costs, TradingEnv

QUICKSTART = Path(__file__).resolve().parents[2] / "experiments" / "config" / "presets" / "quickstart.yaml"


@pytest.fixture(scope="module")
def env() -> TradingEnv:
    e = TradingEnv(flat_then([(100.0, 100.5, 99.5, 100.0)] * 40), window=(129, None))
    e.reset(seed=0)
    return e


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("where", [0, 3])
def test_non_finite_actions_raise_instead_of_being_clipped(env, bad, where):
    action = np.zeros(4, dtype=np.float32)
    action[where] = bad
    with pytest.raises(ValueError, match=r"action=\[.*(inf|nan).*non-finite.*check the policy"):
        env.step(action)
    with pytest.raises(ValueError, match="non-finite"):
        env.step([0.0, 0.0, 0.0, float(bad)])
    assert env.bar == 129  # nothing happened


@pytest.mark.parametrize("action", [0.5, np.float32(0.5), None, "abcd", {"size": 1.0}])
def test_an_action_that_is_not_an_array_is_a_type_error(env, action):
    with pytest.raises(TypeError, match=r"action=.* expected an array of shape \(4,\)"):
        env.step(action)


@pytest.mark.parametrize("action", [np.array(0.5), np.zeros(3), np.zeros(5), np.zeros((2, 2)), np.zeros((1, 4))])
def test_an_action_of_another_shape_names_its_shape(env, action):
    with pytest.raises(ValueError, match=rf"action has shape {re_shape(action.shape)}; expected \(4,\)"):
        env.step(action)


def re_shape(shape: tuple[int, ...]) -> str:
    return str(shape).replace("(", r"\(").replace(")", r"\)")


def test_action_lists_of_the_wrong_length_or_kind(env):
    with pytest.raises(ValueError, match=r"has 3 values; expected 4"):
        env.step([0.0, 0.0, 0.0])
    with pytest.raises(TypeError, match="real numbers"):
        env.step(["a", 0.0, 0.0, 0.0])
    with pytest.raises(TypeError, match="dtype <U1"):
        env.step(np.array(["a", "b", "c", "d"]))


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    ("cls", "name"),
    [(RiskLimits, n) for n in _fields(RiskLimits)]
    + [(RewardConfig, n) for n in _fields(RewardConfig)]
    + [(Costs, n) for n in _fields(Costs)],
)
def test_every_config_field_rejects_nan_and_inf(cls, name, value):
    default = getattr(cls, name)
    with pytest.raises((ValueError, TypeError), match=rf"{cls.__name__}\.{name}={value!r}.*e\.g\. {default!r}"):
        cls(**{name: value})


@pytest.mark.parametrize(
    ("cls", "kwargs", "error"),
    [
        (RiskLimits, {"max_gross": "1.0"}, TypeError),
        (RiskLimits, {"sharpe_window": 60.5}, TypeError),
        (RiskLimits, {"max_gross": True}, TypeError),
        (RewardConfig, {"warmup_bars": 2.5}, TypeError),
        (Costs, {"slippage_bps": "2"}, TypeError),
        (RewardConfig, {"drawdown_penalty": -1.0}, ValueError),
    ],
)
def test_config_fields_of_the_wrong_kind(cls, kwargs, error):
    ((name, value),) = kwargs.items()
    with pytest.raises(error, match=rf"{cls.__name__}\.{name}={value!r}"):
        cls(**kwargs)


@pytest.mark.parametrize("value", [math.nan, 0.0, -0.1, 1.5, math.inf])
def test_crisis_threshold_must_be_in_0_1(value):
    with pytest.raises(ValueError, match=rf"RiskLimits\.crisis_threshold={value!r} must be .*e\.g\. 0\.5"):
        RiskLimits(crisis_threshold=value)
    assert RiskLimits(crisis_threshold=1.0).crisis_threshold == 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"initial_equity": math.nan}, ValueError, r"initial_equity=nan must be a finite number, e\.g\. 100000\.0"),
        ({"initial_equity": math.inf}, ValueError, r"initial_equity=inf must be a finite number"),
        ({"initial_equity": -5.0}, ValueError, r"initial_equity=-5\.0 must be > 0"),
        ({"min_trade": math.nan}, ValueError, r"min_trade=nan"),
        ({"exposure_elsewhere": math.nan}, ValueError, r"exposure_elsewhere=nan"),
        ({"win_rate_window": 2.5}, TypeError, r"win_rate_window=2\.5 is a float; pass an integer"),
        ({"episode_bars": math.nan}, TypeError, r"episode_bars=nan is a float; pass an integer"),
        ({"limits": {"max_position": 0.1}}, TypeError, r"limits=\{.*\} is a dict; pass a RiskLimits"),
        ({"costs": (1.0, 2.0)}, TypeError, r"costs=\(1\.0, 2\.0\) is a tuple; pass a Costs"),
    ],
)
def test_env_numbers_and_configs_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        TradingEnv(flat_then([(100.0, 100.5, 99.5, 100.0)] * 40), window=(129, None), **kwargs)


def test_integer_window_end_past_the_data_is_an_error(sp500):
    n = len(sp500)
    assert TradingEnv(sp500, window=(n - 300, n)).window == (n - 300, n)
    with pytest.raises(DataError, match=rf"window end {n + 1} is past the data: .*2018-12-31.*use an end <= {n}"):
        TradingEnv(sp500, window=(n - 300, n + 1))


def test_date_window_end_at_most_one_business_day_after_the_last_bar(sp500):
    assert str(sp500.index[-1].date()) == "2018-12-31"  # a Monday
    env = TradingEnv(sp500, window=("2018-01-02", "2019-01-01"))  # exclusive end: the day after the last bar
    assert env.window[1] == len(sp500)
    env.reset()
    _, _, _, trunc, _ = env.step(np.zeros(4, dtype=np.float32))
    assert not trunc
    with pytest.raises(DataError, match=r"window end 2019-01-02 is past the data: .*ends on 2018-12-31.*2019-01-01"):
        TradingEnv(sp500, window=("2018-01-02", "2019-01-02"))


def test_date_window_end_after_a_friday_may_be_the_next_monday():
    data = flat_then([(100.0, 100.5, 99.5, 100.0)] * 40)
    last = data.index[-1]
    friday_end = data.slice(0, len(data) - int((last.day_of_week - 4) % 5))
    last = friday_end.index[-1]
    assert last.day_name() == "Friday"
    monday = (last + pd.Timedelta(days=3)).date().isoformat()
    assert TradingEnv(friday_end, window=(129, monday)).window[1] == len(friday_end)
    tuesday = (last + pd.Timedelta(days=4)).date().isoformat()
    with pytest.raises(DataError, match=rf"window end {tuesday} is past the data.*on or before {monday}"):
        TradingEnv(friday_end, window=(129, tuesday))


def test_quickstart_windows_still_work(sp500):
    splits = yaml.safe_load(QUICKSTART.read_text())["stack"]
    for split in ("train", "val", "test"):
        env = TradingEnv(sp500, window=tuple(splits[split]))
        assert env.window[1] - env.window[0] > 400
    assert env.window[1] == len(sp500)  # the test window runs to the end of the data


@pytest.mark.parametrize(("key", "hint"), [("strat", "did you mean 'start'"), ("Start", "did you mean 'start'")])
def test_reset_rejects_an_unknown_option_and_suggests_the_nearest(env, key, hint):
    with pytest.raises(ValueError, match=rf"unknown key '{key}'; {hint}\? valid keys: 'start'"):
        env.reset(options={key: 130})
    with pytest.raises(ValueError, match=r"unknown key 'seed'; valid keys: 'start'"):
        env.reset(options={"seed": 1})
    with pytest.raises(TypeError, match=r"options\['start'\]=130\.5 is a float; pass an integer"):
        env.reset(options={"start": 130.5})
    assert env.reset(options={"start": 130})[1]["bar"] == 130
